"""Resident handlers: outcome, diagnostics order, progress callback, cost per op."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import BaseModel

from pop.handlers import HandlerContext, PermanentError, handler
from pop.handlers import log as log_handlers
from pop.handlers.resident import run_resident
from pop.models import OperationProgress, ProcessingState


def resident(func: Any, payload: Any = None, **kwargs: Any) -> tuple[Any, list[OperationProgress]]:
    seen: list[OperationProgress] = []
    outcome = run_resident(func, payload, operation_name="op1", on_progress=seen.append, **kwargs)
    return outcome, seen


def test_a_returned_value_is_the_result_of_a_succeeded_op() -> None:
    outcome, seen = resident(lambda ctx: {"frames": 10})
    assert outcome.succeeded and not outcome.permanent
    assert outcome.result == {"frames": 10}
    assert seen == [outcome.progress]
    progress = outcome.progress
    assert progress.processing_state == ProcessingState.COMPLETE
    assert progress.operation == "op1"
    assert progress.started_time is not None and progress.completed_time is not None


def test_a_handler_returning_none_succeeds_with_an_empty_object() -> None:
    outcome, _ = resident(log_handlers.noop)
    assert outcome.succeeded and outcome.result == {}


def test_progress_reaches_the_callback_in_order() -> None:
    def work(ctx: HandlerContext) -> Any:
        ctx.progress(30, "decoding")
        ctx.progress(60, "encoding")
        return None

    _, seen = resident(work)
    assert [(p.processing_state, p.percent_complete) for p in seen] == [
        (ProcessingState.EXECUTING, 30.0),
        (ProcessingState.EXECUTING, 60.0),
        (ProcessingState.COMPLETE, 100.0),
    ]
    assert seen[0].processing_state_message == "decoding"


def test_an_exception_puts_the_resident_diagnostic_first() -> None:
    def work(ctx: HandlerContext) -> Any:
        ctx.fail("the handler's own diagnostic")
        raise ValueError("broken")

    outcome, _ = resident(work)
    assert not outcome.succeeded
    messages = [event.message for event in outcome.progress.diagnostic_events]
    assert messages == [
        "Resident execution failed for operation: op1",
        "the handler's own diagnostic",
        "Handler failed for operation op1: ValueError: broken",
    ]
    assert outcome.result is None


def test_a_permanent_error_is_marked_permanent() -> None:
    def work(ctx: HandlerContext) -> Any:
        raise PermanentError("unsupported codec")

    outcome, _ = resident(work)
    assert outcome.permanent
    assert [event.message for event in outcome.progress.diagnostic_events] == [
        "Resident execution failed for operation: op1",
        "unsupported codec",
    ]


class Payload(BaseModel):
    count: int


def test_the_payload_is_validated_against_the_model() -> None:
    @handler(payload_model=Payload)
    def work(ctx: HandlerContext) -> Any:
        return {"double": ctx.payload.count * 2}

    assert resident(work, {"count": 2})[0].result == {"double": 4}
    outcome, _ = resident(work, {"count": "many"})
    assert outcome.permanent and not outcome.succeeded
    message = outcome.progress.diagnostic_events[0].message
    assert message.startswith("Failed to translate payload to Payload: count")


def test_the_context_sees_folders_last_progress_and_env(tmp_path: Any) -> None:
    last = OperationProgress.model_validate({"params": {"jobInfo": {"jobId": "j1"}}})
    seen: dict[str, Any] = {}

    def work(ctx: HandlerContext) -> Any:
        seen.update(
            work_dir=ctx.work_dir,
            op_dir=ctx.op_dir,
            job=ctx.last_progress_param("jobInfo"),
            agenda=ctx.launch_data.agenda_id,
            external=ctx.launch_data.external_launch_type,
        )
        return None

    resident(
        work,
        last_progress=last,
        work_dir=tmp_path,
        op_dir=tmp_path / "op1",
        env={"AGENDA_ID": "a1"},
        external_launch_type="docker",
    )
    assert seen == {
        "work_dir": tmp_path,
        "op_dir": tmp_path / "op1",
        "job": {"jobId": "j1"},
        "agenda": "a1",
        "external": "docker",
    }


def test_log_messages_are_logged_in_order() -> None:
    lines: list[str] = []
    outcome, _ = resident(log_handlers.run, {"logMessages": ["one", "two"]}, on_log=lines.append)
    assert outcome.succeeded and outcome.result == {}
    assert lines == ["one", "two"]


def test_a_noop_resident_op_costs_far_less_than_half_a_millisecond() -> None:
    count = 2000
    # CPU time of this process, not wall time: other processes on a busy machine do not count.
    started = time.process_time()
    for _ in range(count):
        run_resident(log_handlers.noop, None, operation_name="op", on_progress=lambda p: None)
    per_op = (time.process_time() - started) / count
    assert per_op < 0.0002, f"{per_op * 1e6:.0f} µs per op"


@pytest.mark.parametrize("payload", [None, {}])
def test_log_messages_without_messages_succeeds(payload: Any) -> None:
    assert resident(log_handlers.run, payload)[0].succeeded
