"""The local progress sink: one agenda's run read from and written to the SQLite store.

Layer: engine. The one module of a run that touches the store (:mod:`pop.store`); the executor
builds it from the store it is given (``AgendaRunner(store, ...)``) unless it is handed another
:class:`pop.engine.sink.ProgressSink`. Each method is the transaction (or the single statement)
the run made before the sink existed; the contracts are in :mod:`pop.engine.sink`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pop.engine.state import Outcome
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
from pop.store import Store, operation_progress_id


class StoreSink:
    """:class:`pop.engine.sink.ProgressSink` over the local store; keeps no state of its own, so
    the agendas of one process may share one."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the agenda -----------------------------------------------------------------------

    def agenda(self, agenda_id: str) -> Agenda:
        return self.store.agendas.get(agenda_id)

    def progress(self, agenda_id: str) -> AgendaProgress | None:
        return self.store.progress.get(agenda_id)

    def claim(
        self,
        agenda_id: str,
        owner: str,
        *,
        lease_seconds: float,
        launch_settings: Mapping[str, Any],
    ) -> str | None:
        store = self.store
        if not store.progress.take_lease(agenda_id, owner, lease_seconds):
            holder, _ = store.progress.lease_of(agenda_id)
            return holder
        store.queue.remove(agenda_id)
        store.agendas.set_launch_settings(agenda_id, launch_settings)
        return owner

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
        attempt_id = self.store.attempts.start(
            agenda_id, None, attempt, executor=executor, runtime=runtime
        )
        self.store.progress.update_agenda(
            progress_id,
            state=ProcessingState.EXECUTING,
            message=RUNNING_OPERATIONS,
            started_time=now_ms(),
            percent=percent,
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
        store = self.store
        with store.transaction():
            holder, _ = store.progress.lease_of(agenda_id)
            if holder != owner:
                return False
            store.progress.update_agenda(
                progress_id,
                state=ProcessingState.COMPLETE,
                message=SUCCEEDED if succeeded else FAILED,
                percent=percent,
                completed_time=now_ms(),
                add_diagnostics=diagnostics,
            )
            store.attempts.end(
                attempt_id,
                SUCCEEDED if succeeded else failure,
                message=diagnostics[0].message or "" if diagnostics else "",
            )
            store.progress.release_lease(agenda_id, owner)
        return True

    # -- the lease ------------------------------------------------------------------------

    def renew_lease(self, agenda_id: str, owner: str, lease_seconds: float) -> bool:
        return self.store.progress.renew_lease(agenda_id, owner, lease_seconds)

    def cancel_requested(self, agenda_id: str) -> bool:
        return self.store.progress.cancel_requested(agenda_id)

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
        store = self.store
        started = now_ms()
        with store.transaction():
            attempt_id = store.attempts.start(
                agenda_id, operation, attempt, executor=executor, runtime=runtime, log_path=log_path
            )
            if launch_record is not None:
                store.attempts.record_launch(attempt_id, launch_record)
            store.progress.update_operation(
                operation_progress_id(progress_id, operation),
                state=ProcessingState.EXECUTING,
                message="running",
                percent=0.0,
                started_time=started,
                attempt_time=started,
                attempt_count=attempt,
            )
        return attempt_id

    def record_launch(self, attempt_id: int, record: Mapping[str, Any]) -> None:
        self.store.attempts.record_launch(attempt_id, record)

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
        store = self.store
        with store.transaction():
            store.progress.update_operation(
                operation_progress_id(progress_id, operation),
                percent=percent,
                message=message,
                params=params,
            )
            store.progress.update_agenda(progress_id, percent=agenda_percent)

    def op_invalid(
        self, progress_id: str, operation: str, diagnostics: Sequence[DiagnosticEvent]
    ) -> None:
        self.store.progress.update_operation(
            operation_progress_id(progress_id, operation),
            state=ProcessingState.COMPLETE,
            message=FAILED,
            completed_time=now_ms(),
            diagnostics=diagnostics,
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
        store = self.store
        with store.transaction():
            store.progress.update_operation(
                operation_progress_id(progress_id, operation),
                state=ProcessingState.COMPLETE,
                message=SUCCEEDED if outcome.succeeded else FAILED,
                percent=percent,
                completed_time=now_ms(),
                result_payload=result if outcome.succeeded else None,
                set_result=outcome.succeeded,
                diagnostics=outcome.diagnostics,
                params=params,
                output_tail=outcome.output_tail,
            )
            store.attempts.end(
                attempt_id,
                outcome.outcome or (SUCCEEDED if outcome.succeeded else FAILED),
                exit_code=outcome.exit_code,
                message=outcome.diagnostics[0].message or "" if outcome.diagnostics else "",
            )
            store.progress.update_agenda(progress_id, percent=agenda_percent)

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
        store = self.store
        with store.transaction():
            store.attempts.end(
                attempt_id,
                outcome.outcome or FAILED,
                exit_code=outcome.exit_code,
                message=first or "",
            )
            store.progress.update_operation(
                operation_progress_id(progress_id, operation),
                message=message,
                percent=0.0,
                diagnostics=outcome.diagnostics,
                output_tail=outcome.output_tail,
            )
            store.progress.update_agenda(progress_id, percent=agenda_percent)

    def add_generated(
        self,
        agenda: Agenda,
        progress_id: str,
        operations: Sequence[OperationProgress],
        *,
        first_seq: int,
    ) -> None:
        store = self.store
        with store.transaction():
            store.agendas.update(agenda)
            store.progress.insert_operations(progress_id, operations, first_seq=first_seq)
