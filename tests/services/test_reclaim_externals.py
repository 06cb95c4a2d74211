"""External launches of resident ops are in their attempt row from the moment they start, and
the reclaimer stops them after their executor died (issue 11; DESIGN §8)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import pop.services.reclaimer
from pop.engine.executor import AgendaRunner, RunOptions
from pop.runtimes import Launcher
from pop.runtimes.fake import FakeLauncher
from pop.services.reclaimer import reclaim_once
from pop.store import Store
from tests.engine.helpers import make_registry as make_engine_registry
from tests.engine.helpers import run_agenda
from tests.handlers.process_table import alive, wait_for_pid_file
from tests.services.store_state import (
    executing_under_dead_lease,
    local_record,
    make_settings,
    op_running,
    sleeping_group,
    store_agenda,
)

RESIDENT_SAMPLE = {"residentSample": {"handler": "pop.handlers.sample:run", "resident": True}}


def resident_op(pid_file: Path) -> dict[str, Any]:
    """A resident op whose external command writes its pid, then sleeps a minute."""
    script = f"echo $$ > '{pid_file}'; exec sleep 60"
    action = {"action": "externalExecute", "paramsMap": {"externalArgs": ["sh", "-c", script]}}
    return {"name": "encode", "type": "residentSample", "payload": {"actions": [action]}}


def externals_of(attempt: dict[str, Any]) -> list[dict[str, Any]]:
    externals: list[dict[str, Any]] = (attempt.get("launched") or {}).get("externals", [])
    return externals


def gone_within(pid: int, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_resident_ops_external_is_recorded_when_it_starts_and_when_it_ends(
    tmp_path: Path,
) -> None:
    pid_file = tmp_path / "external.pid"
    seen_running: list[dict[str, Any]] = []

    async def look_then_cancel(runner: AgendaRunner, store: Store, agenda_id: str) -> None:
        pid = await asyncio.to_thread(wait_for_pid_file, pid_file)
        deadline = time.monotonic() + 30
        while not (externals := externals_of(store.attempts.list(agenda_id, "encode")[0])):
            assert time.monotonic() < deadline, "the external never reached the attempt row"
            await asyncio.sleep(0.05)
        assert alive(pid)  # recorded while it runs, not after it ended
        seen_running.extend(externals)
        runner.cancel("cancelled by the test")

    run = run_agenda(
        tmp_path,
        {"operations": [resident_op(pid_file)]},
        FakeLauncher(),
        registry=make_engine_registry(tmp_path, RESIDENT_SAMPLE),
        options=RunOptions(launch="fake", external_launch="local"),
        during=look_then_cancel,
    )

    pid = int(pid_file.read_text())
    (running,) = seen_running
    assert running["runtime"] == "local"
    assert running["ref"] == f"pgid:{running['details']['pgid']}"
    assert running["details"]["pid"] == int(running["details"]["pgid"])
    assert (running["name"], running["cpus"]) == ("sample-external", 1.0)
    assert "endedTime" not in running
    (attempt,) = run.attempts("encode")
    assert attempt["launched"]["runtime"] == "resident"
    (ended,) = externals_of(attempt)
    assert ended["ref"] == running["ref"]
    assert ended["reason"] == "cancelled"
    assert ended["endedTime"] >= ended["startedTime"]
    assert not alive(pid)


@pytest.fixture
def store(pop_home: Path) -> Any:
    with Store.open(make_settings(pop_home).store_path) as opened:
        yield opened


def test_the_reclaimer_stops_a_dead_executors_resident_external_with_the_runs_options(
    store: Store, pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agenda_id = store_agenda(store, [{"name": "encode", "type": "sh", "payload": {}}])
    options = {"cleanup_grace_seconds": "1"}
    store.agendas.set_launch_settings(
        agenda_id, {"launch": "local", "externalLaunch": "local", "runtimeOptions": options}
    )
    executing_under_dead_lease(store, agenda_id)
    built: list[tuple[str, Any]] = []
    real = pop.services.reclaimer.create_launcher

    def create(name: str, **kwargs: Any) -> Launcher:
        built.append((name, kwargs.get("options")))
        return real(name, **kwargs)

    monkeypatch.setattr(pop.services.reclaimer, "create_launcher", create)
    with sleeping_group() as running, sleeping_group() as finished:
        resident = {"runtime": "resident", "ref": "pid:4242", "details": {}}
        externals = [
            {**local_record(running.pid), "name": "ffmpeg", "cpus": 1.0, "startedTime": 1},
            # ended, as far as the dead executor knew: not ours to stop any more
            {**local_record(finished.pid), "name": "ffmpeg", "startedTime": 1, "endedTime": 2},
        ]
        op_running(store, agenda_id, "encode", {**resident, "externals": externals})

        [result] = reclaim_once(store, make_settings(pop_home))

        assert running.wait(timeout=10) == -signal.SIGTERM
        assert finished.poll() is None
    assert result.action == "requeued"
    assert result.stopped == [f"encode attempt 1 (ffmpeg): local pgid:{running.pid}"]
    assert result.problems == []
    assert built == [("local", options)]


def test_pop_reclaim_stops_the_external_of_a_killed_run_locals_resident_op(
    tmp_path: Path, pop_cli: Any
) -> None:
    home = tmp_path / "home"
    pid_file = tmp_path / "external.pid"
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"handlers": RESIDENT_SAMPLE}))
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps({"operations": [resident_op(pid_file)]}))
    # a short lease, renewed often, so it has lapsed soon after run-local is killed
    lease = {"POP_LEASE_SECONDS": "2", "POP_LEASE_RENEW_SECONDS": "0.5"}
    running = pop_cli.start(
        home, "run-local", str(agenda_file), "--registry", str(registry), "--json", env=lease
    )
    pid = None
    try:
        pid = wait_for_pid_file(pid_file)

        def recorded() -> list[dict[str, Any]]:
            connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
            try:
                rows = connection.execute(
                    "SELECT launched FROM attempts WHERE operation = 'encode'"
                ).fetchall()
            finally:
                connection.close()
            return [e for (launched,) in rows for e in json.loads(launched).get("externals", [])]

        (external,) = pop_cli.wait_for(recorded, what="the external in the attempt row")
        assert external["ref"] == f"pgid:{pid}"
        os.kill(running.pid, signal.SIGKILL)
        running.communicate(timeout=30)
        assert alive(pid)  # the executor died; its resident op's external did not
        time.sleep(2.5)  # past the lease

        reclaimed = pop_cli.run(home, "reclaim", "--older-than", "0s", "--json")

        assert reclaimed.returncode == 0, reclaimed.stderr
        (result,) = json.loads(reclaimed.stdout)
        assert result["stopped"] == [f"encode attempt 1 (sample-external): local pgid:{pid}"]
        assert gone_within(pid)
    finally:
        pop_cli.stop(running)
        if pid is not None and alive(pid):
            os.killpg(pid, signal.SIGKILL)
