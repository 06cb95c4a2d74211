"""``pop executor --server``: a remote executor with its own POP_HOME pulls a POP-shaped agenda
from a real ``pop serve`` with an executor token, runs it with the local engine and reports it
back, so the server shows it succeeded with the same ops as a local run; ``--server`` needs
``--insight``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, comparable, run_pop_at
from tests.server.conftest import RunningServer


def token(home: Path, *args: str) -> str:
    added = run_pop_at(home, "token", "add", *args, "--json")
    assert added.returncode == 0, added.stderr
    secret: str = json.loads(added.stdout)["token"]
    return secret


def test_an_agenda_posted_to_the_server_runs_to_success_on_a_remote_executor(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server_home, executor_home = tmp_path / "server", tmp_path / "executor"
    submitter = token(server_home, "--global")
    token_file = tmp_path / "executor.token"
    token_file.write_text(token(server_home, "--executor", "--insight", "default") + "\n")
    server = start_server(home=server_home)
    document: dict[str, Any] = json.loads((EXAMPLES / "hello.json").read_text())
    document["customerId"] = "acme"
    with server.http(headers={"Authorization": f"Bearer {submitter}"}) as http:
        posted = http.post("/pop/agenda", json=document)
        assert posted.status_code == 200, posted.text
        agenda_id = posted.json()["all"][0]["id"]

        ran = run_pop_at(
            executor_home, "executor", "--server", server.url, "--insight", "default",
            "--token-file", str(token_file), "--once", "--json", timeout=120,
        )  # fmt: skip

        assert ran.returncode == 0, ran.stderr
        report = json.loads(ran.stdout)
        assert report["agendas"] == [agenda_id] and report["succeeded"] == 1, report
        progress = http.get(f"/pop/progress/agenda/{agenda_id}").json()["all"][0]
    assert progress["processingState"] == "COMPLETE"
    assert {op["processingState"] for op in progress["operationProgress"]} == {"COMPLETE"}

    status = run_pop_at(server_home, "status", agenda_id, "--json")
    local = run_pop_at(tmp_path / "local", "run-local", str(EXAMPLES / "hello.json"), "--json")
    assert status.returncode == 0 and local.returncode == 0, status.stderr + local.stderr
    on_server = json.loads(status.stdout)
    assert on_server["processingStateMessage"] == "succeeded"
    assert comparable(on_server) == comparable(json.loads(local.stdout))
    # the executor never opened a store of its own: only work folders and logs
    assert not (executor_home / "pop.db").exists()
    assert {path.name for path in executor_home.iterdir()} <= {"work", "logs"}


def test_server_without_insight_is_exit_2(tmp_path: Path) -> None:
    ran = run_pop_at(tmp_path / "pop_home", "executor", "--server", "http://127.0.0.1:9", "--once")

    assert ran.returncode == 2, ran.stderr
    assert "--insight" in ran.stderr
    assert not (tmp_path / "pop_home").exists()
