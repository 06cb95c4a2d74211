"""The sample handler: actions, sleep progress, last-progress jobInfo, external commands."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pop.handlers import sample
from pop.handlers.external import EXITED, ExternalResult, spec_name
from pop.handlers.resident import run_resident
from pop.models import OperationProgress, ProcessingState
from pop.runtimes.base import EXITED as RUNTIME_EXITED

from .conftest import RunHandler


def run_sample(payload: Any, **kwargs: Any) -> tuple[Any, list[OperationProgress], list[str]]:
    seen: list[OperationProgress] = []
    logged: list[str] = []
    outcome = run_resident(
        sample.run,
        payload,
        operation_name="s1",
        on_progress=seen.append,
        on_log=logged.append,
        **kwargs,
    )
    return outcome, seen, logged


def test_actions_run_in_order_and_the_result_payload_is_the_result() -> None:
    payload = {
        "actions": [
            {"action": "log", "paramsMap": {"logMessage": "first"}},
            {"action": "log", "paramsMap": {"logMessage": "second"}},
        ],
        "resultPayload": {"out": 1},
    }
    outcome, _, logged = run_sample(payload)
    assert outcome.succeeded and outcome.result == {"out": 1}
    assert logged == ["first", "second"]


def test_no_result_payload_means_an_empty_result() -> None:
    assert run_sample({"actions": []})[0].result == {}


def test_the_exception_action_fails_with_its_message() -> None:
    payload = {"actions": [{"action": "exception", "paramsMap": {"exceptionMessage": "boom"}}]}
    outcome, _, _ = run_sample(payload)
    assert not outcome.succeeded and not outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == "boom"


def test_an_unknown_action_fails_permanently() -> None:
    outcome, _, _ = run_sample({"actions": [{"action": "dance"}]})
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == "Invalid action specified: dance"


def test_the_job_id_of_the_last_progress_is_logged() -> None:
    last = OperationProgress.model_validate({"params": {"jobInfo": {"jobId": "123456-987654"}}})
    _, _, logged = run_sample({"actions": []}, last_progress=last)
    assert any("123456-987654" in line for line in logged)


def test_a_sleep_reports_one_progress_step_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(sample, "_sleep", slept.append)
    payload = {"actions": [{"action": "log", "paramsMap": {"sleepMilliseconds": 3500}}]}
    _, seen, _ = run_sample(payload)
    executing = [p for p in seen if p.processing_state == ProcessingState.EXECUTING]
    assert [round(p.percent_complete or 0, 1) for p in executing] == [0.0, 33.3, 66.7]
    assert all(p.params == {"JobId": sample.JOB_ID} for p in executing)
    assert [round(step, 4) for step in slept] == [1.1667, 1.1667, 1.1667]
    assert round(sum(slept), 6) == 3.5


def test_a_short_sleep_lasts_the_requested_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """300 ms is slept as 300 ms (POP slept whole seconds): one step of the requested time."""
    slept: list[float] = []
    monkeypatch.setattr(sample, "_sleep", slept.append)
    payload = {"actions": [{"action": "log", "paramsMap": {"sleepMilliseconds": 300}}]}
    outcome, seen, _ = run_sample(payload)
    assert outcome.succeeded
    assert slept == [pytest.approx(0.3)]
    assert [p.percent_complete for p in seen] == [0.0, 100.0]


def test_an_invalid_sleep_fails_permanently() -> None:
    payload = {"actions": [{"action": "log", "paramsMap": {"sleepMilliseconds": "soon"}}]}
    outcome, _, _ = run_sample(payload)
    assert outcome.permanent
    assert "Invalid sleepMilliseconds: soon" in outcome.progress.diagnostic_events[-1].message


def test_external_execute_needs_a_list_of_strings() -> None:
    payload = {"actions": [{"action": "externalExecute", "paramsMap": {"externalArgs": "ls -l"}}]}
    outcome, _, _ = run_sample(payload)
    assert outcome.permanent
    assert "externalArgs" in outcome.progress.diagnostic_events[-1].message


def test_the_exited_reason_matches_the_runtime_protocol() -> None:
    assert EXITED == RUNTIME_EXITED


def test_an_external_result_describes_the_command_and_its_last_lines() -> None:
    result = ExternalResult(3, "exited", ["hi"], ("sh", "-c", "echo hi; exit 3"))
    assert not result.ok
    assert result.describe() == (
        "External command `sh -c 'echo hi; exit 3'` exited with exit code 3. Last output lines: hi"
    )
    assert ExternalResult(None, "timeout").describe().endswith("ended: timeout.")


def test_launch_names_are_safe_for_pods_and_unique() -> None:
    name = spec_name("My_Op/ffmpeg.exe" * 5)
    assert len(name) <= 63 and name == name.lower()
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")
    assert spec_name("x") != spec_name("x")


def external_payload(args: list[str]) -> str:
    return json.dumps(
        {
            "actions": [{"action": "externalExecute", "paramsMap": {"externalArgs": args}}],
            "resultPayload": {"ran": True},
        }
    )


def test_a_failing_external_command_fails_the_op_naming_it(
    run_handler_process: RunHandler,
) -> None:
    run = run_handler_process(
        "pop.handlers.sample:run",
        "--launchType",
        "local",
        env={"PAYLOAD": external_payload(["sh", "-c", "echo hi; exit 3"])},
    )
    assert run.exit_code == 1, run.stderr
    [event] = run.final_progress()["diagnosticEvents"]
    assert "sh -c 'echo hi; exit 3'" in event["message"]
    assert "exit code 3" in event["message"]
    assert event["payload"] == ["hi"]
    assert run.lines[-1] == "HandlerComplete"
    assert "[sh] hi" in run.stderr


def test_a_succeeding_external_command_lets_the_op_succeed(
    run_handler_process: RunHandler,
) -> None:
    run = run_handler_process(
        "pop.handlers.sample:run",
        "--launchType",
        "local",
        env={"PAYLOAD": external_payload(["true"])},
    )
    assert run.exit_code == 0, run.stderr
    assert run.payload() == {"ran": True}


def test_external_commands_run_in_the_op_folder(tmp_path: Any) -> None:
    op_dir = tmp_path / "op1"
    op_dir.mkdir()
    payload = {
        "actions": [
            {
                "action": "externalExecute",
                "paramsMap": {"externalArgs": ["sh", "-c", "pwd > where"]},
            }
        ]
    }
    outcome, _, _ = run_sample(payload, work_dir=tmp_path, op_dir=op_dir)
    assert outcome.succeeded, outcome.progress.diagnostic_events
    assert (op_dir / "where").read_text().strip() == str(op_dir)
