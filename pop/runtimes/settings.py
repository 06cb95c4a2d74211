"""Runtime options checked before anything is stored: a typo on the command line is exit 2.

Layer: runtimes. Called by the services that build a run's launchers (``check_names`` in
:mod:`pop.services.launchers`) before an agenda is stored or a resume changes it. Only mistakes
the user typed are refused here (``--kubeconfig /nope``, ``--context nope``); a runtime that is
out of reach (no engine, an environment pointing nowhere) is the launcher's RuntimeUnavailableError
later, after the agenda is stored WAITING, so ``run-local --resume`` can run it once it is back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pop.errors import RuntimeUnavailableError


def check_runtime_settings(name: str, options: Mapping[str, Any]) -> None:
    """InputError for runtime ``options`` that cannot mean anything for runtime ``name``."""
    if name == "kubernetes":
        from pop.runtimes.kubernetes.config import resolve_target

        try:
            resolve_target(options)
        except RuntimeUnavailableError:
            return  # out of reach, not mistyped: the launcher says so once the agenda is stored
