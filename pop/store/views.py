"""What the human views read, as POP's JSON: one agenda's progress, a list of them, the logs of
its attempts. No model is built, so ``pop status``, ``pop list`` and ``pop logs``
(:mod:`pop.cli.reads`) start without pydantic; the library's :class:`pop.api.Client` reads
through the same functions and builds its models from their answers.

Layer: store.
"""

from __future__ import annotations

from pop.errors import NotFoundError
from pop.records import Record
from pop.store.agendas import AgendaStore
from pop.store.attempts import AttemptStore
from pop.store.progress_rows import ProgressRows

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pop.store.db import Database


class OperationLog(Record):
    """One attempt's log of one op: where the file is and its kept tail."""

    __slots__ = ("attempt", "operation", "path", "tail")

    def __init__(self, operation: str, attempt: int, path: str | None, tail: list[str]) -> None:
        self.operation = operation
        self.attempt = attempt
        self.path = path
        self.tail = tail

    def to_json(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "attempt": self.attempt,
            "path": self.path,
            "tail": self.tail,
        }

    __hash__ = None  # type: ignore[assignment]  # its tail list is mutable


def progress_wire(db: Database, agenda_id: str) -> dict[str, Any]:
    """The AgendaProgress (with its operations) of the agenda whose id or progress id is
    ``agenda_id`` or starts with it (:meth:`AgendaStore.resolve_id`); NotFoundError when the
    agenda has no progress."""
    full_id = AgendaStore(db).resolve_id(agenda_id)
    wire = ProgressRows(db).get_wire(full_id)
    if wire is None:
        raise NotFoundError(f"no progress for agenda {agenda_id}")
    return wire


def check_operation(progress: dict[str, Any], operation: str | None) -> None:
    """NotFoundError when ``operation`` is given and not one of the agenda's ops (the hint
    lists them)."""
    names = [op.get("operation") or "" for op in progress.get("operationProgress") or []]
    if operation is not None and operation not in names:
        raise NotFoundError(
            f"agenda {progress.get('agendaId')} has no operation '{operation}'",
            hint="operations: " + ", ".join(names),
        )


def logs(db: Database, agenda_id: str, operation: str | None = None) -> list[OperationLog]:
    """What each attempt of the agenda's ops (``operation``'s only, when given) logged: the log
    file of each attempt and its op's kept output tail, oldest attempt first."""
    progress = progress_wire(db, agenda_id)
    check_operation(progress, operation)
    rows = ProgressRows(db)
    result = []
    for attempt in AttemptStore(db).list(progress["agendaId"], operation):
        if attempt["operation"] is None:
            continue
        tail = rows.output_tail(str(progress.get("id") or ""), attempt["operation"])
        result.append(
            OperationLog(
                operation=attempt["operation"],
                attempt=attempt["number"],
                path=attempt["logPath"],
                tail=tail,
            )
        )
    return result
