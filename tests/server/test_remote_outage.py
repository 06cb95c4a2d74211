"""Remote executors lose nothing (issue 13 item 6): real ``pop serve`` and real ``pop executor
--server`` processes, each with its own POP_HOME.

- ``kill -9`` of a remote executor while 3 agendas run: the server reclaims them once the lease
  lapsed, a second remote executor completes all three, and no op that had succeeded runs again.
- The server stopped for 20 s while a remote executor runs a 60 s agenda, then started again on
  the same POP_HOME and port: the agenda completes, its final progress and attempt rows are on the
  server, and every op ran exactly once.

Each op sleeps (the sample handler), then appends ``<agenda id>/<op>`` to a count file through an
external command: the file says how many times each op ran to its end.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pop_argv, pop_env, wait_for
from tests.server.conftest import RunningServer


def counted_op(
    name: str, count_file: Path, sleep_ms: int, after: str | None = None
) -> dict[str, Any]:
    """A sample op that sleeps ``sleep_ms``, then appends ``<agenda id>/<name>`` to the file."""
    operation: dict[str, Any] = {
        "name": name,
        "type": "sample",
        "payload": {
            "actions": [
                {"action": "log", "paramsMap": {"logMessage": f"{name} slept",
                                                "sleepMilliseconds": sleep_ms}},
                {"action": "externalExecute", "paramsMap": {"externalArgs": [
                    "sh", "-c", f"echo @<pop.agendaId>/{name} >> {count_file}"]}},
            ],
            "resultPayload": {"op": name},
        },
    }  # fmt: skip
    if after is not None:
        operation["params"] = {"dependsOn": after}
    return operation


def runs_of(count_file: Path) -> Counter[str]:
    if not count_file.exists():
        return Counter()
    return Counter(line.strip() for line in count_file.read_text().splitlines() if line.strip())


class Executors:
    """Starts ``pop executor --server`` processes, output to files; kills leftovers at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, url: str, *args: str, env: dict[str, str] | None = None) -> Any:
        home = self.tmp_path / name
        home.mkdir(parents=True, exist_ok=True)
        out = open(self.tmp_path / f"{name}.out", "wb")  # noqa: SIM115  # the process writes it
        err = open(self.tmp_path / f"{name}.err", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            pop_argv("executor", "--server", url, "--insight", "default", *args),
            env=pop_env(home, env),
            cwd=self.tmp_path,
            stdout=out,
            stderr=err,
        )
        out.close()
        err.close()
        self.started.append(process)
        return process

    def output(self, name: str) -> str:
        return (self.tmp_path / f"{name}.out").read_text() + (
            self.tmp_path / f"{name}.err"
        ).read_text()

    def report(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads((self.tmp_path / f"{name}.out").read_text())
        return found

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def executors(tmp_path: Path) -> Iterator[Executors]:
    started = Executors(tmp_path)
    yield started
    started.close()


def submit(server: RunningServer, operations: list[dict[str, Any]], title: str) -> str:
    with server.http() as http:
        posted = http.post("/pop/agenda", json={"title": title, "operations": operations})
    assert posted.status_code == 200, posted.text
    agenda_id: str = posted.json()["all"][0]["id"]
    return agenda_id


def progress_of(server: RunningServer, agenda_id: str) -> dict[str, Any]:
    with server.http() as http:
        (progress,) = http.get(f"/pop/progress/agenda/{agenda_id}").json()["all"]
    found: dict[str, Any] = progress
    return found


def succeeded_ops(server: RunningServer, agenda_id: str) -> set[str]:
    return {
        f"{agenda_id}/{op['operation']}"
        for op in progress_of(server, agenda_id)["operationProgress"]
        if op["processingState"] == "COMPLETE" and op["processingStateMessage"] == "succeeded"
    }


def attempts_of(home: Path, agenda_id: str) -> list[dict[str, Any]]:
    from pop.store import Store

    store = Store.open(home / "pop.db")
    try:
        return store.attempts.list(agenda_id)
    finally:
        store.close()


def lost_launches(home: Path, agenda_id: str) -> list[dict[str, Any]]:
    from pop.store import Store

    store = Store.open(home / "pop.db")
    try:
        return store.attempts.lost_launches(agenda_id)
    finally:
        store.close()


def test_a_killed_remote_executors_agendas_are_reclaimed_and_completed_by_another_once(
    start_server: Callable[..., RunningServer], executors: Executors, tmp_path: Path
) -> None:
    count_file = tmp_path / "runs.txt"
    server = start_server(
        "--no-auth",
        env={"POP_LEASE_SECONDS": "3", "POP_RECLAIM_GRACE": "1", "POP_RECLAIM_EVERY": "1"},
    )
    ids = [
        submit(
            server,
            [
                counted_op("first", count_file, 1500),
                counted_op("second", count_file, 10_000, after="first"),
            ],
            f"killed {index}",
        )
        for index in range(3)
    ]
    fast = {"POP_LEASE_RENEW_SECONDS": "1"}
    doomed = executors.start(
        "doomed", server.url, "--max-running", "3", "--cpus", "8", "--poll", "0.2", env=fast
    )

    # every agenda's first op succeeded on the server; the second ones are running
    wait_for(
        lambda: all(f"{agenda_id}/first" in succeeded_ops(server, agenda_id) for agenda_id in ids),
        what="the first ops to succeed on the server",
    )
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    before = set().union(*(succeeded_ops(server, agenda_id) for agenda_id in ids))
    assert before == {f"{agenda_id}/first" for agenda_id in ids}  # the three were running
    wait_for(
        lambda: all(progress_of(server, a)["processingState"] == "WAITING" for a in ids),
        what="the server to reclaim the three agendas",
    )

    # getAgenda will hand each agenda out with its lost launch: the dead executor's second op
    for agenda_id in ids:
        lost = lost_launches(server.home, agenda_id)
        assert [(row["operation"], row["outcome"]) for row in lost] == [("second", "lost")]
        assert lost[0]["launched"]["runtime"] == "local", lost

    second = executors.start(
        "second", server.url, "--once", "--json", "--max-running", "3", "--cpus", "8",
        "--poll", "0.2", env=fast,
    )  # fmt: skip
    assert second.wait(timeout=180) == 0, executors.output("second")

    report = executors.report("second")
    assert sorted(report["agendas"]) == sorted(ids) and report["succeeded"] == 3, report
    for agenda_id in ids:
        progress = progress_of(server, agenda_id)
        assert progress["processingStateMessage"] == "succeeded", progress
        assert {op["processingStateMessage"] for op in progress["operationProgress"]} == {
            "succeeded"
        }
    runs = runs_of(count_file)
    assert {name: runs[name] for name in before} == dict.fromkeys(before, 1), runs
    assert set(runs) == {f"{a}/{op}" for a in ids for op in ("first", "second")}
    # the second executor's attempts are on the server, each ended; the dead one's ended lost
    for agenda_id in ids:
        rows = [row for row in attempts_of(server.home, agenda_id) if row["operation"]]
        assert all(row["endedTime"] is not None for row in rows), rows
        assert [row["outcome"] for row in rows if row["operation"] == "first"] == ["succeeded"]


def test_a_remote_executor_rides_out_a_20_s_server_outage_in_a_60_s_agenda(
    start_server: Callable[..., RunningServer], executors: Executors, tmp_path: Path
) -> None:
    count_file = tmp_path / "runs.txt"
    home = tmp_path / "server"
    server = start_server("--no-auth", home=home)
    port = server.url.rsplit(":", 1)[1]
    names = ["one", "two", "three"]
    agenda_id = submit(
        server,
        [
            counted_op(name, count_file, 20_000, after=names[index - 1] if index else None)
            for index, name in enumerate(names)
        ],
        "sixty seconds",
    )
    runner = executors.start("runner", server.url, "--once", "--json", "--poll", "0.5")
    wait_for(
        lambda: (
            progress_of(server, agenda_id)["operationProgress"][0]["processingState"] == "EXECUTING"
        ),
        what="the first op to run",
    )

    server.stop()
    time.sleep(20)  # the outage: the executor runs on alone
    assert runner.poll() is None, executors.output("runner")  # it ran on without the server
    back = start_server("--no-auth", "--port", port, home=home)
    assert back.url == server.url

    assert runner.wait(timeout=180) == 0, executors.output("runner")
    report = executors.report("runner")
    assert report["agendas"] == [agenda_id] and report["succeeded"] == 1, report
    progress = progress_of(back, agenda_id)
    assert progress["processingState"] == "COMPLETE", progress
    assert progress["processingStateMessage"] == "succeeded"
    assert progress["percentComplete"] == 100.0
    assert [
        (op["operation"], op["processingStateMessage"], op["resultPayload"])
        for op in progress["operationProgress"]
    ] == [(name, "succeeded", {"op": name}) for name in names]
    assert runs_of(count_file) == Counter({f"{agenda_id}/{name}": 1 for name in names})
    rows = attempts_of(home, agenda_id)
    assert sorted((row["operation"] or "", row["outcome"]) for row in rows) == sorted(
        [("", "succeeded")] + [(name, "succeeded") for name in names]
    )
    for row in rows:
        if row["operation"]:
            assert f"{row['operation']} slept" in Path(row["logPath"]).read_text()
