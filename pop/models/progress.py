"""Progress objects: AgendaProgress, OperationProgress, DiagnosticEvent, the link summary.

Layer: models. ``resultPayload`` is the JSON value itself; POP stored a string of JSON, which is
accepted on input and parsed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from pop.models.agenda import AgendaInsight
from pop.models.base import WireModel
from pop.models.states import (
    FAILED,
    PENDING,
    RUNNING_OPERATIONS,
    SUCCEEDED,
    ProcessingState,
    is_failed,
    is_succeeded,
    now_ms,
)

__all__ = [
    "FAILED",
    "PENDING",
    "RUNNING_OPERATIONS",
    "SUCCEEDED",
    "AgendaProgress",
    "DiagnosticEvent",
    "OperationProgress",
    "ProcessingState",
    "ProgressSummary",
    "is_failed",
    "is_succeeded",
]

RETRY_AFTER_KEY = "retryAfterSeconds"  # in a diagnostic's payload: wait this long to retry


class DiagnosticEvent(WireModel):
    """One problem report: message, code, time, stack trace, payload (e.g. last output lines).

    A handler's ``TemporaryError(delay=N)`` becomes a diagnostic with payload
    ``{"retryAfterSeconds": N}`` (see :attr:`retry_after`)."""

    message: str | None = None
    status_code: int | None = None
    time: int | None = None
    stack_trace: str | None = None
    payload: Any = None

    @classmethod
    def of(
        cls, message: str, *, payload: Any = None, stack_trace: str | None = None
    ) -> DiagnosticEvent:
        event = cls(message=message, time=now_ms())
        if payload is not None:
            event.payload = payload
        if stack_trace is not None:
            event.stack_trace = stack_trace
        return event

    @property
    def retry_after(self) -> float | None:
        """The seconds to wait before retrying that the handler asked for, else None."""
        payload = self.payload
        value = payload.get(RETRY_AFTER_KEY) if isinstance(payload, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
        return None


def _parse_json_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class OperationProgress(WireModel):
    """The progress of one op; id ``<progressId>-<opName>``."""

    id: str | None = None
    agenda_progress_id: str | None = None
    operation: str | None = None
    processing_state: ProcessingState | None = None
    processing_state_message: str | None = None
    percent_complete: float | None = None
    result_payload: Any = None
    diagnostic_events: list[DiagnosticEvent] | None = None
    attempt_count: int | None = None
    attempt_time: int | None = None
    started_time: int | None = None
    completed_time: int | None = None
    params: dict[str, Any] | None = None

    _parse_result = field_validator("result_payload", mode="before")(_parse_json_text)

    @property
    def succeeded(self) -> bool:
        return is_succeeded(self.processing_state, self.processing_state_message)


class AgendaProgress(WireModel):
    """The progress of one agenda, with its operations' progress."""

    id: str | None = None
    agenda_id: str | None = None
    link_id: str | None = None
    external_id: str | None = None
    cid: str | None = None
    customer_id: str | None = None
    title: str | None = None
    processing_state: ProcessingState | None = None
    processing_state_message: str | None = None
    percent_complete: float | None = None
    operation_progress: list[OperationProgress] | None = None
    diagnostic_events: list[DiagnosticEvent] | None = None
    attempts_completed: int | None = None
    maximum_attempts: int | None = None
    started_time: int | None = None
    completed_time: int | None = None
    added_time: int | None = None
    updated_time: int | None = None
    params: dict[str, Any] | None = None
    agenda_insight: AgendaInsight | None = None

    @property
    def succeeded(self) -> bool:
        return is_succeeded(self.processing_state, self.processing_state_message)

    @property
    def failed(self) -> bool:
        return is_failed(self.processing_state, self.processing_state_message)

    def operation(self, name: str) -> OperationProgress | None:
        for progress in self.operation_progress or []:
            if progress.operation == name:
                return progress
        return None


class ProgressSummary(WireModel):
    """Progress over every agenda of one ``linkId`` (POP's names)."""

    progress_list: list[AgendaProgress] = Field(default_factory=list)
    processing_state: ProcessingState = ProcessingState.COMPLETE
    processing_percent: float | None = None
