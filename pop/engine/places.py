"""Where an agenda's files are: its work directory and each attempt's own folder.

Layer: engine, standard library only (strings, not ``pathlib``): ``pop status`` and
``pop outputs`` find outputs with it before anything else loads; the launch code
(:mod:`pop.engine.launching`) wraps the same answers in ``Path``.
"""

from __future__ import annotations

import os

from pop.runtimes.names import file_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def work_dir_of(agenda_id: str, params: Mapping[str, Any] | None, work_root: str) -> str:
    """The agenda's work directory: its ``params.workDir``, else ``<work_root>/<agenda id>``."""
    given = (params or {}).get("workDir")
    return str(given) if given else os.path.join(str(work_root), agenda_id)


def op_folder_of(work_dir: str, operation_name: str, attempt: int) -> str:
    """One attempt's own folder inside the work directory (``POP_OP_DIR``): the op's name when
    it is a safe file name, else ``<slug>-<6 hex>`` (:func:`pop.runtimes.names.file_name`)."""
    return os.path.join(work_dir, file_name(operation_name), str(attempt))
