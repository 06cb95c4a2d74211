"""The launched entry point: protocol lines, exit codes and payload delivery, in real processes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pop.handlers import HandlerContext, PermanentError, handler
from pop.handlers.codec import encode_payload_env
from pop.handlers.entry import main, run_handler

from .conftest import RunHandler

SAMPLE = "pop.handlers.sample:run"


class Size(BaseModel):
    width: int
    height: int


@handler(payload_model=Size)
def area(ctx: HandlerContext) -> Any:
    return {"area": ctx.payload.width * ctx.payload.height}


def echo(ctx: HandlerContext) -> Any:
    return {"length": len(ctx.raw_payload or ""), "payload": ctx.payload}


def run_in_process(func: Any, argv: list[str], env: dict[str, str]) -> tuple[int, list[str]]:
    stdout = io.StringIO()
    code = run_handler(func, argv, env, stdout=stdout)
    return code, stdout.getvalue().splitlines()


def test_the_payload_is_validated_against_the_handler_model() -> None:
    code, lines = run_in_process(area, [], {"PAYLOAD": '{"width": 3, "height": 4}'})
    assert code == 0
    assert 'Payload: {"area":12}' in lines


def test_an_invalid_payload_fails_permanently_with_exit_code_2() -> None:
    code, lines = run_in_process(area, [], {"PAYLOAD": '{"width": "wide"}'})
    assert code == 2
    final = json.loads(lines[-2][len("Progress: ") :])
    message = final["diagnosticEvents"][0]["message"]
    assert message.startswith("Failed to translate payload to Size: ")
    assert "width" in message and "height" in message
    assert lines[-1] == "HandlerComplete"


def test_a_payload_that_is_not_json_fails_permanently() -> None:
    code, lines = run_in_process(echo, [], {"PAYLOAD": "{nope"})
    assert code == 2
    assert "Failed to parse the payload as JSON" in lines[-2]


def test_a_temporary_failure_exits_1_and_a_permanent_one_2() -> None:
    def permanent(ctx: HandlerContext) -> Any:
        raise PermanentError("no such input file")

    def temporary(ctx: HandlerContext) -> Any:
        ctx.fail("disk busy")

    assert run_in_process(permanent, [], {})[0] == 2
    assert run_in_process(temporary, [], {})[0] == 1


def test_bad_arguments_are_reported_through_the_protocol() -> None:
    code, lines = run_in_process(echo, ["-launchType", "moon"], {"OPERATION_NAME": "encode"})
    assert code == 2
    final = json.loads(lines[-2][len("Progress: ") :])
    assert final["operation"] == "encode"
    assert final["diagnosticEvents"][0]["message"] == "Failed to evaluate launchType: moon"
    assert lines[-1] == "HandlerComplete"


def test_an_unreadable_payload_file_is_reported_with_its_name(tmp_path: Path) -> None:
    missing = tmp_path / "gone.json"
    code, lines = run_in_process(echo, ["-payloadFile", str(missing)], {})
    assert code == 2
    assert f"Failed to load data from: {missing}" in lines[-2]


def test_main_reports_a_bad_handler_reference_through_the_protocol(
    capsys: Any,
) -> None:
    assert main(["pop.handlers", "no.such.module:run"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert "Cannot import the module of handler 'no.such.module:run'" in lines[-2]
    assert lines[-1] == "HandlerComplete"


def test_the_sample_handler_succeeds_in_a_real_process(run_handler_process: RunHandler) -> None:
    payload = {
        "actions": [{"action": "log", "paramsMap": {"logMessage": "hello from sample"}}],
        "resultPayload": {"out": "done"},
    }
    run = run_handler_process(
        SAMPLE,
        "--launchType",
        "local",
        env={"PAYLOAD": json.dumps(payload), "OPERATION_NAME": "sample1"},
    )
    assert run.exit_code == 0, run.stderr
    assert run.lines[-1] == "HandlerComplete"
    assert run.payload() == {"out": "done"}
    final = run.final_progress()
    assert (final["processingState"], final["processingStateMessage"]) == ("COMPLETE", "succeeded")
    assert final["operation"] == "sample1"
    assert "hello from sample" in run.stderr


def test_handler_complete_is_the_last_line_of_a_failed_run(
    run_handler_process: RunHandler,
) -> None:
    payload = {"actions": [{"action": "exception", "paramsMap": {"exceptionMessage": "boom"}}]}
    run = run_handler_process(SAMPLE, "-launchType", "local", env={"PAYLOAD": json.dumps(payload)})
    assert run.exit_code == 1
    assert run.lines[-1] == "HandlerComplete"
    assert run.lines[-2].startswith("Progress: ")
    assert run.final_progress()["diagnosticEvents"][0]["message"] == "boom"


def test_an_invalid_sample_payload_exits_2_in_a_real_process(
    run_handler_process: RunHandler,
) -> None:
    run = run_handler_process(SAMPLE, env={"PAYLOAD": '{"actions": [{"paramsMap": {}}]}'})
    assert run.exit_code == 2
    message = run.final_progress()["diagnosticEvents"][0]["message"]
    assert message.startswith("Failed to translate payload to SamplePayload: actions.0.action")
    assert run.lines[-1] == "HandlerComplete"


def test_a_compressed_500000_char_payload_reaches_a_real_handler_exactly(
    run_handler_process: RunHandler,
) -> None:
    payload_json = json.dumps({"actions": [], "resultPayload": {"blob": ""}}, separators=(",", ":"))
    filler = "".join(chr(ord("a") + (i * 7919) % 26) for i in range(500_000 - len(payload_json)))
    payload_json = payload_json.replace('"blob":""', f'"blob":"{filler}"')
    assert len(payload_json) == 500_000
    env = encode_payload_env(payload_json)
    assert env["POP_PAYLOAD_TYPE"] == "compressedEnvVar"
    run = run_handler_process(SAMPLE, env=env)
    assert run.exit_code == 0, run.stderr
    assert run.payload() == {"blob": filler}


def test_the_payload_file_argument_feeds_a_real_handler(
    run_handler_process: RunHandler, tmp_path: Path
) -> None:
    payload_file = tmp_path / "payload.json"
    payload_file.write_text('{"resultPayload": {"from": "file"}}', encoding="utf-8")
    run = run_handler_process(
        SAMPLE, "-payloadFile", str(payload_file), env={"PAYLOAD": '{"resultPayload": 1}'}
    )
    assert run.exit_code == 0, run.stderr
    assert run.payload() == {"from": "file"}
