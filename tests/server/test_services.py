"""POP's agenda services over a real ``pop serve`` (POP-REFERENCE §§3.6, 9.5, 9.6, 9.11):
run a template (and ``?dryRun=true``), rerun, cancel (pop's extension) and the progress summary,
checked against POP's vectors for status and outcome; every refused request stores nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from pop.models import ProcessingState
from tests.conftest import run_pop_at, store_snapshot
from tests.server.conftest import RunningServer

ECHO_TEMPLATE = {
    "title": "echo",
    "staticParameters": {"greeting": "hello"},
    "agenda": {
        "operations": [
            {
                "name": "say",
                "type": "logMessages",
                "payload": {"logMessages": ["@<pop.payload::/value>", "@<greeting>"]},
            }
        ]
    },
}


def _say(name: str, after: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "name": name,
        "type": "logMessages",
        "payload": {"logMessages": [name]},
    }
    if after:
        operation["params"] = {"dependsOn": after}
    return operation


CHAIN = {"operations": [_say("a"), _say("b", "a"), _say("c", "b")]}


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _states(progress: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        op["operation"]: (op["processingState"], op["processingStateMessage"])
        for op in progress["operationProgress"]
    }


@pytest.fixture(scope="module")
def echo_template(server: RunningServer) -> str:
    with server.http() as http:
        template_id: str = _ok(http.post("/pop/agendatemplate", json=ECHO_TEMPLATE))["all"][0]["id"]
    return template_id


# -- run -----------------------------------------------------------------------------------------


def test_run_fills_the_template_from_a_string_payload_and_queues_the_agenda(
    server: RunningServer, echo_template: str
) -> None:
    link = f"run-{uuid.uuid4().hex[:8]}"
    with server.http() as http:
        body = _ok(
            http.post(
                "/pop/agenda/service/run",
                json={"agendaTemplateId": echo_template, "payload": '{"value":"1234"}'},
                params={"x": "ignored"},
                headers={"X-pop-cid": link},
            )
        )
        (stored,) = body["agendas"]
        progress = _ok(http.get(f"/pop/progress/agenda/{stored['id']}"))["all"][0]

    assert body["all"] == body["agendas"] and body["count"] == 1
    assert stored["operations"][0]["payload"] == {"logMessages": ["1234", "hello"]}  # POP §3.6
    assert stored["title"] == "echo" and stored["cid"] == link  # title from the template
    assert stored["customerId"] == "default" and stored["progressId"]
    assert progress["processingState"] == "WAITING"


def test_a_dry_run_answers_the_filled_agenda_and_stores_nothing(
    server: RunningServer, echo_template: str
) -> None:
    before = store_snapshot(server.home)
    with server.http() as http:
        body = _ok(
            http.post(
                "/pop/agenda/service/run",
                params={"dryRun": "true"},
                json={"agendaTemplateId": echo_template, "payload": {"value": "7"}, "linkId": "L"},
            )
        )

    (agenda,) = body["agendas"]
    assert agenda["operations"][0]["payload"] == {"logMessages": ["7", "hello"]}
    assert agenda["linkId"] == "L" and "id" not in agenda
    assert store_snapshot(server.home) == before


def test_run_links_the_agenda_when_asked(server: RunningServer, echo_template: str) -> None:
    link = f"run-{uuid.uuid4().hex[:8]}"
    with server.http() as http:
        _ok(
            http.post(
                "/pop/agenda/service/run",
                json={"agendaTemplateId": "echo", "payload": {"value": "1"}, "linkId": link},
            )
        )
        found = _ok(http.get("/pop/agenda", params={"bylinkId": link}))

    assert found["count"] == 1  # the template found by its unique title too


# -- rerun and cancel ----------------------------------------------------------------------------


def test_rerun_resets_the_ops_asked_and_their_dependents(server: RunningServer) -> None:
    with server.http() as http:
        stored = _ok(http.post("/pop/agenda", json=CHAIN))["all"][0]
    executed = run_pop_at(server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr

    with server.http() as http:
        done = _ok(http.get(f"/pop/progress/agenda/{stored['id']}"))["all"][0]
        assert done["processingState"] == "COMPLETE", done
        partial = _ok(
            http.post(
                "/pop/agenda/service/rerun",
                json={
                    "agendaId": stored["id"],
                    "params": ["skipExecution", "operationsToReset=b", "bogus", None, ""],
                },
            )
        )["agendaProgress"]
        still_waiting = _ok(http.get(f"/pop/progress/agenda/{stored['id']}"))["all"][0]
        every = _ok(
            http.post("/pop/agenda/service/rerun", json={"agendaId": stored["progressId"]})
        )["agendaProgress"]

    succeeded = ("COMPLETE", "succeeded")
    pending = ("WAITING", "pending")
    assert (partial["processingState"], partial["processingStateMessage"]) == pending
    assert _states(partial) == {"a": succeeded, "b": pending, "c": pending}
    assert _states(still_waiting) == _states(partial)
    assert _states(every) == {"a": pending, "b": pending, "c": pending}
    client = Client(Settings.from_env().with_changes(home=server.home))
    try:
        assert client.queued(stored["id"])  # resetAll without skipExecution queues it again
    finally:
        client.close()


def test_cancel_ends_a_waiting_agenda_and_refuses_a_complete_one(server: RunningServer) -> None:
    with server.http() as http:
        stored = _ok(http.post("/pop/agenda", json=CHAIN))["all"][0]
        cancelled = _ok(http.post("/pop/agenda/service/cancel", json={"agendaId": stored["id"]}))
        again = http.post("/pop/agenda/service/cancel", json={"agendaId": stored["id"]})

    progress = cancelled["agendaProgress"]
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "failed",
    )
    assert again.status_code == 422
    assert "already COMPLETE" in again.json()["errorResponse"]["description"]


# -- progress summary (POP §9.11 vectors) --------------------------------------------------------

W, E, C = ProcessingState.WAITING, ProcessingState.EXECUTING, ProcessingState.COMPLETE
SUMMARY_VECTORS: list[tuple[str, list[tuple[ProcessingState, str, float | None]], str, Any]] = [
    # (case, members as (state, message, percent), summary state, summary percent or "absent")
    ("[null] -> 0", [(W, "pending", None)], "WAITING", 0.0),
    ("[null, 45] -> 22.5", [(W, "pending", None), (E, "Running", 45.0)], "EXECUTING", 22.5),
    ("[45, null] -> 22.5", [(E, "Running", 45.0), (W, "pending", None)], "EXECUTING", 22.5),
    ("[150 x3] -> 100", [(C, "succeeded", 150.0)] * 3, "COMPLETE", 100.0),
    ("[W, W] -> W", [(W, "pending", None)] * 2, "WAITING", 0.0),
    ("[C, W] -> E", [(C, "succeeded", 100.0), (W, "pending", None)], "EXECUTING", 50.0),
    ("[C, C] -> C", [(C, "succeeded", 100.0)] * 2, "COMPLETE", 100.0),
    ("[E] -> E", [(E, "Running", 10.0)], "EXECUTING", 10.0),
    ("a failed member -> C", [(C, "FAILED", 100.0), (E, "Running", 20.0)], "COMPLETE", "absent"),
    ("no member -> C", [], "COMPLETE", 0.0),
]


@pytest.mark.parametrize(
    ("members", "state", "percent"),
    [case[1:] for case in SUMMARY_VECTORS],
    ids=[case[0] for case in SUMMARY_VECTORS],
)
def test_the_progress_summary_follows_pops_vectors(
    server: RunningServer,
    members: list[tuple[ProcessingState, str, float | None]],
    state: str,
    percent: Any,
) -> None:
    link = f"sum-{uuid.uuid4().hex[:8]}"
    with server.http() as http:
        stored = [
            _ok(http.post("/pop/agenda", json={**CHAIN, "linkId": link}))["all"][0] for _ in members
        ]
    client = Client(Settings.from_env().with_changes(home=server.home))
    try:
        with client.store.transaction():
            for agenda, (member_state, message, member_percent) in zip(
                stored, members, strict=True
            ):
                client.store.progress.update_agenda(
                    agenda["progressId"],
                    state=member_state,
                    message=message,
                    percent=member_percent,
                )
    finally:
        client.close()

    with server.http() as http:
        summary = _ok(http.post("/pop/progress/agenda/service", json={"linkId": link}))

    assert summary["processingState"] == state
    if percent == "absent":
        assert "processingPercent" not in summary
    else:
        assert summary["processingPercent"] == pytest.approx(percent)
    assert sorted(item["agendaId"] for item in summary["progressList"]) == sorted(
        agenda["id"] for agenda in stored
    )


# -- refused requests: the status, the envelope, and nothing stored ------------------------------

CYCLE_TEMPLATE = {
    "title": "cycle",
    "agenda": {
        "operations": [
            {"name": "a", "type": "logMessages", "payload": {"logMessages": ["@<b.out>"]}},
            {"name": "b", "type": "logMessages", "payload": {"logMessages": ["@<a.out>"]}},
        ]
    },
}
MISSING_REF_TEMPLATE = {
    "title": "dangling",
    "agenda": {
        "operations": [
            {"name": "a", "type": "logMessages", "payload": {"logMessages": ["@<nope.out>"]}}
        ]
    },
}

REFUSED: list[tuple[str, str, Any, int, str, list[str]]] = [
    # (case, path, body, status, title, words in the description)
    ("run: no template id", "run", {"payload": "{}"}, 422, "InputError", ["agendaTemplateId"]),
    (
        "run: a blank template id",
        "run",
        {"agendaTemplateId": "  ", "payload": "{}"},
        422,
        "InputError",
        ["agendaTemplateId and payload"],
    ),
    (
        "run: no payload",
        "run",
        {"agendaTemplateId": "echo"},
        422,
        "InputError",
        ["payload must be specified"],
    ),
    (
        "run: a payload that is not JSON",
        "run",
        {"agendaTemplateId": "echo", "payload": "{"},
        422,
        "InputError",
        ["parse the payload"],
    ),
    (
        "run: a template that is not stored",
        "run",
        {"agendaTemplateId": "no-such-template", "payload": "{}"},
        404,
        "NotFoundError",
        ["no-such-template"],
    ),
    (
        "run: the template id is a number",
        "run",
        {"agendaTemplateId": 12, "payload": "{}"},
        422,
        "InputError",
        ["agendaTemplateId"],
    ),
    (
        "run: a payload field the template needs is missing",
        "run",
        {"agendaTemplateId": "echo", "payload": '{"other": 1}'},
        422,
        "InputError",
        ["value"],
    ),
    (
        "run: a cycle in the filled agenda",
        "run",
        {"agendaTemplateId": "cycle", "payload": "{}"},
        422,
        "AgendaValidationError",
        ["cycle"],
    ),
    (
        "run: a reference to no op",
        "run",
        {"agendaTemplateId": "dangling", "payload": "{}"},
        422,
        "AgendaValidationError",
        ["nope"],
    ),
    (
        "run: linkId not a string",
        "run",
        {"agendaTemplateId": "echo", "payload": '{"value":1}', "linkId": 5},
        422,
        "InputError",
        ["linkId"],
    ),
    ("rerun: no agendaId", "rerun", {"params": []}, 422, "InputError", ["agendaId must be"]),
    ("rerun: an empty agendaId", "rerun", {"agendaId": ""}, 422, "InputError", ["agendaId"]),
    (
        "rerun: an agenda that is not stored",
        "rerun",
        {"agendaId": "no-such-agenda"},
        404,
        "NotFoundError",
        ["no-such-agenda"],
    ),
    (
        "rerun: operationsToReset without names",
        "rerun",
        {"agendaId": "{agenda}", "params": ["operationsToReset="]},
        422,
        "InputError",
        ["no operations specified"],
    ),
    (
        "rerun: operationsToReset naming no op",
        "rerun",
        {"agendaId": "{agenda}", "params": ["operationsToReset=a,,zzz"]},
        422,
        "InputError",
        ["zzz"],
    ),
    (
        "rerun: params not a list",
        "rerun",
        {"agendaId": "{agenda}", "params": "resetAll"},
        422,
        "InputError",
        ["params"],
    ),
    (
        "rerun: a param that is not a string",
        "rerun",
        {"agendaId": "{agenda}", "params": [5]},
        422,
        "InputError",
        ["strings"],
    ),
    ("rerun: an array body", "rerun", ["{agenda}"], 422, "InputError", ["JSON object"]),
    ("cancel: no agendaId", "cancel", {}, 422, "InputError", ["agendaId must be"]),
    (
        "summary: no linkId",
        "summary",
        {},
        422,
        "InputError",
        ["LinkId is required"],
    ),
    ("summary: a blank linkId", "summary", {"linkId": " "}, 422, "InputError", ["LinkId"]),
    ("summary: linkId a number", "summary", {"linkId": 3}, 422, "InputError", ["LinkId"]),
]

PATHS = {
    "run": "/pop/agenda/service/run",
    "rerun": "/pop/agenda/service/rerun",
    "cancel": "/pop/agenda/service/cancel",
    "summary": "/pop/progress/agenda/service",
}


@pytest.fixture(scope="module")
def refused_targets(server: RunningServer, echo_template: str) -> dict[str, str]:
    with server.http() as http:
        for template in (CYCLE_TEMPLATE, MISSING_REF_TEMPLATE):
            _ok(http.post("/pop/agendatemplate", json=template))
        agenda_id: str = _ok(http.post("/pop/agenda", json=CHAIN))["all"][0]["id"]
    return {"agenda": agenda_id}


@pytest.mark.parametrize(
    ("service", "body", "status", "title", "words"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_a_refused_service_request_answers_its_error_and_stores_nothing(
    server: RunningServer,
    refused_targets: dict[str, str],
    service: str,
    body: Any,
    status: int,
    title: str,
    words: list[str],
) -> None:
    if isinstance(body, dict) and body.get("agendaId") == "{agenda}":
        body = {**body, "agendaId": refused_targets["agenda"]}
    if isinstance(body, list):
        body = [refused_targets["agenda"]]
    before = store_snapshot(server.home)

    with server.http() as http:
        response = http.post(PATHS[service], json=body)

    assert response.status_code == status, response.text
    problem = response.json()["errorResponse"]
    assert (problem["title"], problem["responseCode"]) == (title, status)
    for word in words:
        assert word in problem["description"], problem
    assert store_snapshot(server.home) == before


def test_malformed_json_on_a_service_route_is_422(server: RunningServer) -> None:
    before = store_snapshot(server.home)
    with server.http() as http:
        response = http.post(
            "/pop/agenda/service/run",
            content=b'{"agendaTemplateId": "echo",',
            headers={"Content-Type": "application/json"},
        )

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["errorResponse"]["description"]
    assert store_snapshot(server.home) == before
