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

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pop.config import Settings
from pop.engine.launching import agenda_work_dir, op_folder
from pop.models import AgendaProgress, OperationProgress
from pop.store import Store


@dataclass(frozen=True)
class OutputFile:
    path: str
    size: int
    pointer: str  # where the op's result names it, e.g. /hls/master

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "pointer": self.pointer}


@dataclass
class OperationOutputs:
    operation: str
    state: str
    folder: str | None
    files: list[OutputFile] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "state": self.state,
            "folder": self.folder,
            "files": [item.to_json() for item in self.files],
        }


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


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _state_word(operation: OperationProgress) -> str:
    state = getattr(operation.processing_state, "value", operation.processing_state) or ""
    if state == "COMPLETE":
        return (operation.processing_state_message or "").lower() or "complete"
    return str(state).lower()


def operation_outputs(
    operation: OperationProgress, work_dir: Path, attempt: int | None
) -> OperationOutputs:
    """The outputs of one op whose last attempt was ``attempt`` (None: never ran)."""
    name = operation.operation or ""
    folder = op_folder(work_dir, name, attempt) if attempt else None
    result = operation.result_payload
    files: list[OutputFile] = []
    seen: set[str] = set()
    for pointer, text in _strings(result):
        if not text or "\n" in text or len(text) > 4096:
            continue
        candidate = Path(text)
        if not candidate.is_absolute():
            if folder is None:
                continue
            candidate = folder / candidate
        if str(candidate) in seen or not _inside(candidate, work_dir):
            continue
        try:
            if not candidate.is_file():
                continue
            size = candidate.stat().st_size
        except OSError:
            continue
        seen.add(str(candidate))
        files.append(OutputFile(str(candidate), size, pointer))
    shown = folder if folder is not None and folder.is_dir() and any(folder.iterdir()) else None
    return OperationOutputs(name, _state_word(operation), str(shown) if shown else None, files)


def agenda_outputs(
    store: Store,
    settings: Settings,
    progress: AgendaProgress,
    operation: str | None = None,
) -> list[OperationOutputs]:
    """Each op's outputs (only ``operation``'s when given), in agenda order."""
    agenda_id = progress.agenda_id or ""
    work_dir = agenda_work_dir(store.agendas.get(agenda_id), settings.work_root)
    last_attempt: dict[str, int] = {}
    for row in store.attempts.list(agenda_id, operation):
        if row["operation"] is not None:
            last_attempt[row["operation"]] = max(
                row["number"], last_attempt.get(row["operation"], 0)
            )
    return [
        operation_outputs(op, work_dir, last_attempt.get(op.operation or ""))
        for op in progress.operation_progress or []
        if operation is None or op.operation == operation
    ]
