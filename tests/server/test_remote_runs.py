"""What a remote run leaves on the server (issue 13 item 6): attempt rows, launch records, op
logs and output tails through the executor extension routes, so ``pop logs`` and ``pop outputs``
on the server's POP_HOME show a remote run as they show a local one; the routes' own rules (the
lease holder only: 409; the insight's executor token only: 403; bad input: 422, nothing
stored); and 200 agendas pulled by 3 remote executors at once, each run exactly once."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES, pop_argv, pop_env, run_pop_at
from tests.server.conftest import RunningServer
from tests.server.test_remote_executor import token
from tests.server.test_remote_outage import attempts_of

SERVICE = "/pop/resourcepool/service"


def test_pop_logs_and_outputs_on_the_server_show_a_remote_run_as_a_local_one(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server_home, executor_home = tmp_path / "server", tmp_path / "executor"
    submitter = token(server_home, "--global")
    token_file = tmp_path / "executor.token"
    token_file.write_text(token(server_home, "--executor", "--insight", "default") + "\n")
    server = start_server(home=server_home)
    with server.http(headers={"Authorization": f"Bearer {submitter}"}) as http:
        document = json.loads((EXAMPLES / "hello.json").read_text())
        posted = http.post("/pop/agenda", json={**document, "customerId": "acme"})
        assert posted.status_code == 200, posted.text
        agenda_id = posted.json()["all"][0]["id"]

    ran = run_pop_at(
        executor_home, "executor", "--server", server.url, "--insight", "default",
        "--token-file", str(token_file), "--once", "--json", timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr

    logs = json.loads(run_pop_at(server_home, "logs", agenda_id, "--json").stdout)
    local = run_pop_at(tmp_path / "local", "run-local", str(EXAMPLES / "hello.json"), "--json")
    local_id = json.loads(local.stdout)["agendaId"]
    local_logs = json.loads(run_pop_at(tmp_path / "local", "logs", local_id, "--json").stdout)
    assert sorted((log["operation"], log["attempt"]) for log in logs) == sorted(
        (log["operation"], log["attempt"]) for log in local_logs
    )
    for log in logs:
        # the server's copy of each op's log is the executor's, byte for byte, in the local layout
        path = Path(log["path"])
        assert path == server_home / "logs" / agenda_id / f"{log['operation']}.1.log"
        executor_log = executor_home / "logs" / agenda_id / path.name
        assert path.read_bytes() == executor_log.read_bytes()
    shouted = next(log for log in logs if log["operation"] == "shout")
    assert "shouting" in Path(shouted["path"]).read_text()
    assert any("shouting" in line for line in shouted["tail"])
    text = run_pop_at(server_home, "logs", agenda_id, "shout")
    assert text.returncode == 0 and "shouting" in text.stdout, text.stderr

    with server.http(headers={"Authorization": f"Bearer {submitter}"}) as http:
        served = http.get(f"/pop/agenda/{agenda_id}/logs", params={"operation": "shout"})
    assert served.status_code == 200, served.text
    (item,) = served.json()["all"]
    assert item["text"] == Path(shouted["path"]).read_text()

    outputs = run_pop_at(server_home, "outputs", agenda_id, "--json")
    local_outputs = run_pop_at(tmp_path / "local", "outputs", local_id, "--json")
    assert outputs.returncode == 0, outputs.stderr
    assert json.loads(outputs.stdout) == json.loads(local_outputs.stdout)

    rows = attempts_of(server_home, agenda_id)
    assert len(rows) == 6  # the agenda's own attempt and one per op
    assert {row["outcome"] for row in rows} == {"succeeded"}
    launched = [row["launched"] for row in rows if row["operation"] == "shout"]
    assert launched and launched[0]["runtime"] in ("local", "resident"), launched


def test_the_attempt_routes_take_only_the_lease_holder_and_refuse_bad_input(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    home = tmp_path / "server"
    global_token = token(home, "--global")
    other = token(home, "--executor", "--insight", "elsewhere")
    server = start_server(home=home)
    mine = {"Authorization": f"Bearer {global_token}"}
    with server.http(headers=mine) as http:
        operations = [{"name": "one", "type": "logMessages", "payload": {"logMessages": ["x"]}}]
        posted = http.post("/pop/agenda", json={"customerId": "acme", "operations": operations})
        agenda_id = posted.json()["all"][0]["id"]
        claimed = http.post(
            f"{SERVICE}/getAgenda", json={"insightId": "default", "count": 1, "executorId": "e1"}
        ).json()
        assert claimed["count"] == 1 and claimed["lostLaunches"] == []

        def call(route: str, body: dict[str, Any], **headers: str) -> Any:
            return http.post(f"{SERVICE}/{route}", json=body, headers=headers or None)

        start = {"agendaId": agenda_id, "executorId": "e1", "number": 1, "operation": "one"}
        before = attempts_of(home, agenda_id)
        for bad, status in [
            ({**start, "number": "1"}, 422),
            ({**start, "operation": "nope"}, 404),
            ({**start, "executorId": "e2"}, 409),
            ({"executorId": "e1", "number": 1}, 422),
        ]:
            answer = call("startAttempt", bad)
            assert answer.status_code == status, (bad, answer.text)
        denied = call("startAttempt", start, Authorization=f"Bearer {other}")
        assert denied.status_code == 403, denied.text
        assert attempts_of(home, agenda_id) == before

        attempt = call("startAttempt", start).json()["attempt"]
        assert call("startAttempt", start).json()["attempt"]["id"] == attempt["id"]  # a resend
        assert attempt["logPath"].endswith(f"logs/{agenda_id}/one.1.log")
        ids = {"attemptId": attempt["id"], "executorId": "e1"}
        launch = {"runtime": "local", "ref": "pgid:1", "details": {}}
        assert call("recordLaunch", {**ids, "launched": launch}).status_code == 200
        assert call("appendLog", {**ids, "offset": 0, "text": "hello\n"}).json()["size"] == 6
        assert call("appendLog", {**ids, "offset": 0, "text": "hello\n"}).json()["size"] == 6
        assert call("appendLog", {**ids, "offset": 6, "text": "world\n"}).json()["size"] == 12
        assert call("appendLog", {**ids, "offset": -1, "text": "x"}).status_code == 422
        assert (
            call("appendLog", {**ids, "executorId": "e2", "offset": 12, "text": "x"}).status_code
            == 409
        )
        assert call("endAttempt", {**ids, "outcome": 3}).status_code == 422
        ended = call("endAttempt", {**ids, "outcome": "succeeded", "outputTail": ["hello"]})
        assert ended.status_code == 200 and ended.json()["attempt"]["outcome"] == "succeeded"
        assert call("attemptsNope", ids).status_code in (404, 405)
    assert Path(attempt["logPath"]).read_text() == "hello\nworld\n"
    (row,) = attempts_of(home, agenda_id)
    assert row["launched"] == launch and row["executor"] == "e1"
    logs = json.loads(run_pop_at(home, "logs", agenda_id, "--json").stdout)
    assert logs == [
        {"operation": "one", "attempt": 1, "path": attempt["logPath"], "tail": ["hello"]}
    ]


def test_200_agendas_pulled_by_3_remote_executors_at_once_each_run_exactly_once(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = start_server("--no-auth", home=tmp_path / "server")
    operations = [{"name": "only", "type": "logMessages", "payload": {"logMessages": ["ran"]}}]
    documents = [{"title": f"many {index}", "operations": operations} for index in range(200)]
    with server.http() as http:
        ids = []
        for document in documents:
            posted = http.post("/pop/agenda", json=document)
            assert posted.status_code == 200, posted.text
            ids.append(posted.json()["all"][0]["id"])

    processes = [
        subprocess.Popen(
            pop_argv(
                "executor", "--server", server.url, "--insight", "default", "--once", "--json",
                "--max-running", "8", "--poll", "0.2",
            ),
            env=pop_env(tmp_path / f"executor-{index}"),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(3)
    ]  # fmt: skip
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        reports.append(json.loads(out))

    ran = Counter(agenda_id for report in reports for agenda_id in report["agendas"])
    assert ran == Counter(dict.fromkeys(ids, 1))
    assert sum(report["succeeded"] for report in reports) == 200
    from pop.store import Store

    store = Store.open(server.home / "pop.db")
    try:
        for agenda_id in ids:
            rows = store.attempts.list(agenda_id)
            assert [(row["operation"], row["outcome"]) for row in rows] == [
                (None, "succeeded"),
                ("only", "succeeded"),
            ], rows
    finally:
        store.close()
