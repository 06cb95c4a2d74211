"""Timeouts, silence timeouts, retries with backoff, cancel, agenda timeouts: real processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path
from typing import Any

from pop.engine.executor import AgendaRunner
from pop.models import now_ms
from pop.runtimes.local import LocalLauncher
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings, run_agenda


def sh(name: str, script: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "type": "sh", "payload": {"args": [script]}, "params": params}


def alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie waiting for its parent does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_handler_past_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"sleep 60 & echo $! > {pids}; sleep 60"
    run = run_agenda(
        tmp_path, {"operations": [sh("slow", script, timeoutSeconds=1)]}, LocalLauncher()
    )
    assert run.progress.failed
    (attempt,) = run.attempts("slow")
    assert attempt["outcome"] == "timeout"
    # stopped at its 1 s timeout, not after the script's minute (loose: a busy machine is slow)
    assert 900 <= attempt["endedTime"] - attempt["startedTime"] < 20_000
    assert "timed out after 1 s" in (run.op("slow").diagnostic_events[-1].message or "")
    child = int(pids.read_text())
    assert not alive(child)
    assert not alive(attempt["launched"]["details"]["pid"])


def test_a_silent_protocol_handler_hits_the_silence_timeout(tmp_path: Path) -> None:
    code = (
        "import time\n"
        'print(\'Progress: {"processingState":"EXECUTING","percentComplete":1}\', flush=True)\n'
        "time.sleep(60)\n"
    )
    agenda = {
        "operations": [
            {
                "name": "mute",
                "type": "python",
                "payload": {"args": [code]},
                "params": {"silenceTimeoutSeconds": 1},
            }
        ]
    }
    run = run_agenda(tmp_path, agenda, LocalLauncher())
    assert run.progress.failed
    message = run.op("mute").diagnostic_events[-1].message or ""
    assert "printed nothing for 1 s (silence timeout)" in message
    (attempt,) = run.attempts("mute")
    assert 900 <= attempt["endedTime"] - attempt["startedTime"] < 20_000  # not its minute


def test_a_handler_failing_twice_then_succeeding_is_retried_with_backoff(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
        f'echo "attempt $n"; [ $n -ge 3 ]'
    )
    retries = {"limit": 3, "backoffSeconds": 1, "factor": 1}
    run = run_agenda(
        tmp_path, {"operations": [sh("flaky", script, retries=retries)]}, LocalLauncher()
    )
    assert run.progress.succeeded, run.progress.diagnostic_events
    assert run.op("flaky").attempt_count == 3
    attempts = run.attempts("flaky")
    assert [a["outcome"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    for earlier, later in itertools.pairwise(attempts):
        gap = later["startedTime"] - earlier["endedTime"]
        assert 900 <= gap < 15_000, gap  # the 1 s backoff; loose above for a busy machine


def test_a_permanent_error_is_not_retried(tmp_path: Path) -> None:
    payload = {"actions": [{"action": "explode"}]}
    agenda = {
        "operations": [
            {"name": "bad", "type": "sample", "payload": payload, "params": {"retries": 3}}
        ]
    }
    run = run_agenda(tmp_path, agenda, LocalLauncher())
    assert run.progress.failed
    assert run.op("bad").attempt_count == 1
    assert run.attempts("bad")[0]["outcome"] == "permanent"


def test_a_waiting_retry_holds_no_slot(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    agenda = {
        "operations": [
            sh("flaky", "exit 1", retries={"limit": 1, "backoffSeconds": 1}),
            sh("other", "sleep 0.2"),
        ]
    }
    from pop.engine.executor import RunOptions

    run = run_agenda(
        tmp_path, agenda, LocalLauncher(), options=RunOptions(concurrency=1), registry=registry
    )
    flaky = run.attempts("flaky")
    other = run.attempts("other")[0]
    assert len(flaky) == 2
    assert flaky[0]["endedTime"] <= other["startedTime"] < flaky[1]["startedTime"]


def test_cancel_ends_a_running_agenda_quickly_and_leaves_no_process(tmp_path: Path) -> None:
    requested: list[int] = []
    pids = tmp_path / "pids"

    async def cancel_when_running(runner: AgendaRunner, store: Store, agenda_id: str) -> None:
        while not pids.exists():
            await asyncio.sleep(0.05)
        requested.append(now_ms())
        store.progress.request_cancel(agenda_id)

    script = f"sleep 60 & echo $! > {pids}; sleep 60"
    run = run_agenda(
        tmp_path,
        {"operations": [sh("long", script)]},
        LocalLauncher(),
        settings=make_settings(tmp_path, cancel_grace_seconds=60.0),
        during=cancel_when_running,
    )
    assert run.progress.failed
    (attempt,) = run.attempts("long")
    # SIGTERM ended it: no waiting for the 60 s grace nor the script's minute (loose bound)
    assert attempt["endedTime"] - requested[0] < 20_000
    assert (run.progress.completed_time or 0) - requested[0] < 20_000
    assert not alive(int(pids.read_text()))
    assert not alive(attempt["launched"]["details"]["pid"])
    messages = [d.message or "" for d in run.progress.diagnostic_events or []]
    assert "cancelled by `pop cancel`" in messages


def test_an_agenda_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    agenda = {"params": {"timeoutSeconds": 1}, "operations": [sh("long", "sleep 60")]}
    run = run_agenda(tmp_path, agenda, LocalLauncher())
    assert run.progress.failed
    # stopped at the agenda's 1 s timeout, not after the op's minute (loose: busy machines)
    assert 900 <= (run.progress.completed_time or 0) - (run.progress.started_time or 0) < 20_000
    assert run.attempts("long")[0]["endedTime"] <= (run.progress.completed_time or 0)
    messages = [d.message or "" for d in run.progress.diagnostic_events or []]
    assert any("agenda timed out after 1 s" in m for m in messages)
    assert os.path.exists(run.attempts("long")[0]["logPath"])


def _busy_run(tmp_path: Path, delay: float, retries: dict[str, Any]) -> list[dict[str, Any]]:
    registry = make_registry(
        tmp_path, {"busy": {"handler": "tests.engine.retry_handlers:busy", "resident": True}}
    )
    payload = {"counter": str(tmp_path / "count"), "failures": 1, "delay": delay}
    agenda = {
        "operations": [
            {"name": "b", "type": "busy", "payload": payload, "params": {"retries": retries}}
        ]
    }
    run = run_agenda(tmp_path, agenda, LocalLauncher(), registry=registry)
    assert run.progress.succeeded, run.progress.diagnostic_events
    attempts = run.attempts("b")
    assert [a["outcome"] for a in attempts] == ["failed", "succeeded"]
    return attempts


def test_a_temporary_error_with_a_delay_waits_at_least_that_long(tmp_path: Path) -> None:
    first, second = _busy_run(tmp_path, 1.5, {"limit": 1, "backoffSeconds": 0.1})
    assert 1400 <= second["startedTime"] - first["endedTime"] < 15_000  # loose above


def test_the_delay_a_handler_asks_for_is_capped_by_max_backoff(tmp_path: Path) -> None:
    retries = {"limit": 1, "backoffSeconds": 0.1, "maxBackoffSeconds": 0.5}
    first, second = _busy_run(tmp_path, 3600, retries)
    assert second["startedTime"] - first["endedTime"] < 15_000  # the 0.5 s cap, not an hour


def test_a_temporary_error_delay_travels_in_the_diagnostic_payload() -> None:
    from pop.handlers import TemporaryError
    from pop.handlers.context import exception_events
    from pop.models import DiagnosticEvent

    (event,) = exception_events(TemporaryError("busy", delay=7), "op")
    again = DiagnosticEvent.from_wire(json.loads(event.to_json()))  # as a launched handler says it
    assert (again.message, again.retry_after) == ("busy", 7.0)
    assert exception_events(TemporaryError("busy"), "op")[0].retry_after is None
    assert DiagnosticEvent.of("x", payload={"retryAfterSeconds": -1}).retry_after is None
