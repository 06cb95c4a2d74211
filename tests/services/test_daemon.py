"""``pop executor``: claims queued agendas, runs each exactly once, survives kill -9."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pop_argv, pop_env, wait_for

KILL_DELAYS = [float(d) for d in os.environ.get("POP_CRASH_DELAYS", "0.3,1.5").split(",")]


def write_registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text('handlers:\n  step: {command: ["sh", "-c"]}\n  ok: {command: ["true"]}\n')
    return path


def agenda_file(tmp_path: Path, name: str, ops: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"title": name, "operations": ops}))
    return path


def run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pop_argv(*args), env=pop_env(home, env), capture_output=True, text=True, timeout=120
    )


def side_effect_op(
    name: str, log: Path, *, sleep: float = 0.0, after: str | None = None
) -> dict[str, Any]:
    script = f'echo "{name} $AGENDA_ID" >> {log}; sleep {sleep}'
    params = {"dependsOn": after} if after else {}
    return {"name": name, "type": "step", "payload": {"args": [script]}, "params": params}


def db_rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(home / "pop.db")
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def test_executor_once_runs_every_queued_agenda_and_exits_0(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "ran.log"
    registry = write_registry(tmp_path)
    ids = []
    for index in range(3):
        path = agenda_file(tmp_path, f"a{index}", [side_effect_op("one", log)])
        submitted = run(home, "submit", str(path), "--registry", str(registry))
        assert submitted.returncode == 0, submitted.stderr
        ids.append(submitted.stdout.strip())
    done = run(home, "executor", "--once", "--registry", str(registry), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["agendas"]) == sorted(ids) and report["succeeded"] == 3
    states = db_rows(home, "SELECT state, message FROM agenda_progress")
    assert states == [("COMPLETE", "succeeded")] * 3
    assert db_rows(home, "SELECT count(*) FROM ready_queue") == [(0,)]


def test_two_executors_run_each_of_200_agendas_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    registry = write_registry(tmp_path)
    from pop.api import Client
    from pop.config import Settings

    client = Client(Settings.from_env().with_changes(home=home), registry_path=registry)
    agenda = {"operations": [{"name": "t", "type": "ok", "payload": {}}]}
    for _ in range(200):
        client.submit(agenda)
    client.close()
    argv = pop_argv(
        "executor",
        "--once",
        "--registry",
        str(registry),
        "--max-running",
        "8",
        "--poll",
        "0.1",
        "--json",
    )
    executors = [
        subprocess.Popen(
            argv, env=pop_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    reports = []
    for process in executors:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    claimed = reports[0]["agendas"] + reports[1]["agendas"]
    assert len(claimed) == 200 and len(set(claimed)) == 200
    runs = db_rows(
        home, "SELECT agenda_id, count(*) FROM attempts WHERE operation IS NULL GROUP BY agenda_id"
    )
    assert len(runs) == 200 and {count for _, count in runs} == {1}
    assert db_rows(home, "SELECT count(*) FROM agenda_progress WHERE message = 'succeeded'") == [
        (200,)
    ]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("kill_after", KILL_DELAYS)
def test_a_killed_executor_loses_no_agenda_and_repeats_no_succeeded_op(
    tmp_path: Path, kill_after: float
) -> None:
    home, log = tmp_path / "home", tmp_path / "ran.log"
    registry = write_registry(tmp_path)
    fast = {
        "POP_LEASE_SECONDS": "2",
        "POP_LEASE_RENEW_SECONDS": "0.5",
        "POP_RECLAIM_GRACE": "0",
        "POP_RECLAIM_EVERY": "0.5",
        "POP_RETRY_EVERY": "0.5",
    }
    ids = []
    for index in range(3):
        ops = [
            side_effect_op("first", log),
            side_effect_op("second", log, sleep=2.0, after="first"),
            side_effect_op("third", log, after="second"),
        ]
        path = agenda_file(tmp_path, f"c{index}", ops)
        ids.append(run(home, "submit", str(path), "--registry", str(registry)).stdout.strip())
    first = subprocess.Popen(
        pop_argv("executor", "--registry", str(registry), "--poll", "0.1"),
        env=pop_env(home, fast),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: len(db_rows(home, "SELECT 1 FROM agenda_progress WHERE state = 'EXECUTING'")) == 3,
        what="three agendas running",
    )
    time.sleep(kill_after)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    succeeded_before = db_rows(
        home,
        "SELECT p.agenda_id, o.operation FROM operation_progress o JOIN agenda_progress p "
        "ON o.agenda_progress_id = p.id WHERE o.state = 'COMPLETE' AND o.message = 'succeeded'",
    )
    dead_groups = [
        json.loads(row[0])["details"]["pgid"]
        for row in db_rows(
            home,
            "SELECT launched FROM attempts WHERE ended_time IS NULL AND launched IS NOT NULL "
            "AND operation IS NOT NULL",
        )
        if json.loads(row[0])["runtime"] == "local"
    ]
    second = subprocess.Popen(
        pop_argv("executor", "--registry", str(registry), "--poll", "0.1"),
        env=pop_env(home, fast),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (
                db_rows(home, "SELECT count(*) FROM agenda_progress WHERE state = 'COMPLETE'")
                == [(3,)]
            ),
            what="every agenda complete",
            timeout=60,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    states = db_rows(home, "SELECT agenda_id, message FROM agenda_progress")
    assert sorted(agenda for agenda, _ in states) == sorted(ids)
    assert {message for _, message in states} == {"succeeded"}
    lines = log.read_text().splitlines()
    for agenda_id, op in succeeded_before:
        assert lines.count(f"{op} {agenda_id}") == 1, (op, agenda_id)  # never launched again
    for agenda_id in ids:
        for op in ("first", "second", "third"):
            assert lines.count(f"{op} {agenda_id}") >= 1
    for pgid in dead_groups:
        assert not alive(pgid)
