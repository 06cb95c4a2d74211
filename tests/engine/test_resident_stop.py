"""Resident handlers that run external binaries: a timeout or a cancel stops the binary (a real
process), the op fails saying which, and the handler's log lines go to the attempt's log file."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

from pop.engine.executor import AgendaRunner, RunOptions
from pop.runtimes.fake import FakeLauncher
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings, run_agenda

# the op itself runs resident; its external binary is a real local process
LOCAL_EXTERNALS = RunOptions(launch="fake", external_launch="local")
RESIDENT_SAMPLE = {"residentSample": {"handler": "pop.handlers.sample:run", "resident": True}}


def sleeper(pid_file: Path, **extra: Any) -> dict[str, Any]:
    """A resident op whose external command records its pid, then sleeps for a minute."""
    script = f"echo $$ > {pid_file}; exec sleep 60"
    return {
        "name": "slow",
        "type": "residentSample",
        "payload": {
            "actions": [
                {"action": "externalExecute", "paramsMap": {"externalArgs": ["sh", "-c", script]}}
            ]
        },
        **extra,
    }


def process_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def wait_for_file(path: Path, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_resident_op_past_its_timeout_stops_its_external_binary(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agenda = {"operations": [sleeper(pid_file, params={"timeoutSeconds": 1})]}
    run = run_agenda(
        tmp_path,
        agenda,
        FakeLauncher(),
        registry=make_registry(tmp_path, RESIDENT_SAMPLE),
        options=LOCAL_EXTERNALS,
    )
    assert run.progress.failed
    messages = [event.message for event in run.op("slow").diagnostic_events]
    assert "operation 'slow' timed out after 1 s" in messages
    (attempt,) = run.attempts("slow")
    assert attempt["outcome"] == "timeout"
    # stopped at its 1 s timeout, not after the binary's minute (loose: a busy machine is slow)
    assert 900 <= attempt["endedTime"] - attempt["startedTime"] < 20_000
    assert process_gone(int(pid_file.read_text()))


def test_cancelling_stops_a_resident_ops_external_binary(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    agenda = {"operations": [sleeper(pid_file)]}

    async def cancel_when_started(runner: AgendaRunner, store: Store, agenda_id: str) -> None:
        await asyncio.to_thread(wait_for_file, pid_file)
        runner.cancel("cancelled by the test")

    run = run_agenda(
        tmp_path,
        agenda,
        FakeLauncher(),
        registry=make_registry(tmp_path, RESIDENT_SAMPLE),
        options=LOCAL_EXTERNALS,
        during=cancel_when_started,
    )
    assert run.progress.failed
    messages = [event.message for event in run.op("slow").diagnostic_events]
    assert "operation 'slow' was cancelled" in messages
    assert process_gone(int(pid_file.read_text()))


def test_resident_log_lines_go_to_the_attempts_log_file(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            {"name": "say", "type": "logMessages", "payload": {"logMessages": ["first", "second"]}},
            {"name": "quiet", "type": "noop", "payload": {}},
        ]
    }
    settings = make_settings(tmp_path)
    run = run_agenda(tmp_path, agenda, FakeLauncher(), settings=settings)
    assert run.progress.succeeded
    log_path = Path(run.attempts("say")[0]["logPath"])
    text = log_path.read_text()
    assert "first" in text and "second" in text
    assert log_path.parent.parent == settings.logs_dir
    # a resident op that logs nothing leaves no file behind
    assert not Path(run.attempts("quiet")[0]["logPath"]).exists()


def external_op(name: str, script: str, delay_ms: int = 0, **extra: Any) -> dict[str, Any]:
    """A resident op whose one external launch runs ``sh -c script`` after ``delay_ms``."""
    params = {"externalArgs": ["sh", "-c", script], "sleepMilliseconds": delay_ms}
    action = {"action": "externalExecute", "paramsMap": params}
    return {"name": name, "type": "residentSample", "payload": {"actions": [action]}, **extra}


def run_on_one_cpu(tmp_path: Path, agenda: dict[str, Any]) -> Any:
    """Run ``agenda`` with resident sample ops whose external launches are local processes,
    on a budget of one CPU."""
    return run_agenda(
        tmp_path,
        agenda,
        FakeLauncher(),
        registry=make_registry(tmp_path, RESIDENT_SAMPLE),
        options=RunOptions(launch="fake", external_launch="local", cpus=1),
    )


def test_resident_ops_start_at_once_and_their_launches_take_turns_on_one_cpu(
    tmp_path: Path,
) -> None:
    agenda = {"operations": [external_op(f"op{i}", "sleep 0.5") for i in range(3)]}
    run = run_on_one_cpu(tmp_path, agenda)
    assert run.progress.succeeded, run.progress.diagnostic_events
    attempts = run.attempts()
    launches = sorted(
        (external["startedTime"], external["endedTime"])
        for attempt in attempts
        for external in attempt["launched"]["externals"]
    )
    assert len(launches) == 3
    # the ops did not wait for each other: all had started before the first launch gave the
    # CPU back (an order of recorded times, so a busy machine cannot make it flake)
    assert max(attempt["startedTime"] for attempt in attempts) <= launches[0][1]
    assert all(external["cpus"] == 1.0 for a in attempts for external in a["launched"]["externals"])
    for (_, ended), (started, _) in itertools.pairwise(launches):
        assert started >= ended  # one CPU: one launch at a time
    waits = {e.operation for e in run.events if (e.message or "").startswith("waiting for 1 CPU")}
    assert len(waits) == 2  # the two that queued said so in their progress


def test_an_op_stopped_while_waiting_for_cpu_never_launches(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    agenda = {
        "operations": [
            external_op(
                "holder", f"echo $$ > {first}; exec sleep 60", params={"timeoutSeconds": 2}
            ),
            external_op(  # asks for the CPU after the holder took it
                "waiter", f"echo $$ > {second}; exec sleep 60", 300, params={"timeoutSeconds": 1}
            ),
        ]
    }
    run = run_on_one_cpu(tmp_path, agenda)
    assert run.progress.failed
    (waiter,) = run.attempts("waiter")
    assert waiter["outcome"] == "timeout"
    # its 1 s timeout stopped the wait (loose bound: the holder's binary sleeps a minute)
    assert 900 <= waiter["endedTime"] - waiter["startedTime"] < 20_000
    assert "externals" not in waiter["launched"]  # it never got the CPU, so never launched
    assert not second.exists()
    assert process_gone(int(first.read_text()))
