"""The remote progress sink: one agenda's run reported to a ``pop serve`` through POP's
ResourcePool service (issue 13 item 6, first part).

Layer: api. :mod:`pop.api.remote_executor` builds one per agenda it claimed with ``getAgenda``
and hands it to :class:`pop.engine.executor.AgendaRunner` (``store=None``); the engine does not
know it talks HTTP. The contracts are :class:`pop.engine.sink.ProgressSink`'s; how they map:

- ``agenda``/``progress``: the agenda ``getAgenda`` handed out (cached), its progress from
  ``GET /pop/progress/agenda/{id}``; ``claim`` was done by ``getAgenda`` and answers the owner.
- ``begin``, ``start_attempt``, ``op_outcome``, ``op_retry``, ``op_invalid``, ``finish``: one
  ``updateAgendaProgress`` report each, sent at once (transitions). ``finish`` answers False on
  409 (the server gave the agenda to another executor).
- ``op_progress``: kept as the latest report per op and sent at most once a second per agenda,
  with the next transition or from ``cancel_requested`` (the lease keeper polls it twice a
  second); a transition of an op drops that op's pending report (it supersedes it).
- ``renew_lease``: ``heartbeat`` (False only on 409; True while the server cannot be reached and
  the last lease it granted has not expired); ``cancel_requested``: the last answer, refreshed by
  a heartbeat every :data:`HEARTBEAT_SECONDS`.
- ``add_generated``: ``updateAgenda`` with the new ops.

Not on the server yet: attempt rows and launch records (``start_attempt``/``begin`` answer local
counters; ``record_launch`` is kept here only), op logs, output tails and the launch settings.
A transition the server cannot take is retried with backoff for a few seconds, then raised.
Requests are synchronous (httpx) and short; they run on the executor's event loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pop.api.remote import RemoteClient
from pop.engine.state import Outcome
from pop.engine.submission import new_operation_progress
from pop.errors import ConflictError, ForbiddenError, NotFoundError, RuntimeUnavailableError
from pop.models import (
    FAILED,
    RUNNING_OPERATIONS,
    SUCCEEDED,
    Agenda,
    AgendaProgress,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
    now_ms,
)

HEARTBEAT_SECONDS = 5.0
REPORT_SECONDS = 1.0  # at most one op_progress report a second per agenda
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # a transition's backoff while the server is unreachable


class RemoteSink:
    """:class:`pop.engine.sink.ProgressSink` of one claimed agenda on a ``pop serve``."""

    def __init__(
        self,
        client: RemoteClient,
        agenda: Agenda,
        *,
        owner: str,
        progress: AgendaProgress | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.owner = owner
        self._agenda = agenda
        self._progress = progress
        self._mirror: AgendaProgress | None = None  # the progress as reported so far
        self._clock = clock
        self._sleep = sleep
        self._pending: dict[str, dict[str, Any]] = {}  # op -> its latest unsent report
        self._pending_percent: float | None = None
        self._last_report = 0.0
        self._last_answer = -HEARTBEAT_SECONDS
        self._lease_expires: int | None = None
        self._cancel = False
        self._attempts = 0
        self._diagnostics: list[DiagnosticEvent] = []
        self.launches: dict[int, dict[str, Any]] = {}
        """What each attempt launched (not on the server yet)."""

    # -- the agenda -----------------------------------------------------------------------

    def agenda(self, agenda_id: str) -> Agenda:
        return self._agenda

    def progress(self, agenda_id: str) -> AgendaProgress | None:
        if self._mirror is None:
            self._mirror = self._progress or self._read(agenda_id) or self._built()
            self._diagnostics = list(self._mirror.diagnostic_events or [])
        return self._mirror.model_copy(deep=True)

    def claim(
        self,
        agenda_id: str,
        owner: str,
        *,
        lease_seconds: float,
        launch_settings: Mapping[str, Any],
    ) -> str | None:
        return self.owner  # getAgenda took the lease; launch settings stay here for now

    def begin(
        self,
        agenda_id: str,
        progress_id: str,
        *,
        attempt: int,
        executor: str,
        runtime: str,
        percent: float,
    ) -> int:
        self._report(
            progress_id,
            {
                "processingState": ProcessingState.EXECUTING.value,
                "processingStateMessage": RUNNING_OPERATIONS,
                "startedTime": now_ms(),
                "percentComplete": percent,
            },
        )
        return self._next_attempt()

    def finish(
        self,
        agenda_id: str,
        progress_id: str,
        *,
        owner: str,
        attempt_id: int,
        succeeded: bool,
        failure: str,
        diagnostics: Sequence[DiagnosticEvent],
        percent: float,
    ) -> bool:
        # the server replaces the agenda's diagnostics: send the earlier ones with the new
        events = [*self._diagnostics, *diagnostics]
        fields: dict[str, Any] = {
            "processingState": ProcessingState.COMPLETE.value,
            "processingStateMessage": SUCCEEDED if succeeded else FAILED,
            "percentComplete": percent,
            "completedTime": now_ms(),
        }
        if events:
            fields["diagnosticEvents"] = [event.to_wire() for event in events]
        try:
            self._report(progress_id, fields)
        except ConflictError:
            return False
        return True

    # -- the lease ------------------------------------------------------------------------

    def renew_lease(self, agenda_id: str, owner: str, lease_seconds: float) -> bool:
        try:
            self._take(self.client.service("heartbeat", {"agendaId": agenda_id, **self._who()}))
        except ConflictError:
            return False
        except RuntimeUnavailableError:
            return self._lease_expires is None or now_ms() < self._lease_expires
        return True

    def cancel_requested(self, agenda_id: str) -> bool:
        now = self._clock()
        if self._pending and now - self._last_report >= REPORT_SECONDS:
            self._flush(self._agenda.progress_id or agenda_id)
        elif now - self._last_answer >= HEARTBEAT_SECONDS:
            self.renew_lease(agenda_id, self.owner, 0.0)
        return self._cancel

    # -- one op ---------------------------------------------------------------------------

    def start_attempt(
        self,
        agenda_id: str,
        progress_id: str,
        operation: str,
        attempt: int,
        *,
        executor: str,
        runtime: str,
        log_path: str,
        launch_record: Mapping[str, Any] | None = None,
    ) -> int:
        started = now_ms()
        self._report_op(
            progress_id,
            OperationProgress(
                operation=operation,
                processing_state=ProcessingState.EXECUTING,
                processing_state_message="running",
                percent_complete=0.0,
                started_time=started,
                attempt_time=started,
                attempt_count=attempt,
            ),
        )
        attempt_id = self._next_attempt()
        if launch_record is not None:
            self.launches[attempt_id] = dict(launch_record)
        return attempt_id

    def record_launch(self, attempt_id: int, record: Mapping[str, Any]) -> None:
        self.launches[attempt_id] = dict(record)

    def op_progress(
        self,
        progress_id: str,
        operation: str,
        *,
        percent: float,
        message: str,
        params: Mapping[str, Any] | None,
        agenda_percent: float,
    ) -> None:
        report = OperationProgress(
            operation=operation, percent_complete=percent, processing_state_message=message
        )
        if params is not None:
            report.params = dict(params)
        self._pending[operation] = report.to_wire()
        self._pending_percent = agenda_percent
        if self._clock() - self._last_report >= REPORT_SECONDS:
            self._flush(progress_id)

    def op_invalid(
        self, progress_id: str, operation: str, diagnostics: Sequence[DiagnosticEvent]
    ) -> None:
        self._report_op(
            progress_id,
            OperationProgress(
                operation=operation,
                processing_state=ProcessingState.COMPLETE,
                processing_state_message=FAILED,
                completed_time=now_ms(),
                diagnostic_events=list(diagnostics),
            ),
        )

    def op_outcome(
        self,
        progress_id: str,
        operation: str,
        attempt_id: int,
        outcome: Outcome,
        *,
        percent: float,
        result: Any,
        params: Mapping[str, Any] | None,
        agenda_percent: float,
    ) -> None:
        report = OperationProgress(
            operation=operation,
            processing_state=ProcessingState.COMPLETE,
            processing_state_message=SUCCEEDED if outcome.succeeded else FAILED,
            percent_complete=percent,
            completed_time=now_ms(),
            diagnostic_events=list(outcome.diagnostics),
        )
        if outcome.succeeded and result is not None:
            report.result_payload = result
        if params is not None:
            report.params = dict(params)
        self._report_op(progress_id, report, agenda_percent=agenda_percent)

    def op_retry(
        self,
        progress_id: str,
        operation: str,
        attempt_id: int,
        outcome: Outcome,
        *,
        message: str,
        agenda_percent: float,
    ) -> None:
        self._report_op(
            progress_id,
            OperationProgress(
                operation=operation,
                processing_state_message=message,
                percent_complete=0.0,
                diagnostic_events=list(outcome.diagnostics),
            ),
            agenda_percent=agenda_percent,
        )

    def add_generated(
        self,
        agenda: Agenda,
        progress_id: str,
        operations: Sequence[OperationProgress],
        *,
        first_seq: int,
    ) -> None:
        added = agenda.operations[first_seq:]
        self._send(
            "updateAgenda",
            {
                "agendaId": agenda.id,
                "operations": [operation.to_wire() for operation in added],
                "params": dict(agenda.params),
                **self._who(),
            },
        )
        self._agenda = agenda
        if self._mirror is not None:
            self._mirror.operation_progress = [
                *(self._mirror.operation_progress or []),
                *(operation.model_copy(deep=True) for operation in operations),
            ]

    # -- internals --------------------------------------------------------------------------

    def _read(self, agenda_id: str) -> AgendaProgress | None:
        """The server's progress, when this token may read it (an executor token may not)."""
        try:
            return self.client.status(agenda_id)
        except (NotFoundError, ForbiddenError):
            return None

    def _built(self) -> AgendaProgress:
        """The progress of an agenda none of whose ops ran yet (getAgenda attaches the stored
        progress otherwise): every op WAITING, as the server stored it at submission."""
        agenda = self._agenda
        progress_id = agenda.progress_id or ""
        return AgendaProgress(
            id=progress_id,
            agenda_id=agenda.id,
            customer_id=agenda.customer_id,
            title=agenda.title,
            processing_state=ProcessingState.EXECUTING,
            processing_state_message="claimed",
            percent_complete=0.0,
            operation_progress=[
                new_operation_progress(progress_id, operation) for operation in agenda.operations
            ],
            diagnostic_events=[],
            attempts_completed=0,
        )

    def _mirror_report(self, report: Mapping[str, Any]) -> None:
        """Apply a report the server took to the local copy, as the server applies it."""
        mirror = self._mirror
        if mirror is None:
            return
        by_name = {operation.operation: operation for operation in mirror.operation_progress or []}
        for item in report.get("operationProgress", []):
            update = OperationProgress.model_validate(item)
            target = by_name.get(update.operation)
            if target is not None:
                _merge(target, update)
        fields = {k: v for k, v in report.items() if k not in ("id", "operationProgress")}
        _merge(mirror, AgendaProgress.model_validate(fields))

    def _who(self) -> dict[str, str]:
        return {"executorId": self.owner}

    def _next_attempt(self) -> int:
        self._attempts += 1
        return self._attempts

    def _report_op(
        self,
        progress_id: str,
        report: OperationProgress,
        *,
        agenda_percent: float | None = None,
    ) -> None:
        """A transition of one op: its pending report (if any) is superseded by it."""
        self._pending.pop(report.operation or "", None)
        fields: dict[str, Any] = {"operationProgress": [report.to_wire()]}
        if agenda_percent is not None:
            fields["percentComplete"] = agenda_percent
        self._report(progress_id, fields)

    def _flush(self, progress_id: str) -> None:
        """Send the pending op reports now; while the server cannot be reached they stay
        pending (the latest per op) and go with the next report."""
        with contextlib.suppress(RuntimeUnavailableError):
            self._report(progress_id, {}, retry=False)

    def _report(self, progress_id: str, fields: Mapping[str, Any], *, retry: bool = True) -> None:
        """One updateAgendaProgress: the pending op reports first, then ``fields`` (later
        wins); the pending reports are cleared once the server took them."""
        operations = [*self._pending.values(), *fields.get("operationProgress", [])]
        report: dict[str, Any] = {"id": progress_id}
        if self._pending_percent is not None:
            report["percentComplete"] = self._pending_percent
        report.update(fields)
        if operations:
            report["operationProgress"] = operations
        self._send("updateAgendaProgress", {"agendaProgress": report, **self._who()}, retry=retry)
        self._mirror_report(report)
        self._pending.clear()
        self._pending_percent = None
        self._last_report = self._clock()

    def _send(self, name: str, body: Mapping[str, Any], *, retry: bool = True) -> None:
        delays = list(RETRY_DELAYS) if retry else []
        while True:
            try:
                self._take(self.client.service(name, body))
                return
            except RuntimeUnavailableError:
                if not delays:
                    raise
                self._sleep(delays.pop(0))

    def _take(self, answer: Mapping[str, Any]) -> None:
        """Remember what a report or heartbeat answered: the lease's end and cancel."""
        self._last_answer = self._clock()
        if "cancelRequested" in answer:
            self._cancel = bool(answer.get("cancelRequested"))
        expires = answer.get("leaseExpiresTime")
        if isinstance(expires, int):
            self._lease_expires = expires


def _merge(
    target: OperationProgress | AgendaProgress, update: OperationProgress | AgendaProgress
) -> None:
    """A partial update: the fields ``update`` sets (not None) replace ``target``'s."""
    for name in update.model_fields_set:
        value = getattr(update, name)
        if value is not None:
            setattr(target, name, value)
