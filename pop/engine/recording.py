"""What the executor writes to the store as ops progress, end, retry and the agenda finishes.

Layer: engine. Each function is one transaction; the executor (``pop.engine.executor``) decides,
these write. Keeping the writes here keeps the DAG walk readable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pop.engine.state import DONE_FAILED, OpState, Outcome, OutcomeKind
from pop.models import (
    FAILED,
    SUCCEEDED,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
    now_ms,
)
from pop.store import Store, operation_progress_id


def write_op_progress(
    store: Store, progress_id: str, state: OpState, progress: OperationProgress, percent: float
) -> None:
    """A running op's percent, message and params, and the agenda's ``percent``."""
    with store.transaction():
        store.progress.update_operation(
            operation_progress_id(progress_id, state.name),
            percent=state.percent,
            message=progress.processing_state_message or "running",
            params={**state.operation.params, **(progress.params or {})}
            if progress.params
            else None,
        )
        store.progress.update_agenda(progress_id, percent=percent)


def write_op_invalid(store: Store, progress_id: str, state: OpState, message: str) -> None:
    """An op that cannot be launched (invalid reference, unknown type): failed permanently."""
    state.status = DONE_FAILED
    state.outcome = OutcomeKind.INVALID
    state.diagnostics = [DiagnosticEvent.of(message)]
    store.progress.update_operation(
        operation_progress_id(progress_id, state.name),
        state=ProcessingState.COMPLETE,
        message=FAILED,
        completed_time=now_ms(),
        diagnostics=state.diagnostics,
    )


def external_recorder(
    store: Store, attempt_id: int, record: Mapping[str, Any]
) -> Callable[[dict[str, Any]], None]:
    """A callback that keeps a resident attempt's external launches in its attempt row's launch
    record, as ``externals: [{launchName, runtime, ref, details, name, cpus, startedTime,
    endedTime, reason, exitCode}]``: written when one starts (runtime, ref and details let the
    reclaimer stop it after this executor died) and again when it ends (an ended one is left
    alone). Events are matched by ``launchName``; one without it is added as it is; the
    ``launching`` event before a launch is not recorded."""
    externals: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}

    def on_external(event: dict[str, Any]) -> None:
        if event.get("launching"):
            return  # about to launch: nothing to record until it runs
        name = event.get("launchName")
        known = by_name.get(name) if isinstance(name, str) else None
        if known is not None:
            known.update(event)
        else:
            external = dict(event)
            externals.append(external)
            if isinstance(name, str):
                by_name[name] = external
        store.attempts.record_launch(attempt_id, {**record, "externals": externals})

    return on_external


def write_op_outcome(
    store: Store,
    progress_id: str,
    state: OpState,
    outcome: Outcome,
    attempt_id: int,
    percent: float,
) -> None:
    """An op's final state (COMPLETE succeeded or failed), its attempt's end, the agenda's
    ``percent``."""
    with store.transaction():
        store.progress.update_operation(
            operation_progress_id(progress_id, state.name),
            state=ProcessingState.COMPLETE,
            message=SUCCEEDED if outcome.succeeded else FAILED,
            percent=100.0 if outcome.succeeded else state.percent,
            completed_time=now_ms(),
            result_payload=state.output if outcome.succeeded else None,
            set_result=outcome.succeeded,
            diagnostics=outcome.diagnostics,
            params={**state.operation.params, **outcome.params} if outcome.params else None,
            output_tail=outcome.output_tail,
        )
        store.attempts.end(
            attempt_id,
            outcome.outcome or (SUCCEEDED if outcome.succeeded else FAILED),
            exit_code=outcome.exit_code,
            message=outcome.diagnostics[0].message or "" if outcome.diagnostics else "",
        )
        store.progress.update_agenda(progress_id, percent=percent)


def write_op_retry(
    store: Store,
    progress_id: str,
    state: OpState,
    outcome: Outcome,
    attempt_id: int,
    *,
    message: str,
    percent: float,
) -> None:
    """A failed attempt that will be retried: the attempt ends, the op shows ``message``."""
    first = outcome.diagnostics[0].message if outcome.diagnostics else "failed"
    with store.transaction():
        store.attempts.end(
            attempt_id, outcome.outcome or FAILED, exit_code=outcome.exit_code, message=first or ""
        )
        store.progress.update_operation(
            operation_progress_id(progress_id, state.name),
            message=message,
            percent=0.0,
            diagnostics=outcome.diagnostics,
            output_tail=outcome.output_tail,
        )
        store.progress.update_agenda(progress_id, percent=percent)


def write_agenda_end(
    store: Store,
    *,
    agenda_id: str,
    progress_id: str,
    executor_id: str,
    agenda_attempt: int,
    succeeded: bool,
    diagnostics: list[DiagnosticEvent],
    failure: str,
    percent: float,
) -> bool:
    """The agenda COMPLETE, its attempt ended and its lease released, only while this executor
    still holds the lease (False when it was taken over: the agenda is someone else's now)."""
    with store.transaction():
        owner, _ = store.progress.lease_of(agenda_id)
        if owner != executor_id:
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
            agenda_attempt,
            SUCCEEDED if succeeded else failure,
            message=diagnostics[0].message or "" if diagnostics else "",
        )
        store.progress.release_lease(agenda_id, executor_id)
    return True
