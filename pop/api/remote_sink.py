"""The remote progress sink: one agenda's run reported to a ``pop serve`` through POP's
ResourcePool service and pop's executor extension routes (issue 13 item 6).

Layer: api. :mod:`pop.api.remote_executor` builds one per agenda it claimed with ``getAgenda``
and hands it to :class:`pop.engine.executor.AgendaRunner` (``store=None``); the engine does not
know it talks HTTP. The contracts are :class:`pop.engine.sink.ProgressSink`'s. No call waits on
the network: each puts its requests in the agenda's :class:`pop.api.remote_outbox.Outbox`, whose
thread delivers them in order and rides out a server outage (retrying with backoff, 0.5 s
doubling to 10 s, for as long as it takes). How the calls map:

- ``agenda``/``progress``: the agenda ``getAgenda`` handed out (cached), its progress from
  ``GET /pop/progress/agenda/{id}`` once, then as reported so far; ``claim`` was done by
  ``getAgenda`` and answers the owner.
- ``begin``: ``startAttempt`` (the agenda's own attempt row) and an ``updateAgendaProgress``
  report; ``start_attempt``: ``startAttempt`` (the op's attempt row, with the server's log path)
  and a report; ``record_launch``: ``recordLaunch``. The attempt ids answered are the sink's
  own; the server's id from ``startAttempt``'s answer replaces them in what follows.
- ``op_outcome``, ``op_retry``: the rest of the op's log (``appendLog``), ``endAttempt`` (with
  the output tail), then a report; ``op_invalid``: a report; ``add_generated``: ``updateAgenda``.
- ``finish``: the waiting reports, ``endAttempt`` of the agenda's attempt, then the final
  report, which releases the lease. It answers at once (False only when the lease was already
  known lost); :meth:`RemoteSink.delivered` waits until the server took everything and says
  whether it did: the executor forgets an agenda only then.
- ``op_progress``: the latest report per op, sent at most once a second with the new lines of
  the op's log; a transition of an op drops that op's waiting report.
- ``renew_lease``: False only once the server answered 409 (it reclaimed the agenda): the run
  then stops and nothing more is sent. While the server cannot be reached the run goes on; the
  outbox heartbeats every :data:`HEARTBEAT_SECONDS` when it sends nothing else.
  ``cancel_requested``: the last answer's ``cancelRequested``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pop.api.remote import RemoteClient
from pop.api.remote_outbox import HEARTBEAT_SECONDS, REPORT_SECONDS, Outbox, Request
from pop.engine.state import Outcome
from pop.engine.submission import new_operation_progress
from pop.errors import ForbiddenError, NotFoundError
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

__all__ = ["HEARTBEAT_SECONDS", "REPORT_SECONDS", "RemoteSink"]

DEFAULT_LOG_CAP = 10 * 1024 * 1024


class RemoteSink:
    """:class:`pop.engine.sink.ProgressSink` of one claimed agenda on a ``pop serve``."""

    def __init__(
        self,
        client: RemoteClient,
        agenda: Agenda,
        *,
        owner: str,
        progress: AgendaProgress | None = None,
        log_cap_bytes: int = DEFAULT_LOG_CAP,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.owner = owner
        self._agenda = agenda
        self._progress = progress
        self._mirror: AgendaProgress | None = None  # the progress as reported so far
        self._cancel = False
        self._attempts = 0
        self._diagnostics: list[DiagnosticEvent] = []
        self.outbox = Outbox(
            client,
            owner,
            agenda.id or "",
            on_answer=self._take,
            log_cap_bytes=log_cap_bytes,
            heartbeat_seconds=heartbeat_seconds,
            clock=clock,
        )

    @property
    def lost(self) -> bool:
        """Whether the server answered 409: it took the agenda back."""
        return self.outbox.lost

    def delivered(self, timeout: float | None = None) -> bool:
        """Wait until the server took everything (finish included) or the agenda was lost;
        True when it was all delivered."""
        self.outbox.close()
        return self.outbox.wait(timeout) and not self.outbox.lost

    def close(self) -> None:
        """Send nothing more than what was put (the run ended)."""
        self.outbox.close()

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
        return self.owner  # getAgenda took the lease; launch settings stay on this machine

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
        attempt_id = self._start(agenda_id, None, attempt, runtime)
        self._report(
            progress_id,
            {
                "processingState": ProcessingState.EXECUTING.value,
                "processingStateMessage": RUNNING_OPERATIONS,
                "startedTime": now_ms(),
                "percentComplete": percent,
            },
        )
        return attempt_id

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
        if self.outbox.lost:
            return False
        pending, pending_percent = self.outbox.take_pending()
        if pending:
            waiting: dict[str, Any] = {"operationProgress": pending}
            if pending_percent is not None:
                waiting["percentComplete"] = pending_percent
            self._report(progress_id, waiting)
        self._end(
            attempt_id,
            SUCCEEDED if succeeded else failure,
            message=diagnostics[0].message or "" if diagnostics else "",
        )
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
        self._report(progress_id, fields)
        self.outbox.close()
        return not self.outbox.lost

    # -- the lease ------------------------------------------------------------------------

    def renew_lease(self, agenda_id: str, owner: str, lease_seconds: float) -> bool:
        return not self.outbox.lost  # the outbox heartbeats; only a 409 loses the lease

    def cancel_requested(self, agenda_id: str) -> bool:
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
        attempt_id = self._start(agenda_id, operation, attempt, runtime, launch_record)
        self.outbox.follow_log(attempt_id, log_path)
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
        return attempt_id

    def record_launch(self, attempt_id: int, record: Mapping[str, Any]) -> None:
        self.outbox.put(Request("recordLaunch", {"launched": dict(record)}, attempt=attempt_id))

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
        wire = report.to_wire()
        self.outbox.report(progress_id, operation, wire, agenda_percent)
        self._mirror_report({"percentComplete": agenda_percent, "operationProgress": [wire]})

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
        self._end_op(
            attempt_id,
            outcome,
            outcome.outcome or (SUCCEEDED if outcome.succeeded else FAILED),
            outcome.diagnostics[0].message or "" if outcome.diagnostics else "",
        )
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
        first = outcome.diagnostics[0].message if outcome.diagnostics else "failed"
        self._end_op(attempt_id, outcome, outcome.outcome or FAILED, first or "")
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
        self.outbox.put(
            Request(
                "updateAgenda",
                {
                    "agendaId": agenda.id,
                    "operations": [operation.to_wire() for operation in added],
                    "params": dict(agenda.params),
                },
            )
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

    def _next_attempt(self) -> int:
        self._attempts += 1
        return self._attempts

    def _start(
        self,
        agenda_id: str,
        operation: str | None,
        number: int,
        runtime: str,
        launched: Mapping[str, Any] | None = None,
    ) -> int:
        """An attempt row on the server (``startAttempt``); answers the sink's id for it."""
        attempt_id = self._next_attempt()
        body: dict[str, Any] = {"agendaId": agenda_id, "number": number, "runtime": runtime}
        if operation is not None:
            body["operation"] = operation
        if launched is not None:
            body["launched"] = dict(launched)
        self.outbox.put(Request("startAttempt", body, starts=attempt_id))
        return attempt_id

    def _end(
        self,
        attempt_id: int,
        outcome: str,
        *,
        message: str,
        exit_code: int | None = None,
        output_tail: Sequence[str] | None = None,
    ) -> None:
        body: dict[str, Any] = {"outcome": outcome, "message": message, "exitCode": exit_code}
        if output_tail is not None:
            body["outputTail"] = list(output_tail)
        self.outbox.put(Request("endAttempt", body, attempt=attempt_id))

    def _end_op(self, attempt_id: int, outcome: Outcome, kind: str, message: str) -> None:
        """The rest of the op's log, then its attempt ended with the output tail."""
        self.outbox.put(Request("appendLog", attempt=attempt_id, final_log=True))
        self._end(
            attempt_id,
            kind,
            message=message,
            exit_code=outcome.exit_code,
            output_tail=outcome.output_tail,
        )

    def _report_op(
        self,
        progress_id: str,
        report: OperationProgress,
        *,
        agenda_percent: float | None = None,
    ) -> None:
        """A transition of one op: its waiting report (if any) is superseded by it."""
        fields: dict[str, Any] = {"operationProgress": [report.to_wire()]}
        if agenda_percent is not None:
            fields["percentComplete"] = agenda_percent
        self._report(progress_id, fields, supersedes=report.operation)

    def _report(
        self, progress_id: str, fields: Mapping[str, Any], *, supersedes: str | None = None
    ) -> None:
        """One updateAgendaProgress transition, put after the earlier ones."""
        report: dict[str, Any] = {"id": progress_id, **fields}
        self.outbox.put(
            Request("updateAgendaProgress", {"agendaProgress": report}), supersedes=supersedes
        )
        self._mirror_report(report)

    def _take(self, answer: Mapping[str, Any]) -> None:
        """Remember what a request answered (on the outbox's thread): cancel requested."""
        if "cancelRequested" in answer:
            self._cancel = bool(answer.get("cancelRequested"))


def _merge(
    target: OperationProgress | AgendaProgress, update: OperationProgress | AgendaProgress
) -> None:
    """A partial update: the fields ``update`` sets (not None) replace ``target``'s."""
    for name in update.model_fields_set:
        value = getattr(update, name)
        if value is not None:
            setattr(target, name, value)
