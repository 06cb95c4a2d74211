"""The ``pop`` commands end to end: real processes, a real store, the shipped examples
(DESIGN §5, §11; issue 2's acceptance)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pop

REPO_ROOT = Path(pop.__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"

RunPop = Callable[..., subprocess.CompletedProcess[str]]
StartPop = Callable[..., subprocess.Popen[str]]


def operations_by_name(progress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operation"]: op for op in progress["operationProgress"]}


def state_of(item: dict[str, Any]) -> str:
    return f"{item['processingState']}/{item['processingStateMessage']}"


def attempt_rows(home: Path, agenda_id: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute(
            "SELECT * FROM attempts WHERE agenda_id = ? ORDER BY id", (agenda_id,)
        ).fetchall()
        return [dict(row) for row in rows]
    finally:
        connection.close()


def write_agenda(folder: Path, name: str, *operations: dict[str, Any]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"title": name, "operations": list(operations)}), encoding="utf-8")
    return path


def sleeping_op(name: str, milliseconds: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "sample",
        "payload": {
            "actions": [
                {
                    "action": "log",
                    "paramsMap": {
                        "logMessage": f"{name} woke up",
                        "sleepMilliseconds": milliseconds,
                    },
                }
            ],
            "resultPayload": {"slept": milliseconds},
        },
        **extra,
    }


def status_json(run_pop: RunPop, agenda_id: str) -> dict[str, Any] | None:
    completed = run_pop("status", agenda_id, "--json")
    if completed.returncode != 0:
        return None
    document: dict[str, Any] = json.loads(completed.stdout)
    return document


def single_agenda_id(run_pop: RunPop) -> str | None:
    completed = run_pop("list", "--json")
    items = json.loads(completed.stdout) if completed.returncode == 0 else []
    return str(items[0]["agendaId"]) if items else None


# -- the examples ------------------------------------------------------------------------------


class ExampleRun:
    """One ``pop run-local EXAMPLE --json`` in its own POP_HOME."""

    def __init__(self, home: Path, completed: subprocess.CompletedProcess[str]) -> None:
        self.home = home
        self.completed = completed
        self.progress: dict[str, Any] = json.loads(completed.stdout)
        self.agenda_id: str = self.progress["agendaId"]
        self.operations = operations_by_name(self.progress)


def run_example(factory: pytest.TempPathFactory, pop_cli: Any, name: str) -> ExampleRun:
    home = factory.mktemp(name) / "pop_home"
    completed = pop_cli.run(home, "run-local", str(EXAMPLES / f"{name}.json"), "--json")
    return ExampleRun(home, completed)


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory, pop_cli: Any) -> ExampleRun:
    return run_example(tmp_path_factory, pop_cli, "hello")


@pytest.fixture(scope="module")
def failure(tmp_path_factory: pytest.TempPathFactory, pop_cli: Any) -> ExampleRun:
    return run_example(tmp_path_factory, pop_cli, "failure")


def test_hello_runs_to_success_and_prints_one_agenda_progress(hello: ExampleRun) -> None:
    assert hello.completed.returncode == 0, hello.completed.stderr
    assert isinstance(hello.progress, dict)
    assert state_of(hello.progress) == "COMPLETE/succeeded"
    assert hello.progress["percentComplete"] == 100
    assert list(hello.operations) == ["prepare", "shout", "whisper", "note", "combine"]
    for op in hello.operations.values():
        assert state_of(op) == "COMPLETE/succeeded", op["operation"]
        assert op["percentComplete"] == 100
        assert op["attemptCount"] == 1


def test_hello_passes_outputs_along_references(hello: ExampleRun) -> None:
    combined = hello.operations["combine"]["resultPayload"]

    assert combined["messages"] == ["hello, world!", "hello pop..."]
    assert combined["shoutTimes"] == 2
    assert type(combined["shoutTimes"]) is int
    assert combined["agendaId"] == hello.agenda_id
    assert hello.operations["shout"]["resultPayload"] == {"text": "hello, world!", "times": 2}


def test_hello_runs_independent_ops_at_the_same_time(hello: ExampleRun) -> None:
    shout, whisper = hello.operations["shout"], hello.operations["whisper"]

    assert shout["startedTime"] < whisper["completedTime"]
    assert whisper["startedTime"] < shout["completedTime"]


def test_status_shows_what_run_local_printed(hello: ExampleRun, pop_cli: Any) -> None:
    completed = pop_cli.run(hello.home, "status", hello.agenda_id, "--json")

    assert completed.returncode == 0
    shown = json.loads(completed.stdout)
    assert [change["action"] for change in shown.pop("changes")] == ["run-local"]
    assert shown == hello.progress


def test_status_accepts_a_unique_id_prefix(hello: ExampleRun, pop_cli: Any) -> None:
    completed = pop_cli.run(hello.home, "status", hello.agenda_id[:8], "--json")

    assert completed.returncode == 0
    assert json.loads(completed.stdout)["agendaId"] == hello.agenda_id


def test_failure_exits_1_with_the_agenda_complete_failed(failure: ExampleRun) -> None:
    assert failure.completed.returncode == 1
    assert state_of(failure.progress) == "COMPLETE/failed"
    assert state_of(failure.operations["download"]) == "COMPLETE/succeeded"
    assert state_of(failure.operations["transcode"]) == "COMPLETE/failed"
    agenda_messages = [event["message"] for event in failure.progress["diagnosticEvents"]]
    assert any("transcode" in message for message in agenda_messages)


def test_the_failed_op_s_diagnostic_holds_the_last_lines_of_its_output(
    failure: ExampleRun,
) -> None:
    events = failure.operations["transcode"]["diagnosticEvents"]

    messages = [event["message"] for event in events]
    assert any("cannot open source.mp4: no such file" in message for message in messages)
    tails = [event["payload"] for event in events if isinstance(event.get("payload"), list)]
    assert tails, events
    assert any("opening source.mp4" in line for tail in tails for line in tail)


def test_dependents_of_the_failed_op_stay_pending_and_are_never_launched(
    failure: ExampleRun, pop_cli: Any
) -> None:
    for name in ("package", "publish"):
        op = failure.operations[name]
        assert state_of(op) == "WAITING/pending"
        assert op["attemptCount"] == 0
        assert "startedTime" not in op
    launched = {row["operation"] for row in attempt_rows(failure.home, failure.agenda_id)}
    assert launched == {None, "download", "transcode"}  # None: the agenda's own attempt
    logs = pop_cli.run(failure.home, "logs", failure.agenda_id, "--json")
    assert {item["operation"] for item in json.loads(logs.stdout)} == {"download", "transcode"}


def test_logs_prints_the_output_lines_of_every_op(failure: ExampleRun, pop_cli: Any) -> None:
    completed = pop_cli.run(failure.home, "logs", failure.agenda_id)

    assert completed.returncode == 0
    output = completed.stdout
    assert "==> download (attempt 1) <==" in output
    assert "fetching source.mp4" in output
    assert "==> transcode (attempt 1) <==" in output
    assert "opening source.mp4" in output
    assert output.index("fetching source.mp4") < output.index("==> transcode")


def test_logs_of_one_op_prints_only_that_op(failure: ExampleRun, pop_cli: Any) -> None:
    completed = pop_cli.run(failure.home, "logs", failure.agenda_id, "transcode")

    assert completed.returncode == 0
    assert "opening source.mp4" in completed.stdout
    assert "fetching source.mp4" not in completed.stdout


def test_logs_of_an_unknown_op_exits_4(failure: ExampleRun, pop_cli: Any) -> None:
    completed = pop_cli.run(failure.home, "logs", failure.agenda_id, "nosuchop")

    assert completed.returncode == 4
    assert completed.stderr.startswith("error: ")
    assert "nosuchop" in completed.stderr.splitlines()[0]


# -- submit and list ---------------------------------------------------------------------------


def test_submit_json_prints_the_ids_and_list_shows_the_agenda_waiting(
    run_pop: RunPop,
) -> None:
    submitted = run_pop("submit", str(EXAMPLES / "hello.json"), "--json")

    assert submitted.returncode == 0, submitted.stderr
    submission = json.loads(submitted.stdout)
    assert submission["agendaId"] and submission["progressId"]
    assert submission["agendaId"] != submission["progressId"]

    listed = run_pop("list", "--json")
    assert listed.returncode == 0
    (item,) = json.loads(listed.stdout)
    assert item["agendaId"] == submission["agendaId"]
    assert item["id"] == submission["progressId"]
    assert state_of(item) == "WAITING/pending"
    assert {state_of(op) for op in item["operationProgress"]} == {"WAITING/pending"}


def test_list_filters_by_state(run_pop: RunPop) -> None:
    run_pop("submit", str(EXAMPLES / "hello.json"))

    waiting = json.loads(run_pop("list", "--state", "waiting", "--json").stdout)
    complete = json.loads(run_pop("list", "--state", "COMPLETE", "--json").stdout)

    assert len(waiting) == 1
    assert complete == []


def test_submit_without_json_prints_the_agenda_id(run_pop: RunPop) -> None:
    submitted = run_pop("submit", str(EXAMPLES / "hello.json"))

    assert submitted.returncode == 0
    assert status_json(run_pop, submitted.stdout.strip()) is not None


# -- a running agenda seen and stopped from a second process -----------------------------------


def test_status_from_a_second_process_shows_a_run_live(
    run_pop: RunPop, start_pop: StartPop, tmp_path: Path, wait_for: Callable[..., Any]
) -> None:
    # nap runs until the test has seen it (a fixed nap could end before a busy machine looks)
    go = tmp_path / "go"
    wait_for_go = ["sh", "-c", f'while [ ! -e "{go}" ]; do sleep 0.05; done']
    action = {"action": "externalExecute", "paramsMap": {"externalArgs": wait_for_go}}
    nap = {"name": "nap", "type": "sample", "payload": {"actions": [action]}}
    agenda_file = write_agenda(tmp_path, "napping", nap)
    running = start_pop("run-local", str(agenda_file), "--json")

    agenda_id = wait_for(lambda: single_agenda_id(run_pop), what="run-local to store the agenda")

    def executing() -> dict[str, Any] | None:
        progress = status_json(run_pop, agenda_id)
        if progress is None or progress["processingState"] != "EXECUTING":
            return None
        nap = operations_by_name(progress)["nap"]
        return progress if nap["processingState"] == "EXECUTING" else None

    seen = wait_for(executing, what="the agenda and its op EXECUTING")
    go.touch()
    assert seen["processingStateMessage"] == "Running Operations"
    assert seen["lease"]["owner"]
    stdout, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr
    assert state_of(json.loads(stdout)) == "COMPLETE/succeeded"


def test_cancel_stops_a_running_agenda_which_ends_failed(
    run_pop: RunPop, start_pop: StartPop, tmp_path: Path, wait_for: Callable[..., Any]
) -> None:
    agenda_file = write_agenda(
        tmp_path,
        "long",
        sleeping_op("nap", 60_000),
        sleeping_op("after", 0, params={"dependsOn": "nap"}),
    )
    running = start_pop("run-local", str(agenda_file), "--json")
    agenda_id = wait_for(lambda: single_agenda_id(run_pop), what="run-local to store the agenda")
    wait_for(
        lambda: (
            (p := status_json(run_pop, agenda_id))
            and operations_by_name(p)["nap"]["processingState"] == "EXECUTING"
        ),
        what="nap EXECUTING",
    )

    cancelled = run_pop("cancel", agenda_id)

    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancel" in cancelled.stdout
    stdout, _ = running.communicate(timeout=30)
    assert running.returncode == 1
    final = json.loads(stdout)
    assert state_of(final) == "COMPLETE/failed"
    assert any("cancel" in event["message"] for event in final["diagnosticEvents"])
    assert state_of(operations_by_name(final)["nap"]) == "COMPLETE/failed"
    assert state_of(operations_by_name(final)["after"]) == "WAITING/pending"
    assert final.get("lease") is None


def test_cancel_of_a_waiting_agenda_ends_it_at_once(run_pop: RunPop) -> None:
    agenda_id = run_pop("submit", str(EXAMPLES / "hello.json")).stdout.strip()

    cancelled = run_pop("cancel", agenda_id, "--json")

    assert cancelled.returncode == 0
    assert state_of(json.loads(cancelled.stdout)) == "COMPLETE/failed"
    again = run_pop("cancel", agenda_id)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ")


# -- help, version, registry, handler ----------------------------------------------------------

_IMPORTED_SDKS = """
import sys
from pop.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
sdks = sorted(m for m in sys.modules if m.split(".")[0] in ("docker", "kubernetes"))
print("RESULT", code, ",".join(sdks))
"""


@pytest.mark.parametrize(
    "argv", [["--help"], ["run-local", "--help"], ["status", "--help"]], ids=" ".join
)
def test_help_does_not_import_docker_or_kubernetes(argv: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORTED_SDKS.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    result = completed.stdout.splitlines()[-1]
    assert result == "RESULT 0 ", completed.stdout + completed.stderr


_IMPORTED_WEB = """
import sys
from pop.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
web = sorted(m for m in sys.modules if m.split(".")[0] in ("fastapi", "starlette", "uvicorn"))
print("RESULT", code, ",".join(web))
"""


@pytest.mark.parametrize("argv", [["--help"], ["serve", "--help"]], ids=" ".join)
def test_help_does_not_import_the_web_framework(argv: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _IMPORTED_WEB.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    result = completed.stdout.splitlines()[-1]
    assert result == "RESULT 0 ", completed.stdout + completed.stderr


def test_help_import_trace_names_no_docker_or_kubernetes_module(pop_home: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pop", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0
    modules = [line.rsplit("|", 1)[-1].strip() for line in completed.stderr.splitlines()]
    assert modules, "no import trace"
    assert not [m for m in modules if m.split(".")[0] in ("docker", "kubernetes")]


def test_python_dash_m_pop_help_lists_the_commands(run_pop: RunPop) -> None:
    completed = run_pop("--help")

    assert completed.returncode == 0
    assert "Usage:" in completed.stdout
    for command in ("submit", "run-local", "status", "list", "logs", "cancel", "registry"):
        assert command in completed.stdout


def test_version_prints_the_version(run_pop: RunPop) -> None:
    completed = run_pop("--version")

    assert completed.returncode == 0
    assert completed.stdout.strip() == f"pop {pop.__version__}"


def command_paths() -> list[list[str]]:
    """Every command and command group of the CLI, walked from the typer app."""
    from typer.main import get_command

    from pop.cli.app import build_app

    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(get_command(build_app()), [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "pop")
def test_every_command_has_help_that_exits_0(path: list[str], run_pop: RunPop) -> None:
    completed = run_pop(*path, "--help")

    assert completed.returncode == 0, completed.stderr
    assert "Usage:" in completed.stdout


def test_registry_show_json_lists_the_built_in_types(run_pop: RunPop) -> None:
    completed = run_pop("registry", "show", "--json")

    assert completed.returncode == 0
    handlers = json.loads(completed.stdout)["handlers"]
    assert handlers["sample"]["handler"] == "pop.handlers.sample:run"
    assert handlers["logMessages"]["resident"] is True


def test_registry_validate_says_the_repository_registry_is_ok(pop_home: Path, pop_cli: Any) -> None:
    explicit = pop_cli.run(pop_home, "registry", "validate", str(REPO_ROOT / "registry.yaml"))
    found = pop_cli.run(pop_home, "registry", "validate", cwd=REPO_ROOT)

    assert explicit.returncode == 0, explicit.stderr
    assert explicit.stdout.strip().endswith(": ok")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "registry.yaml: ok"


def test_handler_run_runs_the_sample_handler_from_the_payload_env(run_pop: RunPop) -> None:
    payload = {
        "actions": [{"action": "log", "paramsMap": {"logMessage": "standalone hello"}}],
        "resultPayload": {"answer": 42},
    }

    completed = run_pop("handler", "run", "sample", env={"PAYLOAD": json.dumps(payload)})

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[-1] == "HandlerComplete"
    results = [
        json.loads(line[len("Payload: ") :]) for line in lines if line.startswith("Payload:")
    ]
    assert results == [{"answer": 42}]
    progress = [json.loads(line[len("Progress: ") :]) for line in lines if "Progress:" in line]
    assert state_of(progress[-1]) == "COMPLETE/succeeded"
    assert "standalone hello" in completed.stdout + completed.stderr


def test_handler_run_of_a_failing_sample_exits_non_zero_and_reports_failed(
    run_pop: RunPop,
) -> None:
    payload = {"actions": [{"action": "exception", "paramsMap": {"exceptionMessage": "nope"}}]}

    completed = run_pop("handler", "run", "sample", env={"PAYLOAD": json.dumps(payload)})

    assert completed.returncode != 0
    progress = [
        json.loads(line[len("Progress: ") :])
        for line in completed.stdout.splitlines()
        if line.startswith("Progress: ")
    ]
    assert state_of(progress[-1]) == "COMPLETE/failed"
    assert progress[-1]["diagnosticEvents"][0]["message"] == "nope"


def test_handler_run_of_an_unknown_type_is_bad_input(run_pop: RunPop) -> None:
    completed = run_pop("handler", "run", "smaple")

    assert completed.returncode == 2
    assert completed.stderr.startswith("error: ")
    assert "smaple" in completed.stderr.splitlines()[0]


def test_status_watch_draws_the_agenda_until_it_is_complete(run_pop: Any, tmp_path: Path) -> None:
    ran = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json")
    agenda_id = json.loads(ran.stdout)["agendaId"]
    watched = run_pop("status", agenda_id[:8], "--watch")
    assert watched.returncode == 0, watched.stderr
    assert "COMPLETE/succeeded" in watched.stdout and "combine" in watched.stdout
