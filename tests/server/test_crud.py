"""POP's CRUD semantics (POP-REFERENCE §2.3) over a real ``pop serve``: templates, customers,
resource pools, insights, agendas and progress; PUT is a partial merge (null or absent fields
keep their values), DELETE of a missing object succeeds empty and answers what it deleted, a
running agenda cannot be deleted (409); every bad request leaves the store as it was. The
visibility matrix over routes x methods x tokens is in test_visibility.py."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from pop.models import ProcessingState
from tests.conftest import store_snapshot
from tests.server.conftest import RunningServer

TEMPLATE = {
    "title": "say it",
    "staticParameters": {"greeting": "hello"},
    "agenda": {
        "operations": [
            {
                "name": "say",
                "type": "logMessages",
                "payload": {"logMessages": ["@<greeting>", "@<pop.payload::/value>"]},
            }
        ]
    },
}


def small_agenda(**fields: Any) -> dict[str, Any]:
    return {
        "operations": [{"name": "say", "type": "logMessages", "payload": {"logMessages": ["hi"]}}],
        **fields,
    }


def one(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["count"] == 1, body
    found: dict[str, Any] = body["all"][0]
    return found


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def local_client(home: Path) -> Client:
    return Client(Settings.from_env().with_changes(home=home))


@pytest.fixture(scope="module", autouse=True)
def default_customer(server: RunningServer) -> None:
    """Once a customer is stored, agendas need one with a pool and a matching insight: the
    ``default`` customer gets them here, before the tests add customers of their own."""
    with server.http() as http:
        one(http.post("/pop/resourcepool", json={"id": "crud-pool", "title": "crud"}))
        one(
            http.post(
                "/pop/customer",
                json={"id": "default", "title": "default", "resourcePoolId": "crud-pool"},
            )
        )
        one(
            http.post(
                "/pop/insight",
                json={
                    "id": "crud-insight",
                    "title": "crud",
                    "resourcePoolId": "crud-pool",
                    "isGlobal": True,
                    "mappers": {"operationType": ["logMessages"]},
                },
            )
        )


# -- templates -----------------------------------------------------------------------------------


def test_a_template_is_added_read_merged_queried_and_deleted(server: RunningServer) -> None:
    title = unique("template")
    with server.http() as http:
        added = one(http.post("/pop/agendatemplate", json={**TEMPLATE, "title": title}))
        template_id = added["id"]
        assert added["customerId"] == "default"
        assert one(http.get(f"/pop/agendatemplate/{template_id}")) == added

        merged = one(
            http.put(
                f"/pop/agendatemplate/{template_id}",
                json={"id": template_id, "isGlobal": True, "title": None, "params": {"k": 1}},
            )
        )
        assert merged["title"] == title  # null keeps the stored value
        assert merged["isGlobal"] is True and merged["params"] == {"k": 1}
        assert merged["staticParameters"] == TEMPLATE["staticParameters"]  # absent: kept
        assert merged["addedTime"] == added["addedTime"]
        assert merged["updatedTime"] >= added["updatedTime"]

        by_title = http.get("/pop/agendatemplate", params={"bytitle": title}).json()
        counted = http.get(
            "/pop/agendatemplate", params={"bytitle": title, "bycount": "true"}
        ).json()
        fields = http.get(
            "/pop/agendatemplate", params={"bytitle": title, "byfields": "id,isGlobal"}
        ).json()
        assert [item["id"] for item in by_title["all"]] == [template_id]
        assert counted["count"] == 1 and "all" not in counted
        assert fields["all"] == [{"id": template_id, "isGlobal": True}]

        deleted = one(http.delete(f"/pop/agendatemplate/{template_id}"))
        again = http.delete(f"/pop/agendatemplate/{template_id}")
        gone = http.get(f"/pop/agendatemplate/{template_id}")

    assert deleted["id"] == template_id and deleted["isGlobal"] is True
    assert again.status_code == 200 and again.json()["all"] == [] and again.json()["count"] == 0
    assert gone.status_code == 404


def test_put_and_delete_on_the_collection_take_the_id_from_the_query_or_the_body(
    server: RunningServer,
) -> None:
    with server.http() as http:
        template_id = one(http.post("/pop/agendatemplate", json=TEMPLATE))["id"]
        by_body = one(http.put("/pop/agendatemplate", json={"id": template_id, "title": "b"}))
        by_query = one(
            http.request("DELETE", "/pop/agendatemplate", params={"id": template_id}, json={"x": 1})
        )

    assert by_body["title"] == "b"
    assert by_query["id"] == template_id


def test_unknown_fields_are_kept_as_pop_keeps_them(server: RunningServer) -> None:
    with server.http() as http:
        added = one(http.post("/pop/agendatemplate", json={**TEMPLATE, "ownNote": {"a": 1}}))
        merged = one(
            http.put(f"/pop/agendatemplate/{added['id']}", json={"anotherNote": "kept too"})
        )

    assert merged["ownNote"] == {"a": 1} and merged["anotherNote"] == "kept too"


# -- customers, pools, insights ------------------------------------------------------------------


def test_facility_objects_round_trip_with_pops_merge_and_delete(server: RunningServer) -> None:
    pool_id, customer_id, insight_id = unique("pool"), unique("cust"), unique("insight")
    with server.http() as http:
        pool = one(http.post("/pop/resourcepool", json={"id": pool_id, "title": "the pool"}))
        customer = one(
            http.post(
                "/pop/customer",
                json={"id": customer_id, "title": "C", "resourcePoolId": pool_id},
            )
        )
        insight = one(
            http.post(
                "/pop/insight",
                json={
                    "id": insight_id,
                    "title": "I",
                    "resourcePoolId": pool_id,
                    "queueSize": 2,
                    "mappers": {"operationType": ["logMessages"]},
                },
            )
        )
        pool_now = one(http.get(f"/pop/resourcepool/{pool_id}"))
        renamed = one(
            http.put(f"/pop/insight/{insight_id}", json={"title": "I2", "queueSize": None})
        )
        billed = one(http.put(f"/pop/customer/{customer_id}", json={"billingCode": "B-7"}))
        by_pool = http.get("/pop/insight", params={"byresourcePoolId": pool_id}).json()
        in_use = http.delete(f"/pop/resourcepool/{pool_id}")
        deleted_insight = one(http.delete(f"/pop/insight/{insight_id}"))
        deleted_customer = one(http.delete(f"/pop/customer/{customer_id}"))
        deleted_pool = one(http.delete(f"/pop/resourcepool/{pool_id}"))
        missing = http.delete(f"/pop/resourcepool/{pool_id}")

    assert pool["insightIds"] == [] and pool_now["insightIds"] == [insight_id]
    assert customer["customerId"] == customer_id  # a customer's id is its customerId
    assert insight["schedulingAlgorithm"] == "FirstInFirstOut"
    assert renamed["title"] == "I2" and renamed["queueSize"] == 2  # null keeps the value
    assert renamed["mappers"] == {"operationType": ["logMessages"]}
    assert billed["billingCode"] == "B-7" and billed["title"] == "C"
    assert [item["id"] for item in by_pool["all"]] == [insight_id]
    assert in_use.status_code == 422
    assert "still used" in in_use.json()["errorResponse"]["description"]
    assert (deleted_insight["id"], deleted_customer["id"], deleted_pool["id"]) == (
        insight_id,
        customer_id,
        pool_id,
    )
    assert missing.status_code == 200 and missing.json()["all"] == []


# -- agendas and progress ------------------------------------------------------------------------


def test_an_agenda_put_merges_its_title_and_refuses_what_changes_how_it_runs(
    server: RunningServer,
) -> None:
    with server.http() as http:
        stored = one(http.post("/pop/agenda", json=small_agenda(title="before", linkId="L1")))
        merged = one(http.put(f"/pop/agenda/{stored['id']}", json={"title": "after"}))
        same = one(http.put(f"/pop/agenda/{stored['id']}", json={**merged, "jobId": "j-1"}))
        before = store_snapshot(server.home)
        refused = http.put(f"/pop/agenda/{stored['id']}", json={"params": {"x": 1}, "linkId": "L2"})

    assert merged["title"] == "after" and merged["operations"] == stored["operations"]
    assert merged["linkId"] == "L1" and merged["progressId"] == stored["progressId"]
    assert same["jobId"] == "j-1"  # the whole object PUT back: unchanged fields are fine
    assert refused.status_code == 422
    assert "linkId, params cannot change" in refused.json()["errorResponse"]["description"]
    assert store_snapshot(server.home) == before


def test_deleting_an_agenda_removes_it_with_its_progress_and_answers_it(
    server: RunningServer,
) -> None:
    with server.http() as http:
        stored = one(http.post("/pop/agenda", json=small_agenda(title="doomed")))
        deleted = one(http.delete(f"/pop/agenda/{stored['id']}"))
        agenda = http.get(f"/pop/agenda/{stored['id']}")
        progress = http.get(f"/pop/progress/agenda/{stored['id']}")
        ops = http.get(
            "/pop/progress/operation", params={"byagendaProgressId": stored["progressId"]}
        )
        again = http.delete(f"/pop/agenda/{stored['id']}")

    assert deleted == stored
    assert agenda.status_code == 404 and progress.status_code == 404
    assert ops.json()["all"] == []
    assert again.status_code == 200 and again.json() == {
        "all": [],
        "count": 0,
        "cid": again.json()["cid"],
    }


def test_deleting_progress_deletes_the_agenda_and_answers_the_progress(
    server: RunningServer,
) -> None:
    with server.http() as http:
        stored = one(http.post("/pop/agenda", json=small_agenda()))
        deleted = one(http.delete(f"/pop/progress/agenda/{stored['progressId']}"))
        agenda = http.get(f"/pop/agenda/{stored['id']}")
        missing = http.delete(f"/pop/progress/agenda/{stored['progressId']}")

    assert deleted["id"] == stored["progressId"] and deleted["agendaId"] == stored["id"]
    assert [op["operation"] for op in deleted["operationProgress"]] == ["say"]
    assert agenda.status_code == 404
    assert missing.status_code == 200 and missing.json()["all"] == []


def test_a_running_agenda_cannot_be_deleted(server: RunningServer) -> None:
    with server.http() as http:
        stored = one(http.post("/pop/agenda", json=small_agenda()))
    client = local_client(server.home)
    try:
        with client.store.transaction():
            client.store.progress.update_agenda(
                stored["progressId"], state=ProcessingState.EXECUTING
            )
    finally:
        client.close()
    before = store_snapshot(server.home)

    with server.http() as http:
        responses = [
            http.delete(f"/pop/agenda/{stored['id']}"),
            http.delete(f"/pop/progress/agenda/{stored['id']}"),
        ]

    for response in responses:
        assert response.status_code == 409, response.text
        problem = response.json()["errorResponse"]
        assert problem["title"] == "ConflictError"
        assert "running" in problem["description"] and "cancel" in problem["hint"]
    assert store_snapshot(server.home) == before


def test_operation_progress_is_read_by_id_and_by_agenda_progress_id(
    server: RunningServer,
) -> None:
    agenda = {
        "operations": [
            {"name": "first", "type": "logMessages", "payload": {"logMessages": ["1"]}},
            {"name": "second", "type": "logMessages", "payload": {"logMessages": ["2"]}},
        ]
    }
    with server.http() as http:
        stored = one(http.post("/pop/agenda", json=agenda))
        progress_id = stored["progressId"]
        both = http.get("/pop/progress/operation", params={"byagendaProgressId": progress_id})
        second = one(http.get(f"/pop/progress/operation/{progress_id}-second"))
        named = http.get(
            "/pop/progress/operation",
            params={"byagendaProgressId": progress_id, "byoperation": "first", "byfields": "id"},
        )
        counted = http.get(
            "/pop/progress/operation", params={"byagendaProgressId": progress_id, "bycount": "true"}
        )

    assert [op["id"] for op in both.json()["all"]] == [
        f"{progress_id}-first",
        f"{progress_id}-second",
    ]
    assert {op["processingState"] for op in both.json()["all"]} == {"WAITING"}
    assert second["operation"] == "second" and second["agendaProgressId"] == progress_id
    assert named.json()["all"] == [{"id": f"{progress_id}-first"}]
    assert counted.json()["count"] == 2


# -- bad input: the status, the envelope, and nothing stored -------------------------------------

JSON = {"Content-Type": "application/json"}

BAD: list[tuple[str, str, str, dict[str, Any], int, str, list[str]]] = [
    # (case, method, path, request options, status, title, words in the description)
    (
        "template PUT, malformed JSON",
        "PUT",
        "/pop/agendatemplate/{template}",
        {"content": b'{"title": ', "headers": JSON},
        422,
        "InputError",
        ["not valid JSON"],
    ),
    (
        "template PUT, mismatched id",
        "PUT",
        "/pop/agendatemplate/{template}",
        {"json": {"id": "another", "title": "x"}},
        422,
        "InputError",
        ["mismatched id", "another"],
    ),
    (
        "template PUT, an array",
        "PUT",
        "/pop/agendatemplate/{template}",
        {"json": [{"title": "x"}]},
        422,
        "InputError",
        ["JSON object"],
    ),
    (
        "template PUT, agenda of the wrong type",
        "PUT",
        "/pop/agendatemplate/{template}",
        {"json": {"agenda": "none"}},
        422,
        "InputError",
        ["agenda"],
    ),
    (
        "template PUT, a static parameter named pop.payload",
        "PUT",
        "/pop/agendatemplate/{template}",
        {"json": {"staticParameters": {"pop.payload": 1}}},
        422,
        "InputError",
        ["pop.payload"],
    ),
    (
        "template PUT without any id",
        "PUT",
        "/pop/agendatemplate",
        {"json": {"title": "x"}},
        422,
        "InputError",
        ["without its id"],
    ),
    (
        "template PUT of a missing one",
        "PUT",
        "/pop/agendatemplate/no-such-template",
        {"json": {"title": "x"}},
        404,
        "NotFoundError",
        ["no-such-template"],
    ),
    (
        "template POST without an agenda",
        "POST",
        "/pop/agendatemplate",
        {"json": {"title": "x"}},
        422,
        "InputError",
        ["agenda"],
    ),
    (
        "template POST, operations not a list",
        "POST",
        "/pop/agendatemplate",
        {"json": {"agenda": {"operations": {"name": "a"}}}},
        422,
        "InputError",
        ["operations"],
    ),
    (
        "template POST, customerId not a string",
        "POST",
        "/pop/agendatemplate",
        {"json": {**TEMPLATE, "customerId": ["a"]}},
        422,
        "InputError",
        ["customerId"],
    ),
    (
        "customer PUT, mismatched id",
        "PUT",
        "/pop/customer/{customer}",
        {"json": {"id": "someone-else"}},
        422,
        "InputError",
        ["mismatched id"],
    ),
    (
        "customer POST without a title",
        "POST",
        "/pop/customer",
        {"json": {"id": "untitled"}},
        422,
        "InputError",
        ["title"],
    ),
    (
        "customer POST, id and customerId differ",
        "POST",
        "/pop/customer",
        {"json": {"id": "a1", "customerId": "b1", "title": "t"}},
        422,
        "InputError",
        ["differ"],
    ),
    (
        "insight POST, queueSize not a number",
        "POST",
        "/pop/insight",
        {"json": {"title": "i", "resourcePoolId": "{pool}", "queueSize": "lots"}},
        422,
        "InputError",
        ["queueSize"],
    ),
    (
        "insight POST, unknown mapper",
        "POST",
        "/pop/insight",
        {"json": {"title": "i", "resourcePoolId": "{pool}", "mappers": {"byColour": ["red"]}}},
        422,
        "InputError",
        ["byColour"],
    ),
    (
        "insight POST, a pool that is not stored",
        "POST",
        "/pop/insight",
        {"json": {"title": "i", "resourcePoolId": "no-such-pool"}},
        422,
        "InputError",
        ["no-such-pool"],
    ),
    (
        "insight PUT, a queue size of 0",
        "PUT",
        "/pop/insight/{insight}",
        {"json": {"queueSize": 0}},
        422,
        "InputError",
        ["queue size 0"],
    ),
    (
        "pool DELETE while a customer uses it",
        "DELETE",
        "/pop/resourcepool/{pool}",
        {},
        422,
        "InputError",
        ["still used"],
    ),
    (
        "agenda PUT, mismatched id",
        "PUT",
        "/pop/agenda/{agenda}",
        {"json": {"id": "other-agenda", "title": "x"}},
        422,
        "InputError",
        ["mismatched id"],
    ),
    (
        "agenda PUT, new operations",
        "PUT",
        "/pop/agenda/{agenda}",
        {"json": {"operations": [{"name": "x", "type": "logMessages", "payload": {}}]}},
        422,
        "InputError",
        ["operations cannot change"],
    ),
    (
        "agenda PUT, another customer",
        "PUT",
        "/pop/agenda/{agenda}",
        {"json": {"customerId": "someone-else"}},
        422,
        "InputError",
        ["customerId cannot change"],
    ),
    (
        "agenda PUT, a title that is not text",
        "PUT",
        "/pop/agenda/{agenda}",
        {"json": {"title": {"text": "x"}}},
        422,
        "InputError",
        ["title"],
    ),
    (
        "agenda PUT, malformed JSON",
        "PUT",
        "/pop/agenda/{agenda}",
        {"content": b"{'title': 'x'}", "headers": JSON},
        422,
        "InputError",
        ["not valid JSON"],
    ),
    (
        "agenda PUT of a missing one",
        "PUT",
        "/pop/agenda/no-such-agenda",
        {"json": {"title": "x"}},
        404,
        "NotFoundError",
        ["no-such-agenda"],
    ),
    (
        "agenda DELETE without any id",
        "DELETE",
        "/pop/agenda",
        {},
        422,
        "InputError",
        ["without its id"],
    ),
    (
        "progress PUT is not offered",
        "PUT",
        "/pop/progress/agenda/{agenda}",
        {"json": {"processingState": "COMPLETE"}},
        405,
        "MethodNotAllowedError",
        ["PUT", "DELETE", "GET"],
    ),
    (
        "operation progress that is not stored",
        "GET",
        "/pop/progress/operation/no-such-progress-op",
        {},
        404,
        "NotFoundError",
        ["no-such-progress-op"],
    ),
    (
        "a bylimit of 0 on customers",
        "GET",
        "/pop/customer?bylimit=0",
        {},
        422,
        "InputError",
        ["bylimit"],
    ),
]


@pytest.fixture(scope="module")
def targets(server: RunningServer) -> dict[str, str]:
    """Stored objects the bad requests aim at."""
    pool, customer, insight = unique("pool"), unique("cust"), unique("insight")
    with server.http() as http:
        template = one(http.post("/pop/agendatemplate", json=TEMPLATE))["id"]
        one(http.post("/pop/resourcepool", json={"id": pool, "title": "p"}))
        one(http.post("/pop/customer", json={"id": customer, "title": "c", "resourcePoolId": pool}))
        one(http.post("/pop/insight", json={"id": insight, "title": "i", "resourcePoolId": pool}))
        agenda = one(http.post("/pop/agenda", json=small_agenda()))["id"]
    return {
        "template": template,
        "pool": pool,
        "customer": customer,
        "insight": insight,
        "agenda": agenda,
    }


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value and "}" in value else value
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "title", "words"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_a_bad_request_answers_its_error_and_stores_nothing(
    server: RunningServer,
    targets: dict[str, str],
    method: str,
    path: str,
    options: dict[str, Any],
    status: int,
    title: str,
    words: list[str],
) -> None:
    filled = {
        key: _fill(value, targets) if key == "json" else value for key, value in options.items()
    }
    before = store_snapshot(server.home)

    with server.http() as http:
        response = http.request(method, path.format(**targets), **filled)

    assert response.status_code == status, response.text
    problem = response.json()["errorResponse"]
    assert (problem["title"], problem["responseCode"]) == (title, status)
    for word in words:
        assert word in problem["description"], problem
    assert "Traceback" not in response.text
    assert store_snapshot(server.home) == before
