"""``POST /pop/resourcepool/service/createAgenda`` (POP §9.3) on a real ``pop serve``: agendas
are created only for insights the caller owns (global token, executor token for the insight,
token of the insight's customer); a token that does not own it gets 403 and the store is
unchanged; failures and successes are reported together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.server.conftest import RunningServer
from tests.server.test_auth import agenda, agenda_tables, bearer, token

ROUTE = "/pop/resourcepool/service/createAgenda"


@pytest.fixture(scope="module")
def tokens(auth_server: RunningServer) -> dict[str, str]:
    home = auth_server.home
    return {
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "global": token(home, kind="global", name="root"),
        "executor": token(home, kind="executor", insights=["default"], name="exec"),
        "other-executor": token(home, kind="executor", insights=["other"], name="other"),
    }


def create(server: RunningServer, secret: str, body: Any) -> Any:
    with server.http() as http:
        return http.post(ROUTE, json=body, headers=bearer(secret))


@pytest.mark.parametrize("who", ["global", "executor"])
def test_an_owner_of_the_insight_creates_agendas(
    auth_server: RunningServer, tokens: dict[str, str], who: str
) -> None:
    answer = create(
        auth_server,
        tokens[who],
        {"agendas": [agenda(customerId="acme", title=f"{who} 1"), None, agenda(customerId="b")]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errorResponse" not in body
    assert body["count"] == 2 and body["agendas"] == body["all"]
    created = body["agendas"]
    assert [item["customerId"] for item in created] == ["acme", "b"]
    assert all(item["agendaInsight"]["insightId"] == "default" for item in created)
    with auth_server.http() as http:
        stored = http.get(f"/pop/agenda/{created[0]['id']}", headers=bearer(tokens["global"]))
        progress = http.get(
            f"/pop/progress/agenda/{created[0]['id']}", headers=bearer(tokens["acme"])
        )
    assert stored.json()["all"][0]["title"] == f"{who} 1"
    assert progress.json()["all"][0]["processingState"] == "WAITING"


@pytest.mark.parametrize("who", ["acme", "other-executor"])
def test_a_token_that_does_not_own_the_insight_gets_403_and_nothing_is_stored(
    auth_server: RunningServer, tokens: dict[str, str], who: str
) -> None:
    before = agenda_tables(auth_server.home)
    answer = create(auth_server, tokens[who], {"agendas": [agenda(customerId="acme")]})
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["errorResponse"]["title"] == "ForbiddenError"
    assert "insight default" in body["errorResponse"]["description"]
    assert body["agendas"] == [] and body["count"] == 0
    assert agenda_tables(auth_server.home) == before


def test_successes_and_failures_are_reported_together(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    broken = {"customerId": "acme", "operations": [{"name": "x", "type": "no-such-type"}]}
    answer = create(
        auth_server,
        tokens["global"],
        {"agendas": [agenda(customerId="acme", title="kept"), broken, "not an agenda"]},
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [item["title"] for item in body["agendas"]] == ["kept"]
    problem = body["errorResponse"]
    assert problem["responseCode"] == 422
    assert problem["description"].count("[") == 2
    assert "no-such-type" in problem["description"]
    assert "must be a JSON object, not a string" in problem["description"]


def test_bad_requests_store_nothing(auth_server: RunningServer, tokens: dict[str, str]) -> None:
    before = agenda_tables(auth_server.home)
    no_customer = create(auth_server, tokens["executor"], {"agendas": [agenda()]})
    not_a_list = create(auth_server, tokens["global"], {"agendas": {"a": 1}})
    foreign = create(auth_server, tokens["acme"], {"agendas": [agenda(customerId="umbrella")]})
    with auth_server.http() as http:
        anonymous = http.post(ROUTE, json={"agendas": []})
    assert no_customer.status_code == 422
    assert "customerId" in no_customer.json()["errorResponse"]["description"]
    assert not_a_list.status_code == 422
    assert foreign.status_code == 403
    assert "umbrella" in foreign.json()["errorResponse"]["description"]
    assert anonymous.status_code == 401
    assert agenda_tables(auth_server.home) == before
    for empty in ({"agendas": []}, {"agendas": None}, {}):
        answer = create(auth_server, tokens["acme"], empty)
        assert answer.status_code == 200, answer.text
        assert answer.json()["agendas"] == [] and answer.json()["count"] == 0


def test_a_customer_token_owns_its_customers_insight(
    start_server: Callable[..., RunningServer],
) -> None:
    server = start_server()
    root = token(server.home, kind="global", name="root")
    acme = token(server.home, kind="customer", customers=["acme"], name="acme")
    umbrella = token(server.home, kind="customer", customers=["umbrella"], name="umbrella")
    with server.http() as http:
        for route, body in (
            ("/pop/resourcepool", {"id": "pool", "title": "pool"}),
            ("/pop/customer", {"id": "acme", "title": "Acme", "resourcePoolId": "pool"}),
            ("/pop/customer", {"id": "umbrella", "title": "U", "resourcePoolId": "pool"}),
            (
                "/pop/insight",
                {
                    "id": "acme-queue",
                    "customerId": "acme",
                    "title": "acme's queue",
                    "resourcePoolId": "pool",
                    "allowedCustomerIds": ["umbrella"],
                    "mappers": {"operationType": ["logMessages"]},
                },
            ),
        ):
            made = http.post(route, json=body, headers=bearer(root))
            assert made.status_code == 200, made.text
    mine = create(server, acme, {"agendas": [agenda()]})
    assert mine.status_code == 200, mine.text
    assert mine.json()["agendas"][0]["agendaInsight"]["insightId"] == "acme-queue"
    # umbrella's agendas may go to acme's insight, but umbrella does not own it
    before = agenda_tables(server.home)
    theirs = create(server, umbrella, {"agendas": [agenda()]})
    assert theirs.status_code == 403, theirs.text
    assert "acme-queue" in theirs.json()["errorResponse"]["description"]
    assert agenda_tables(server.home) == before
