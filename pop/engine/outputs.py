"""Where an agenda's outputs are: each op's folder and the files its result names.

Layer: engine. ``pop outputs``, the human ``status`` / ``run-local`` / ``batch`` views and
``batch --json`` ask :func:`agenda_outputs`. An op's *main files* are the files its result
payload names (renditions, playlists, thumbnails, sprites, indexes) that exist inside the
agenda's work directory (inputs the result quotes, such as a probed source, are not outputs);
each comes with the JSON pointer where the result names it, so machines can tell a master
playlist from a variant. An op whose result names no file shows its folder when the folder
holds files.
"""

from __future__ import annotations

import os

from pop.engine.places import op_folder_of, work_dir_of
from pop.records import Record

TYPE_CHECKING = False  # standard library only at run time: `pop status` lists outputs fast
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from pop.models.views import AgendaProgressLike, OperationProgressLike
    from pop.store.agendas import AgendaStore
    from pop.store.attempts import AttemptStore


class OutputFile(Record):
    """One file an op's result names: its path, size and the JSON pointer naming it."""

    __slots__ = ("path", "pointer", "size")

    def __init__(self, path: str, size: int, pointer: str) -> None:
        self.path = path
        self.size = size
        self.pointer = pointer  # where the op's result names it, e.g. /hls/master

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "pointer": self.pointer}


class OperationOutputs(Record):
    """One op's outputs: its state word, its folder (when it holds files) and its files."""

    __slots__ = ("files", "folder", "operation", "state")

    def __init__(
        self,
        operation: str,
        state: str,
        folder: str | None,
        files: list[OutputFile] | None = None,
    ) -> None:
        self.operation = operation
        self.state = state
        self.folder = folder
        self.files: list[OutputFile] = [] if files is None else files

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "state": self.state,
            "folder": self.folder,
            "files": [item.to_json() for item in self.files],
        }

    __hash__ = None  # type: ignore[assignment]  # its files list is mutable


def _strings(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value with its RFC 6901 pointer."""
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, dict):
        for key, item in value.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from _strings(item, f"{pointer}/{escaped}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{pointer}/{index}")


def _clean(path: str) -> str:
    """``path`` as ``pathlib`` spells it: repeated slashes and ``.`` parts dropped, no
    trailing slash (``..`` kept, as pathlib keeps it)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    root = "/" if path.startswith("/") else ""
    return root + "/".join(parts) or "."


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it, part by part (``pathlib``'s ``relative_to``)."""
    if folder == "/":
        return path.startswith("/")
    return path == folder or path.startswith(folder + "/")


def _state_word(operation: OperationProgressLike) -> str:
    state = getattr(operation.processing_state, "value", operation.processing_state) or ""
    if state == "COMPLETE":
        return (operation.processing_state_message or "").lower() or "complete"
    return str(state).lower()


def _holds_files(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def operation_outputs(
    operation: OperationProgressLike, work_dir: str, attempt: int | None
) -> OperationOutputs:
    """The outputs of one op whose last attempt was ``attempt`` (None: never ran)."""
    name = operation.operation or ""
    work_dir = _clean(str(work_dir))
    folder = _clean(op_folder_of(work_dir, name, attempt)) if attempt else None
    result = operation.result_payload
    files: list[OutputFile] = []
    seen: set[str] = set()
    for pointer, text in _strings(result):
        if not text or "\n" in text or len(text) > 4096:
            continue
        if text.startswith("/"):
            candidate = _clean(text)
        elif folder is None:
            continue
        else:
            candidate = _clean(f"{folder}/{text}")
        if candidate in seen or not _inside(candidate, work_dir):
            continue
        try:
            if not os.path.isfile(candidate):
                continue
            size = os.stat(candidate).st_size
        except (OSError, ValueError):  # ValueError: a NUL byte in the text
            continue
        seen.add(candidate)
        files.append(OutputFile(candidate, size, pointer))
    shown = folder if folder is not None and _holds_files(folder) else None
    return OperationOutputs(name, _state_word(operation), shown, files)


def agenda_outputs(
    agendas: AgendaStore,
    attempts: AttemptStore,
    work_root: str,
    progress: AgendaProgressLike,
    operation: str | None = None,
) -> list[OperationOutputs]:
    """Each op's outputs (only ``operation``'s when given), in agenda order; the agenda's
    document and attempts are read from ``agendas`` and ``attempts`` (``store.agendas``,
    ``store.attempts``), its work directory is under ``work_root`` (``settings.work_root``)."""
    agenda_id = progress.agenda_id or ""
    document = agendas.get_wire(agenda_id)
    work_dir = work_dir_of(str(document.get("id") or ""), document.get("params"), str(work_root))
    last_attempt: dict[str, int] = {}
    for row in attempts.list(agenda_id, operation):
        if row["operation"] is not None:
            last_attempt[row["operation"]] = max(
                row["number"], last_attempt.get(row["operation"], 0)
            )
    return [
        operation_outputs(op, work_dir, last_attempt.get(op.operation or ""))
        for op in progress.operation_progress or []
        if operation is None or op.operation == operation
    ]
