"""HandlerContext and the reporters: progress shape, coalescing, completion is final."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from pop.errors import PermanentError, TemporaryError
from pop.handlers.context import HandlerContext, invoke
from pop.handlers.launchdata import LaunchData
from pop.handlers.reporting import CallbackReporter, StdoutReporter
from pop.models import DiagnosticEvent, OperationProgress, ProcessingState


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stdout_context(clock: FakeClock | None = None) -> tuple[HandlerContext, io.StringIO]:
    stream = io.StringIO()
    reporter = StdoutReporter(stream, clock=clock or FakeClock())
    return HandlerContext(reporter, LaunchData(), operation_name="encode"), stream


def callback_context() -> tuple[HandlerContext, list[OperationProgress]]:
    seen: list[OperationProgress] = []
    return HandlerContext(CallbackReporter(seen.append), LaunchData(), operation_name="op"), seen


def progress_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    prefix = "Progress: "
    lines = stream.getvalue().splitlines()
    return [json.loads(line[len(prefix) :]) for line in lines if line.startswith(prefix)]


def test_progress_lines_carry_state_percent_params_and_operation() -> None:
    ctx, stream = stdout_context()
    ctx.progress(25, "quarter", params={"jobInfo": {"jobId": "j1"}})
    [line] = progress_lines(stream)
    assert line["operation"] == "encode"
    assert line["processingState"] == "EXECUTING"
    assert line["processingStateMessage"] == "quarter"
    assert line["percentComplete"] == 25.0
    assert line["params"] == {"jobInfo": {"jobId": "j1"}}
    assert isinstance(line["startedTime"], int)
    assert "completedTime" not in line


def test_success_writes_the_payload_before_the_complete_progress() -> None:
    ctx, stream = stdout_context()
    ctx.succeed({"out": "file.mp4"})
    lines = stream.getvalue().splitlines()
    assert lines[0] == 'Payload: {"out":"file.mp4"}'
    final = json.loads(lines[1][len("Progress: ") :])
    assert final["processingState"] == "COMPLETE"
    assert final["processingStateMessage"] == "succeeded"
    assert final["percentComplete"] == 100.0
    assert final["completedTime"] >= final["startedTime"]
    assert ctx.exit_code == 0


def test_failure_carries_diagnostics_and_no_payload() -> None:
    ctx, stream = stdout_context()
    ctx.progress(40)
    ctx.fail(["first", DiagnosticEvent.of("second", payload=["tail"])])
    assert not any(line.startswith("Payload:") for line in stream.getvalue().splitlines())
    final = progress_lines(stream)[-1]
    assert final["processingStateMessage"] == "failed"
    assert final["percentComplete"] == 40.0
    assert [event["message"] for event in final["diagnosticEvents"]] == ["first", "second"]
    assert final["diagnosticEvents"][1]["payload"] == ["tail"]
    assert ctx.exit_code == 1


def test_a_permanent_failure_exits_2() -> None:
    ctx, _ = stdout_context()
    ctx.fail("bad input", permanent=True)
    assert ctx.permanent and ctx.exit_code == 2


def test_complete_is_final() -> None:
    ctx, stream = stdout_context()
    ctx.succeed({"a": 1})
    ctx.progress(50)
    ctx.fail("too late")
    ctx.succeed({"b": 2})
    assert len(progress_lines(stream)) == 1
    assert ctx.succeeded and ctx.result == {"a": 1}


def test_progress_is_coalesced_unless_percent_or_time_moves_enough() -> None:
    clock = FakeClock()
    ctx, stream = stdout_context(clock)
    for step in range(10):
        ctx.progress(10 + step * 0.1)
    assert [line["percentComplete"] for line in progress_lines(stream)] == [10.0]
    ctx.progress(11.5)
    clock.now += 0.6
    ctx.progress(11.6)
    ctx.succeed()
    percents = [line["percentComplete"] for line in progress_lines(stream)]
    assert percents == [10.0, 11.5, 11.6, 100.0]


def test_progress_params_are_merged_and_kept_until_the_end() -> None:
    ctx, seen = callback_context()
    ctx.progress(10, params={"jobInfo": {"jobId": "j1"}})
    ctx.progress(20, params={"step": 2})
    ctx.succeed()
    assert seen[-1].params == {"jobInfo": {"jobId": "j1"}, "step": 2}
    assert [progress.percent_complete for progress in seen] == [10.0, 20.0, 100.0]


def test_the_callback_reporter_sees_every_progress() -> None:
    ctx, seen = callback_context()
    for percent in (1, 1.1, 1.2):
        ctx.progress(percent)
    assert len(seen) == 3
    assert all(progress.processing_state == ProcessingState.EXECUTING for progress in seen)


def test_a_pydantic_result_is_sent_as_its_json_object() -> None:
    ctx, stream = stdout_context()
    ctx.succeed(OperationProgress(operation="x"))
    assert stream.getvalue().splitlines()[0] == 'Payload: {"operation":"x"}'


def test_returning_a_value_succeeds_with_it() -> None:
    ctx, _ = callback_context()
    invoke(lambda ctx: {"n": 1}, ctx)
    assert ctx.succeeded and ctx.result == {"n": 1}


def test_returning_none_succeeds_with_an_empty_object() -> None:
    ctx, _ = callback_context()
    invoke(lambda ctx: None, ctx)
    assert ctx.succeeded and ctx.result == {}


def test_a_returned_value_does_not_override_an_earlier_completion() -> None:
    def handler(ctx: HandlerContext) -> Any:
        ctx.fail("no input")
        return {"ignored": True}

    ctx, _ = callback_context()
    invoke(handler, ctx)
    assert not ctx.succeeded and ctx.result is None


def test_a_result_that_is_not_json_fails_the_op() -> None:
    ctx, stream = stdout_context()
    invoke(lambda ctx: {"values": {1, 2}}, ctx)
    assert not ctx.succeeded
    assert "is not JSON" in progress_lines(stream)[-1]["diagnosticEvents"][0]["message"]
    assert not any(line.startswith("Payload:") for line in stream.getvalue().splitlines())


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [(PermanentError("gone for good"), 2), (TemporaryError("try later", delay=5), 1)],
)
def test_sdk_errors_fail_with_their_message(error: Exception, exit_code: int) -> None:
    def handler(ctx: HandlerContext) -> Any:
        raise error

    ctx, _ = callback_context()
    invoke(handler, ctx)
    final = ctx.final_progress
    assert final is not None and final.diagnostic_events is not None
    assert [event.message for event in final.diagnostic_events] == [str(error)]
    assert final.diagnostic_events[0].stack_trace is None
    assert ctx.exit_code == exit_code


def test_an_unexpected_exception_fails_with_its_type_and_stack_trace() -> None:
    def handler(ctx: HandlerContext) -> Any:
        raise KeyError("width")

    ctx, _ = callback_context()
    invoke(handler, ctx)
    final = ctx.final_progress
    assert final is not None and final.diagnostic_events is not None
    [event] = final.diagnostic_events
    assert event.message == "Handler failed for operation op: KeyError: 'width'"
    assert event.stack_trace is not None and "raise KeyError" in event.stack_trace


def test_an_exception_after_success_still_fails_the_op() -> None:
    def handler(ctx: HandlerContext) -> Any:
        ctx.succeed({"a": 1})
        raise RuntimeError("cleanup failed")

    ctx, seen = callback_context()
    invoke(handler, ctx)
    assert not ctx.succeeded
    assert seen[-1].processing_state_message == "failed"


def test_the_log_goes_to_stderr_as_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    ctx, stream = stdout_context()
    ctx.log("hello")
    assert capsys.readouterr().err == "hello\n"
    assert stream.getvalue() == ""


def test_last_progress_params_are_readable_from_the_context() -> None:
    last = OperationProgress.model_validate({"params": {"jobInfo": {"jobId": "j9"}}})
    ctx = HandlerContext(CallbackReporter(lambda p: None), LaunchData(), last_progress=last)
    assert ctx.last_progress_param("jobInfo") == {"jobId": "j9"}
    assert ctx.last_progress_param("other") is None


def test_external_settings_come_from_pop_external() -> None:
    env = {"POP_EXTERNAL": json.dumps({"ffmpeg": {"cpus": 2.5, "image": "pop-ffmpeg:1"}})}
    ctx = HandlerContext(CallbackReporter(lambda progress: None), LaunchData(env=env))
    assert ctx.external_settings("ffmpeg") == {"cpus": 2.5, "image": "pop-ffmpeg:1"}
    assert ctx.external_settings("ffprobe") == {}
    broken = HandlerContext(
        CallbackReporter(lambda progress: None), LaunchData(env={"POP_EXTERNAL": "{not json"})
    )
    assert broken.external_settings("ffmpeg") == {}
