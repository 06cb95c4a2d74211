"""The real cause of a failure, read from a chain of diagnostics.

Layer: models. Every human view (the CLI's tables, live lines, batch summary, executor lines) and
the batch report ask this module why an op or an agenda failed, so they all say the same thing.

A failed op's diagnostics are a chain, as POP's are: wrappers that say *where* it failed
("Resident execution failed for operation: transcode", "handler reported failed and exited with
code 1") and the events that say *why* ("Cannot read clip6.mp4 as media: Invalid data found when
processing input"). The cause is the first event that is not a wrapper; a wrapper is the cause
only when nothing follows or precedes it that says more. When the cause is a program's exit (its
payload holds the program's last output lines), those lines belong to the cause.
"""

from __future__ import annotations

import re

from pop.models.states import is_failed
from pop.models.views import DiagnosticView
from pop.records import Record

TYPE_CHECKING = False  # no typing at run time: the fast views import this module
if TYPE_CHECKING:
    from collections.abc import Sequence

    from pop.models.views import AgendaProgressLike, DiagnosticLike, OperationProgressLike

RESIDENT_FAILURE = "Resident execution failed for operation: "
OPERATION_FAILED = re.compile(r"^operation '(?P<name>[^']*)' failed: ")
# where a failure happened, never why: each says more only when nothing else does
_WRAPPERS = (
    re.compile("^" + re.escape(RESIDENT_FAILURE)),
    re.compile(r"^handler reported \S+ and exited with code -?\d+$"),
    re.compile(r"^command reported failure and exited with code -?\d+$"),
)


class FailureCause(Record):
    """Why something failed: one message and, for a program's exit, its last output lines."""

    __slots__ = ("lines", "message", "operation")

    def __init__(
        self, message: str, lines: tuple[str, ...] = (), operation: str | None = None
    ) -> None:
        self.message = message
        self.lines = lines
        self.operation = operation

    def one_line(self, *, with_operation: bool = False) -> str:
        """The message, plus the program's last non-empty output line, on one line."""
        text = self.message
        last = next((line.strip() for line in reversed(self.lines) if line.strip()), "")
        if last and last not in text:
            text = f"{text}: {last}"
        if with_operation and self.operation:
            text = f"{self.operation}: {text}"
        return " ".join(text.split())


def _is_wrapper(event: DiagnosticLike) -> bool:
    message = event.message or ""
    return any(pattern.match(message) for pattern in _WRAPPERS)


def _lines_of(event: DiagnosticLike) -> tuple[str, ...]:
    payload = event.payload
    if isinstance(payload, list) and all(isinstance(line, str) for line in payload):
        return tuple(payload)
    return ()


def cause_of(events: Sequence[DiagnosticLike] | None) -> FailureCause | None:
    """The cause in a chain of diagnostics (None when there is none)."""
    events = [event for event in events or [] if event.message]
    if not events:
        return None
    chosen = next((event for event in events if not _is_wrapper(event)), None)
    if chosen is not None:
        return FailureCause(chosen.message or "", _lines_of(chosen))
    # only wrappers: the first says where, and the program's lines (any wrapper's) say why
    lines = next(filter(None, map(_lines_of, events)), ())
    return FailureCause(events[0].message or "", lines)


def cause_text(events: Sequence[DiagnosticLike] | None) -> str | None:
    """The cause of a chain of diagnostics on one line (None when there is none)."""
    cause = cause_of(events)
    return None if cause is None else cause.one_line()


def operation_cause(operation: OperationProgressLike) -> FailureCause | None:
    """Why an op failed (None unless it failed with a diagnostic)."""
    if not is_failed(operation.processing_state, operation.processing_state_message):
        return None
    cause = cause_of(operation.diagnostic_events)
    if cause is None:
        return None
    return FailureCause(cause.message, cause.lines, operation.operation)


def agenda_cause(progress: AgendaProgressLike) -> FailureCause | None:
    """Why an agenda failed: its first failed op's cause, else its own diagnostics' (deadlock,
    cancel, timeout). None for an agenda that did not fail."""
    if not is_failed(progress.processing_state, progress.processing_state_message):
        return None
    for operation in progress.operation_progress or []:
        cause = operation_cause(operation)
        if cause is not None:
            return cause
    events = list(progress.diagnostic_events or [])
    for event in events:
        match = OPERATION_FAILED.match(event.message or "")
        if match and isinstance(event.payload, list):
            inner = cause_of([_event(item) for item in event.payload])
            if inner is not None:
                return FailureCause(inner.message, inner.lines, match.group("name"))
    return cause_of(events)


def _event(item: object) -> DiagnosticLike:
    """A nested diagnostic (an ``operation '...' failed`` event's payload item) to read."""
    return DiagnosticView(item if isinstance(item, dict) else {})
