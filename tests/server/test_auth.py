"""Tokens on a real ``pop serve``: 401 without a valid one, a customer token sees only its
customers' agendas and progress (others are left out silently) and may not submit for another
customer (403 naming it, nothing stored); a global token sees everything; ``/pop/version`` and
the health routes need no token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from tests.conftest import store_snapshot
from tests.server.conftest import RunningServer, bearer, the_five_tokens
from tests.server.conftest import add_token as token


def agenda(**fields: Any) -> dict[str, Any]:
    return {
        "operations": [{"name": "say", "type": "logMessages", "payload": {"logMessages": ["hi"]}}],
        **fields,
    }


def agenda_tables(home: Path) -> dict[str, Any]:
    """The store without its tokens table (a verified token records when it was last used)."""
    snapshot = store_snapshot(home) or {}
    return {table: rows for table, rows in snapshot.items() if "token" not in table}


@pytest.fixture(scope="module")
def tokens(auth_server: RunningServer) -> dict[str, str]:
    return the_five_tokens(auth_server.home)


@pytest.fixture(scope="module")
def stored(auth_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """One agenda of acme (submitted with acme's token) and one of umbrella (global token)."""
    with auth_server.http() as http:
        acme = http.post("/pop/agenda", json=agenda(linkId="l"), headers=bearer(tokens["acme"]))
        umbrella = http.post(
            "/pop/agenda",
            json=agenda(customerId="umbrella", linkId="l"),
            headers=bearer(tokens["global"]),
        )
    assert acme.status_code == 200, acme.text
    assert umbrella.status_code == 200, umbrella.text
    return {"acme": acme.json()["all"][0]["id"], "umbrella": umbrella.json()["all"][0]["id"]}


ROUTES = [
    ("GET", "/pop/agenda"),
    ("GET", "/pop/agenda/x"),
    ("POST", "/pop/agenda"),
    ("GET", "/pop/progress/agenda"),
    ("GET", "/pop/progress/agenda/x"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[" ".join(r) for r in ROUTES])
@pytest.mark.parametrize(
    "authorization", [None, "Bearer pop_nosuchtoken", "Basic bm90LWEtdG9rZW4tZm9yLXBvcA"]
)  # the Basic credential cannot occur in a random correlation id (it has non-hex letters)
def test_a_pop_route_without_a_valid_token_is_401(
    auth_server: RunningServer, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    before = agenda_tables(auth_server.home)

    with auth_server.http() as http:
        response = http.request(method, path, json=agenda(), headers=headers)

    assert response.status_code == 401
    problem = response.json()["errorResponse"]
    assert problem["title"] == "UnauthorizedError"
    assert problem["responseCode"] == 401
    if authorization:
        assert authorization.split(" ", 1)[1] not in response.text
    assert agenda_tables(auth_server.home) == before


def test_version_and_health_need_no_token(auth_server: RunningServer) -> None:
    with auth_server.http() as http:
        assert http.get("/pop/version").status_code == 200
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200


def test_a_revoked_token_is_401(auth_server: RunningServer) -> None:
    secret = token(auth_server.home, kind="global", name="soon revoked")
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    with auth_server.http() as http:
        assert http.get("/pop/agenda", headers=bearer(secret)).status_code == 200
        client.token_revoke("soon revoked")
        client.close()
        response = http.get("/pop/agenda", headers=bearer(secret))

    assert response.status_code == 401
    assert "revoked" in response.json()["errorResponse"]["description"]


def test_a_customer_token_submits_for_its_customer_by_default(
    auth_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    with auth_server.http() as http:
        found = http.get(f"/pop/agenda/{stored['acme']}", headers=bearer(tokens["acme"])).json()

    assert found["all"][0]["customerId"] == "acme"


def test_a_customer_token_may_not_submit_for_another_customer(
    auth_server: RunningServer, tokens: dict[str, str], stored: dict[str, str]
) -> None:
    before = agenda_tables(auth_server.home)

    with auth_server.http() as http:
        response = http.post(
            "/pop/agenda", json=agenda(customerId="umbrella"), headers=bearer(tokens["acme"])
        )

    assert response.status_code == 403
    problem = response.json()["errorResponse"]
    assert problem["title"] == "ForbiddenError"
    assert "umbrella" in problem["description"]
    assert agenda_tables(auth_server.home) == before


@pytest.mark.parametrize("who", ["global", "both", "executor"])
def test_a_token_without_a_single_customer_must_name_one(
    auth_server: RunningServer, tokens: dict[str, str], who: str
) -> None:
    before = agenda_tables(auth_server.home)

    with auth_server.http() as http:
        response = http.post("/pop/agenda", json=agenda(), headers=bearer(tokens[who]))

    assert response.status_code == 422
    assert "customerId" in response.json()["errorResponse"]["description"]
    assert agenda_tables(auth_server.home) == before


def test_an_executor_token_may_not_submit_for_a_customer(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    with auth_server.http() as http:
        response = http.post(
            "/pop/agenda", json=agenda(customerId="acme"), headers=bearer(tokens["executor"])
        )

    assert response.status_code == 403


VISIBLE = {
    "acme": {"acme"},
    "umbrella": {"umbrella"},
    "both": {"acme", "umbrella"},
    "global": {"acme", "umbrella"},
    "executor": set(),
}


@pytest.mark.parametrize("who", sorted(VISIBLE))
def test_reads_leave_out_other_customers_silently(
    auth_server: RunningServer, tokens: dict[str, str], stored: dict[str, str], who: str
) -> None:
    headers = bearer(tokens[who])
    seen: dict[str, set[str]] = {}

    with auth_server.http() as http:
        for path in ("/pop/agenda", "/pop/progress/agenda"):
            answer = http.get(path, params={"bylinkId": "l"}, headers=headers)
            assert answer.status_code == 200
            key = "id" if path == "/pop/agenda" else "agendaId"
            seen[path] = {item[key] for item in answer.json()["all"]}
            for customer, agenda_id in stored.items():
                one = http.get(f"{path}/{agenda_id}", headers=headers)
                assert one.status_code == 200
                assert one.json()["count"] == (1 if customer in VISIBLE[who] else 0)
                by_customer = http.get(
                    path, params={"bycustomerId": customer, "bycount": "true"}, headers=headers
                )
                assert by_customer.json()["count"] == (1 if customer in VISIBLE[who] else 0)

    expected = {stored[customer] for customer in VISIBLE[who]}
    assert seen == {"/pop/agenda": expected, "/pop/progress/agenda": expected}
