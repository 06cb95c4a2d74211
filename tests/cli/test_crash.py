"""``kill -9`` of ``pop run-local`` mid-agenda leaves a store that opens cleanly and shows the
agenda EXECUTING with its lease and its ops' progress as last recorded (DESIGN §9)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pop.models import ProcessingState
from pop.store import Store

RunPop = Callable[..., subprocess.CompletedProcess[str]]

AGENDA = {
    "title": "crash mid-agenda",
    "operations": [
        {
            "name": "quick",
            "type": "sample",
            "payload": {
                "actions": [{"action": "log", "paramsMap": {"logMessage": "quick is done"}}],
                "resultPayload": {"file": "quick.out", "count": 3},
            },
        },
        {
            "name": "slow",
            "type": "sample",
            "params": {"dependsOn": "quick"},
            "payload": {
                "actions": [
                    {
                        "action": "log",
                        # a minute: still running when a busy machine gets to kill run-local
                        "paramsMap": {"logMessage": "slow is done", "sleepMilliseconds": 60_000},
                    }
                ],
                "resultPayload": {"input": "@<quick.out::/file>"},
            },
        },
    ],
}


def read_rows(home: Path, sql: str, *parameters: Any) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(sql, parameters).fetchall()]
    finally:
        connection.close()


def kill_launched_groups(home: Path) -> None:
    """SIGKILL the process groups run-local launched (its handlers outlive it after kill -9)."""
    if not (home / "pop.db").exists():
        return
    for row in read_rows(home, "SELECT launched FROM attempts WHERE launched IS NOT NULL"):
        pgid = (json.loads(row["launched"]).get("details") or {}).get("pgid")
        if isinstance(pgid, int) and pgid > 1:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def status_json(run_pop: RunPop, agenda_id: str) -> dict[str, Any] | None:
    completed = run_pop("status", agenda_id, "--json")
    if completed.returncode != 0:
        return None
    document: dict[str, Any] = json.loads(completed.stdout)
    return document


def operations_by_name(progress: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operation"]: op for op in progress["operationProgress"]}


def state_of(item: dict[str, Any]) -> str:
    return f"{item['processingState']}/{item['processingStateMessage']}"


@dataclass(frozen=True)
class Crash:
    """The POP_HOME of a killed run-local, its agenda id and the last status seen before."""

    home: Path
    agenda_id: str
    last_seen: dict[str, Any]

    def status(self, pop_cli: Any) -> dict[str, Any]:
        completed = pop_cli.run(self.home, "status", self.agenda_id, "--json")
        assert completed.returncode == 0, completed.stderr
        document: dict[str, Any] = json.loads(completed.stdout)
        return document


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory, pop_cli: Any) -> Iterator[Crash]:
    """Run the agenda and kill -9 run-local while ``slow`` runs (once for this module)."""
    home = tmp_path_factory.mktemp("crash") / "pop_home"
    agenda_file = home.parent / "crash.json"
    agenda_file.write_text(json.dumps(AGENDA), encoding="utf-8")

    def run_pop(*args: str) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = pop_cli.run(home, *args)
        return result

    # Write every progress report at once, so "as last recorded" is what the handler last said.
    running = pop_cli.start(
        home, "run-local", str(agenda_file), "--json", env={"POP_PROGRESS_INTERVAL": "0"}
    )
    try:

        def agenda_id() -> str | None:
            items = json.loads(run_pop("list", "--json").stdout or "[]")
            return str(items[0]["agendaId"]) if items else None

        found = pop_cli.wait_for(agenda_id, what="run-local to store the agenda")

        def slow_under_way() -> dict[str, Any] | None:
            progress = status_json(run_pop, found)
            if progress is None:
                return None
            slow = operations_by_name(progress)["slow"]
            under_way = slow["processingState"] == "EXECUTING" and slow["percentComplete"] > 0
            return progress if under_way else None

        last_seen = pop_cli.wait_for(slow_under_way, what="slow to report progress")
        assert running.poll() is None, "run-local ended before it could be killed"
        os.kill(running.pid, signal.SIGKILL)
        running.communicate(timeout=10)
        assert running.returncode == -signal.SIGKILL
        kill_launched_groups(home)
        yield Crash(home, found, last_seen)
    finally:
        pop_cli.stop(running)
        kill_launched_groups(home)


def test_the_store_passes_an_integrity_check_after_kill_9(crashed: Crash) -> None:
    connection = sqlite3.connect(f"file:{crashed.home / 'pop.db'}?mode=ro", uri=True)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


def test_status_after_kill_9_shows_the_agenda_executing_with_its_lease(
    crashed: Crash, pop_cli: Any
) -> None:
    progress = crashed.status(pop_cli)

    assert progress["processingState"] == "EXECUTING"
    assert progress["lease"]["owner"]
    assert isinstance(progress["lease"]["expiresTime"], int)
    assert "completedTime" not in progress


def test_status_after_kill_9_shows_op_progress_as_last_recorded(
    crashed: Crash, pop_cli: Any
) -> None:
    progress = crashed.status(pop_cli)

    operations = operations_by_name(progress)
    quick, slow = operations["quick"], operations["slow"]
    assert state_of(quick) == "COMPLETE/succeeded"
    assert quick["resultPayload"] == {"file": "quick.out", "count": 3}
    assert slow["processingState"] == "EXECUTING"
    assert (
        operations_by_name(crashed.last_seen)["slow"]["percentComplete"]
        <= slow["percentComplete"]
        < 100
    )
    assert slow["attemptCount"] == 1
    assert "completedTime" not in slow
    assert "resultPayload" not in slow


def test_attempt_rows_after_kill_9_record_what_was_launched(crashed: Crash) -> None:
    rows = read_rows(
        crashed.home, "SELECT * FROM attempts WHERE agenda_id = ? ORDER BY id", crashed.agenda_id
    )

    by_operation = {row["operation"]: row for row in rows}
    assert set(by_operation) == {None, "quick", "slow"}
    assert by_operation["quick"]["outcome"] == "succeeded"
    slow = by_operation["slow"]
    assert slow["ended_time"] is None
    launched = json.loads(slow["launched"])
    assert launched["runtime"] == "local"
    assert isinstance(launched["details"]["pgid"], int)
    assert launched["ref"] == f"pgid:{launched['details']['pgid']}"


def test_the_library_opens_the_crashed_store_and_reads_the_run(crashed: Crash) -> None:
    with Store.open(crashed.home / "pop.db") as store:
        progress = store.progress.get(crashed.agenda_id)
        owner, expires = store.progress.lease_of(crashed.agenda_id)

    assert progress is not None
    assert progress.processing_state == ProcessingState.EXECUTING
    assert owner is not None and expires is not None
