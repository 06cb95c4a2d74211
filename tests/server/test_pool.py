"""POP's ResourcePool service on a real ``pop serve``: getAgenda claims (as leases) in the order
the local executor would, 200 agendas pulled by 3 concurrent clients each handed out once, POP's
updateAgendaProgress whitelist and attachment rule, updateAgenda, the heartbeat, reports from an
executor that lost its lease refused, a lapsed lease reclaimed and handed out again, tokens that
do not own the insight refused, and nothing stored on any error."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.api.pool import progress_goes_with
from pop.config import Settings
from pop.models import AgendaProgress
from pop.scheduling.claim import claim_next
from pop.store import Store
from tests.conftest import run_pop_at, store_snapshot, wait_for
from tests.server.conftest import RunningServer

SERVICE = "/pop/resourcepool/service"


def agenda(customer: str, title: str = "pool") -> dict[str, Any]:
    return {
        "customerId": customer,
        "title": title,
        "operations": [
            {"name": "say", "type": "logMessages", "payload": {"logMessages": ["hi"]}},
            {"name": "then", "type": "logMessages", "payload": {"after": "@<say.out>"}},
        ],
    }


def pop_ok(home: Path, *args: str) -> Any:
    completed = run_pop_at(home, *args)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout) if "--json" in args else completed.stdout


def fair_insight(home: Path, customers: list[str], algorithm: str = "RoundRobin") -> str:
    """A pool of its own with these customers and one insight (the id returned) taking every
    logMessages agenda of theirs: tests of one module share a store without meeting."""
    tag = uuid.uuid4().hex[:8]
    pool, insight = f"pool-{tag}", f"fair-{tag}"
    pop_ok(home, "pool", "add", "--id", pool, "--title", pool, "--json")
    for customer in customers:
        pop_ok(home, "customer", "add", "--id", customer, "--title", customer, "--pool", pool)
    pop_ok(
        home, "insight", "add", "--id", insight, "--title", insight, "--pool", pool,
        "--algorithm", algorithm, "--mapper", "operationType=logMessages", "--json",
    )  # fmt: skip
    return insight


def submit(server: RunningServer, customer: str, **headers: str) -> dict[str, Any]:
    with server.http() as http:
        response = http.post("/pop/agenda", json=agenda(customer), headers=headers)
    assert response.status_code == 200, response.text
    stored: dict[str, Any] = response.json()["all"][0]
    return stored


def pull(
    server: RunningServer, insight: str, count: int, executor: str = "exec-1", **headers: str
) -> dict[str, Any]:
    with server.http() as http:
        response = http.post(
            f"{SERVICE}/getAgenda",
            json={"insightId": insight, "count": count, "executorId": executor},
            headers=headers,
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def post(server: RunningServer, route: str, body: Any, **headers: str) -> Any:
    with server.http() as http:
        return http.post(f"{SERVICE}/{route}", json=body, headers=headers)


def progress_of(server: RunningServer, agenda_id: str) -> dict[str, Any]:
    with server.http() as http:
        (progress,) = http.get(f"/pop/progress/agenda/{agenda_id}").json()["all"]
    found: dict[str, Any] = progress
    return found


def copy_store(home: Path, target: Path) -> Store:
    """A consistent copy of the server's store (SQLite's backup: WAL pages included)."""
    target.mkdir(parents=True)
    source = sqlite3.connect(home / "pop.db")
    copy = sqlite3.connect(target / "pop.db")
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return Store.open(target / "pop.db")


# -- claiming ------------------------------------------------------------------------------------


def test_get_agenda_hands_out_in_the_local_executors_fair_order(
    server: RunningServer, tmp_path: Path
) -> None:
    acme, beta = f"acme-{uuid.uuid4().hex[:6]}", f"beta-{uuid.uuid4().hex[:6]}"
    insight = fair_insight(server.home, [acme, beta])
    customer_of = {}
    for customer in [acme] * 4 + [beta] * 4:  # FIFO would hand out acme's four first
        customer_of[submit(server, customer)["id"]] = customer
    local = copy_store(server.home, tmp_path / "copy")
    try:
        expected = claim_next(
            local, owner="local", lease_seconds=30, limit=8, insight_ids=[insight]
        )
    finally:
        local.close()

    first = pull(server, insight, 3)
    rest = pull(server, insight, 10)

    handed = [item["id"] for item in first["agendas"] + rest["agendas"]]
    assert handed == expected
    assert [customer_of[agenda_id] for agenda_id in handed[:4]] == [acme, beta, acme, beta]
    assert first["all"] == first["agendas"] and first["count"] == 3
    assert first["agendaProgresses"] == [] and first["executorId"] == "exec-1"
    assert first["cid"]
    for agenda_id in handed:
        progress = progress_of(server, agenda_id)
        assert (progress["processingState"], progress["processingStateMessage"]) == (
            "EXECUTING",
            "claimed",
        )
        assert progress["lease"]["owner"] == "exec-1"
    assert pull(server, insight, 5)["agendas"] == []  # the queue is empty now


def test_200_agendas_pulled_by_3_concurrent_clients_are_each_handed_out_once(
    server: RunningServer,
) -> None:
    customers = [f"c{n}-{uuid.uuid4().hex[:6]}" for n in range(3)]
    insight = fair_insight(server.home, customers)
    client = Client(Settings.from_env().with_changes(home=server.home))
    try:
        submitted = [
            client.submit(agenda(customers[n % 3]), customer_id=customers[n % 3]).agenda.id
            for n in range(200)
        ]
    finally:
        client.close()
    handed: dict[str, list[str]] = {f"exec-{n}": [] for n in range(3)}
    problems: list[str] = []
    start = threading.Barrier(3)

    def executor(name: str) -> None:
        mine = handed[name]
        with server.http() as http:
            start.wait(timeout=60)  # the three ask at once from the first request on
            while True:
                response = http.post(
                    f"{SERVICE}/getAgenda",
                    json={"insightId": insight, "count": 7, "executorId": name},
                )
                if response.status_code != 200:
                    problems.append(response.text)
                    return
                agendas = response.json()["agendas"]
                if not agendas:
                    return
                mine.extend(item["id"] for item in agendas)

    threads = [threading.Thread(target=executor, args=(f"exec-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert problems == []
    every = [agenda_id for ids in handed.values() for agenda_id in ids]
    assert len(every) == len(set(every)) == 200
    assert sorted(every) == sorted(submitted)
    assert all(handed.values())  # each client got some


def test_count_0_and_other_bad_requests_are_refused_and_store_nothing(
    server: RunningServer,
) -> None:
    customer = f"bad-{uuid.uuid4().hex[:6]}"
    insight = fair_insight(server.home, [customer])
    cases: list[tuple[str, Any, int]] = [
        ("getAgenda", {"insightId": insight, "count": 0, "executorId": "e"}, 422),
        ("getAgenda", {"insightId": insight, "count": -1, "executorId": "e"}, 422),
        ("getAgenda", {"insightId": insight, "count": "2", "executorId": "e"}, 422),
        ("getAgenda", {"insightId": insight, "count": 1}, 422),
        ("getAgenda", {"count": 1, "executorId": "e"}, 422),
        ("getAgenda", {}, 422),
        ("getAgenda", [1], 422),
        ("getAgenda", {"insightId": "no-such-insight", "count": 1, "executorId": "e"}, 404),
        ("updateAgendaProgress", {"executorId": "e"}, 422),
        ("updateAgendaProgress", {"agendaProgress": {"id": "nope"}, "executorId": "e"}, 404),
        ("updateAgendaProgress", {"agendaProgress": {}, "executorId": "e"}, 422),
        ("updateAgenda", {"agendaId": "nope", "operations": [], "executorId": "e"}, 404),
        ("heartbeat", {"agendaId": "nope", "executorId": "e"}, 404),
        ("heartbeat", {"executorId": "e"}, 422),
    ]
    stored = submit(server, customer)
    before = store_snapshot(server.home)

    for route, body, status in cases:
        response = post(server, route, body)
        assert response.status_code == status, (route, body, response.text)
        problem = response.json()["errorResponse"]
        assert problem["responseCode"] == status
        assert "Traceback" not in response.text
    assert store_snapshot(server.home) == before
    assert progress_of(server, stored["id"])["processingState"] == "WAITING"


# -- reports -------------------------------------------------------------------------------------


def claimed_one(server: RunningServer, executor: str = "exec-1") -> tuple[str, dict[str, Any]]:
    customer = f"r-{uuid.uuid4().hex[:6]}"
    insight = fair_insight(server.home, [customer])
    stored = submit(server, customer)
    (handed,) = pull(server, insight, 1, executor)["agendas"]
    assert handed["id"] == stored["id"]
    return insight, stored


def test_update_agenda_progress_takes_only_pops_whitelist_and_renews_the_lease(
    server: RunningServer,
) -> None:
    _, stored = claimed_one(server)
    before = progress_of(server, stored["id"])
    report = {
        "id": stored["progressId"],
        # the whitelist (POP-REFERENCE §9.8)
        "processingState": "EXECUTING",
        "processingStateMessage": "Running Operations",
        "percentComplete": 55.0,
        "startedTime": 1700000000000,
        "diagnosticEvents": [{"message": "one"}, {"message": "two"}],
        "operationProgress": [
            {
                "operation": "say",
                "processingState": "COMPLETE",
                "processingStateMessage": "succeeded",
                "percentComplete": 100,
                "resultPayload": {"said": "hi"},
            },
            {"operation": "then", "percentComplete": 10},
        ],
        # not on the whitelist: ignored
        "title": "changed",
        "customerId": "someone-else",
        "linkId": "changed",
        "agendaId": "changed",
        "maximumAttempts": 99,
        "attemptsCompleted": 7,
        "params": {"changed": True},
    }

    first = post(server, "updateAgendaProgress", {"agendaProgress": report, "executorId": "exec-1"})
    second = post(
        server,
        "updateAgendaProgress",
        {"agendaProgress": {"id": stored["progressId"], "diagnosticEvents": [{"message": "3"}]},
         "executorId": "exec-1"},
    )  # fmt: skip

    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["agendaId"] == stored["id"] and answer["agendaProgressId"] == stored["progressId"]
    assert answer["executorId"] == "exec-1" and answer["cancelRequested"] is False
    assert (
        second.json()["leaseExpiresTime"]
        >= answer["leaseExpiresTime"]
        > before["lease"]["expiresTime"] - 1
    )
    after = progress_of(server, stored["id"])
    assert after["processingState"] == "EXECUTING"
    assert after["processingStateMessage"] == "Running Operations"
    assert after["percentComplete"] == 55.0
    assert after["startedTime"] == 1700000000000
    assert [event["message"] for event in after["diagnosticEvents"]] == ["3"]  # replaced
    for name in ("title", "customerId", "linkId", "agendaId", "maximumAttempts", "params"):
        assert after.get(name) == before.get(name), name
    assert after["attemptsCompleted"] == before["attemptsCompleted"]
    say, then = after["operationProgress"]
    assert (say["processingState"], say["processingStateMessage"]) == ("COMPLETE", "succeeded")
    assert say["resultPayload"] == {"said": "hi"}
    # a partial update: the fields not given keep their values
    assert (then["processingState"], then["processingStateMessage"]) == ("WAITING", "pending")
    assert then["percentComplete"] == 10


def test_a_completing_report_releases_the_lease_and_a_later_one_is_refused(
    server: RunningServer,
) -> None:
    _, stored = claimed_one(server)
    done = {
        "id": stored["progressId"],
        "processingState": "COMPLETE",
        "processingStateMessage": "succeeded",
        "percentComplete": 100,
        "completedTime": 1700000000000,
    }

    response = post(
        server, "updateAgendaProgress", {"agendaProgress": done, "executorId": "exec-1"}
    )
    again = post(server, "heartbeat", {"agendaId": stored["id"], "executorId": "exec-1"})

    assert response.status_code == 200, response.text
    assert response.json()["leaseExpiresTime"] is None
    progress = progress_of(server, stored["id"])
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )
    assert "lease" not in progress and progress["attemptsCompleted"] == 1
    assert again.status_code == 409
    assert again.json()["errorResponse"]["title"] == "ConflictError"


def test_a_report_from_an_executor_without_the_lease_is_409_and_stores_nothing(
    server: RunningServer,
) -> None:
    _, stored = claimed_one(server, executor="exec-owner")
    before = store_snapshot(server.home)
    report = {"id": stored["progressId"], "percentComplete": 80.0}

    refused = [
        post(server, "updateAgendaProgress", {"agendaProgress": report, "executorId": "intruder"}),
        post(server, "heartbeat", {"agendaId": stored["id"], "executorId": "intruder"}),
        post(
            server,
            "updateAgenda",
            {"agendaId": stored["id"], "executorId": "intruder",
             "operations": [{"name": "more", "type": "logMessages", "payload": {}}]},
        ),
    ]  # fmt: skip

    for response in refused:
        assert response.status_code == 409, response.text
        problem = response.json()["errorResponse"]
        assert problem["title"] == "ConflictError"
        assert "intruder" in problem["description"] and "exec-owner" in problem["description"]
    assert store_snapshot(server.home) == before


def test_a_report_naming_an_unknown_operation_is_422_and_stores_nothing(
    server: RunningServer,
) -> None:
    _, stored = claimed_one(server)
    before = store_snapshot(server.home)
    report = {
        "id": stored["progressId"],
        "percentComplete": 50,
        "operationProgress": [{"operation": "say", "percentComplete": 50}, {"operation": "nope"}],
    }

    response = post(
        server, "updateAgendaProgress", {"agendaProgress": report, "executorId": "exec-1"}
    )

    assert response.status_code == 422
    assert "'nope'" in response.json()["errorResponse"]["description"]
    assert store_snapshot(server.home) == before


def test_update_agenda_appends_generated_operations_once(server: RunningServer) -> None:
    _, stored = claimed_one(server)
    generated = {"name": "extra", "type": "logMessages", "payload": {"logMessages": ["x"]}}
    body = {
        "agendaId": stored["id"],
        "executorId": "exec-1",
        "operations": [generated],
        "params": {"generatedBy": "test"},
    }

    first = post(server, "updateAgenda", body)
    resent = post(server, "updateAgenda", body)
    clash = post(server, "updateAgenda", {**body, "operations": [{**generated, "payload": {}}]})
    report = post(
        server,
        "updateAgendaProgress",
        {"agendaProgress": {"id": stored["progressId"],
                            "operationProgress": [{"operation": "extra", "percentComplete": 5}]},
         "executorId": "exec-1"},
    )  # fmt: skip

    assert first.status_code == 200, first.text
    assert [op["name"] for op in first.json()["agenda"]["operations"]] == ["say", "then", "extra"]
    assert first.json()["agenda"]["params"]["generatedBy"] == "test"
    assert resent.status_code == 200 and resent.json()["agenda"] == first.json()["agenda"]
    assert clash.status_code == 422
    assert report.status_code == 200, report.text
    progress = progress_of(server, stored["id"])
    assert [op["operation"] for op in progress["operationProgress"]] == ["say", "then", "extra"]
    assert progress["operationProgress"][2]["percentComplete"] == 5


def test_the_heartbeat_renews_and_answers_cancel_requested(server: RunningServer) -> None:
    _, stored = claimed_one(server)
    beat = {"agendaId": stored["id"], "executorId": "exec-1"}

    before = post(server, "heartbeat", beat).json()
    pop_ok(server.home, "cancel", stored["id"])
    after = post(server, "heartbeat", beat).json()

    assert before["cancelRequested"] is False
    assert after["cancelRequested"] is True
    assert after["leaseExpiresTime"] >= before["leaseExpiresTime"]


# -- a lapsed lease ------------------------------------------------------------------------------


def test_an_expired_lease_is_reclaimed_and_handed_out_again_with_its_progress(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server("--no-auth", env={"POP_LEASE_SECONDS": "1"})
    customer = "lapsed"
    insight = fair_insight(server.home, [customer])
    stored = submit(server, customer)
    (handed,) = pull(server, insight, 1, "dies")["agendas"]
    assert handed["id"] == stored["id"]
    ran = {
        "id": stored["progressId"],
        "processingState": "EXECUTING",
        "operationProgress": [
            {"operation": "say", "processingState": "COMPLETE",
             "processingStateMessage": "succeeded", "percentComplete": 100},
        ],
    }  # fmt: skip
    assert post(server, "updateAgendaProgress", {"agendaProgress": ran, "executorId": "dies"})
    # the executor dies: no more heartbeats; once the lease lapsed the reclaimer requeues it
    wait_for(
        lambda: (
            progress_of(server, stored["id"])["lease"]["expiresTime"] < time.time() * 1000 - 100
        ),
        timeout=10,
    )
    reclaimed = run_pop_at(server.home, "reclaim", "--older-than", "0s")
    assert reclaimed.returncode == 0, reclaimed.stderr

    again = pull(server, insight, 1, "second")
    late = post(server, "heartbeat", {"agendaId": stored["id"], "executorId": "dies"})

    assert [item["id"] for item in again["agendas"]] == [stored["id"]]
    (attached,) = again["agendaProgresses"]  # an op already ran: the progress goes with it
    assert attached["id"] == stored["progressId"]
    assert attached["operationProgress"][0]["processingStateMessage"] == "succeeded"
    assert attached["lease"]["owner"] == "second"
    assert late.status_code == 409


# -- tokens --------------------------------------------------------------------------------------


def token(home: Path, **rights: Any) -> str:
    client = Client(Settings.from_env().with_changes(home=home))
    try:
        _, secret = client.token_add(**rights)
    finally:
        client.close()
    return secret


def test_only_a_token_owning_the_insight_may_pull_and_report(auth_server: RunningServer) -> None:
    home = auth_server.home
    customer = f"t-{uuid.uuid4().hex[:6]}"
    insight = fair_insight(home, [customer])
    owner = {"Authorization": f"Bearer {token(home, kind='executor', insights=[insight])}"}
    other = {"Authorization": f"Bearer {token(home, kind='executor', insights=['elsewhere'])}"}
    customer_token = {
        "Authorization": f"Bearer {token(home, kind='customer', customers=[customer])}"
    }
    root = {"Authorization": f"Bearer {token(home, kind='global')}"}
    stored = submit(auth_server, customer, **customer_token)
    ask = {"insightId": insight, "count": 1, "executorId": "e"}
    before = store_snapshot(home)

    refused = [
        post(auth_server, "getAgenda", ask, **headers) for headers in (other, customer_token)
    ]
    nobody = post(auth_server, "getAgenda", ask)

    for response in refused:
        assert response.status_code == 403, response.text
        assert insight in response.json()["errorResponse"]["description"]
    assert nobody.status_code == 401
    snapshot = store_snapshot(home) or {}
    assert {k: v for k, v in snapshot.items() if "token" not in k} == {
        k: v for k, v in (before or {}).items() if "token" not in k
    }
    (handed,) = pull(auth_server, insight, 1, "e", **owner)["agendas"]
    assert handed["id"] == stored["id"]
    report = {
        "agendaProgress": {"id": stored["progressId"], "percentComplete": 5},
        "executorId": "e",
    }
    assert post(auth_server, "updateAgendaProgress", report, **other).status_code == 403
    assert post(auth_server, "heartbeat", {"agendaId": stored["id"], "executorId": "e"},
                **customer_token).status_code == 403  # fmt: skip
    assert post(auth_server, "updateAgendaProgress", report, **owner).status_code == 200
    assert post(auth_server, "heartbeat", {"agendaId": stored["id"], "executorId": "e"},
                **root).status_code == 200  # fmt: skip


# -- POP's attachment rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "attached"),
    [
        (None, False),
        ([], False),
        (["WAITING"], False),
        (["WAITING", "WAITING", "WAITING"], False),
        (["COMPLETE"], True),
        (["EXECUTING"], True),
        (["WAITING", "COMPLETE", "WAITING"], True),
    ],
)
def test_pops_progress_attachment_vectors(states: list[str] | None, attached: bool) -> None:
    progress = AgendaProgress.model_validate(
        {
            "id": "p",
            "operationProgress": None
            if states is None
            else [{"operation": f"op{n}", "processingState": s} for n, s in enumerate(states)],
        }
    )

    assert progress_goes_with(progress) is attached
    assert progress_goes_with(None) is False
