"""The visibility matrix of issue 13 over a real ``pop serve`` with tokens: for every data and
service route and method, customer A's token (``acme``) neither reads (left out silently) nor
changes (403, nothing stored) customer B's (``umbrella``) agendas, progress, op progress,
templates, insights, pools and customers; B's own token reads them all and changes its agendas
and templates, not the facility objects (global tokens only); a global token does everything.
Without a valid token (none, unknown, revoked, expired) every ``/pop/`` route is 401."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pop.api import Client
from pop.config import Settings
from tests.server.conftest import RunningServer
from tests.server.test_auth import agenda, agenda_tables, bearer, token


@dataclass(frozen=True)
class Target:
    """B's object under test: where to read it, change it, and the id a query finds it by."""

    path: str  # /pop/<kind>/<id>
    collection: str
    query: dict[str, str]
    link_id: str = ""
    agenda_id: str = ""
    template_id: str = ""


@pytest.fixture(scope="module")
def tokens(auth_server: RunningServer) -> dict[str, str]:
    home = auth_server.home
    return {
        "acme": token(home, kind="customer", customers=["acme"], name="vis-acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="vis-umbrella"),
        "global": token(home, kind="global", name="vis-root"),
    }


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ensure_customers(http: httpx.Client, root: dict[str, str]) -> None:
    """Pool, customers and a global insight for acme's and umbrella's agendas (a global DELETE
    in the matrix may have removed umbrella)."""
    if http.get("/pop/resourcepool/vis-pool", headers=root).status_code == 404:
        _ok(http.post("/pop/resourcepool", json={"id": "vis-pool", "title": "vis"}, headers=root))
        _ok(
            http.post(
                "/pop/insight",
                json={
                    "id": "vis-insight",
                    "title": "vis",
                    "resourcePoolId": "vis-pool",
                    "isGlobal": True,
                    "mappers": {"operationType": ["logMessages"]},
                },
                headers=root,
            )
        )
    for customer in ("acme", "umbrella"):
        if http.get(f"/pop/customer/{customer}", headers=root).status_code == 404:
            document = {"id": customer, "title": customer, "resourcePoolId": "vis-pool"}
            _ok(http.post("/pop/customer", json=document, headers=root))


def _make(kind: str, http: httpx.Client, root: dict[str, str]) -> Target:
    """A fresh object of umbrella's, made with the global token."""
    _ensure_customers(http, root)
    name = f"{kind}-{uuid.uuid4().hex[:8]}"
    if kind in ("agenda", "progress", "operation"):
        stored = _ok(
            http.post("/pop/agenda", json=agenda(customerId="umbrella", linkId=name), headers=root)
        )["all"][0]
        common = {"link_id": name, "agenda_id": stored["id"]}
        if kind == "agenda":
            return Target(
                f"/pop/agenda/{stored['id']}", "/pop/agenda", {"bylinkId": name}, **common
            )
        if kind == "progress":
            return Target(
                f"/pop/progress/agenda/{stored['progressId']}",
                "/pop/progress/agenda",
                {"bylinkId": name},
                **common,
            )
        return Target(
            f"/pop/progress/operation/{stored['progressId']}-say",
            "/pop/progress/operation",
            {"byagendaProgressId": stored["progressId"]},
            **common,
        )
    if kind == "template":
        document = {
            "title": name,
            "customerId": "umbrella",
            "agenda": agenda(),
        }
        stored = _ok(http.post("/pop/agendatemplate", json=document, headers=root))["all"][0]
        return Target(
            f"/pop/agendatemplate/{stored['id']}",
            "/pop/agendatemplate",
            {"bytitle": name},
            template_id=stored["id"],
        )
    if kind == "customer":
        return Target("/pop/customer/umbrella", "/pop/customer", {"byid": "umbrella"})
    path = {"pool": "resourcepool", "insight": "insight"}[kind]
    document = {"id": name, "title": name, "customerId": "umbrella"}
    if kind == "insight":
        document["resourcePoolId"] = "vis-pool"
    _ok(http.post(f"/pop/{path}", json=document, headers=root))
    return Target(f"/pop/{path}/{name}", f"/pop/{path}", {"byid": name})


def _act(action: str, target: Target, http: httpx.Client, headers: dict[str, str]) -> Any:
    if action == "get":
        return http.get(target.path, headers=headers)
    if action == "query":
        return http.get(target.collection, params=target.query, headers=headers)
    if action == "put":
        changes = {"billingCode": "B-2"} if "/customer/" in target.path else {"title": "changed"}
        return http.put(target.path, json=changes, headers=headers)
    if action == "delete":
        return http.delete(target.path, headers=headers)
    if action in ("rerun", "cancel"):
        body = {"agendaId": target.agenda_id}
        return http.post(f"/pop/agenda/service/{action}", json=body, headers=headers)
    if action == "summary":
        body = {"linkId": target.link_id}
        return http.post("/pop/progress/agenda/service", json=body, headers=headers)
    if action == "run":
        body = {"agendaTemplateId": target.template_id, "payload": "{}"}
        return http.post("/pop/agenda/service/run", json=body, headers=headers)
    raise AssertionError(action)


FACILITY = ("insight", "pool", "customer")
READS = [
    (kind, action)
    for kind in ("agenda", "progress", "operation", "template", *FACILITY)
    for action in ("get", "query")
]
WRITES = [
    *[(kind, action) for kind in ("agenda", "template", *FACILITY) for action in ("put", "delete")],
    ("progress", "delete"),
    ("agenda", "rerun"),
    ("agenda", "cancel"),
]
CASES = [
    *READS,
    *WRITES,
    ("agenda", "summary"),
    ("template", "run"),
]


def _expected(who: str, kind: str, action: str) -> str:
    """``seen`` / ``hidden`` for reads, ``done`` / ``forbidden`` / ``notfound`` for writes."""
    if (kind, action) in READS or action == "summary":
        return "hidden" if who == "acme" else "seen"
    if action == "run":
        return "notfound" if who == "acme" else "done"  # a template A cannot read is not there
    if who == "global":
        return "done"
    if who == "umbrella" and kind not in FACILITY:
        return "done"
    return "forbidden"


@pytest.mark.parametrize("who", ["acme", "umbrella", "global"])
@pytest.mark.parametrize(("kind", "action"), CASES, ids=[f"{k} {a}" for k, a in CASES])
def test_a_token_reads_and_changes_only_what_its_customers_may(
    auth_server: RunningServer, tokens: dict[str, str], who: str, kind: str, action: str
) -> None:
    root = bearer(tokens["global"])
    with auth_server.http() as http:
        target = _make(kind, http, root)
        before = agenda_tables(auth_server.home)
        response = _act(action, target, http, bearer(tokens[who]))
    expected = _expected(who, kind, action)
    body = response.json()

    if expected in ("seen", "hidden"):
        assert response.status_code == 200, response.text
        if action == "summary":
            assert len(body["progressList"]) == (1 if expected == "seen" else 0)
        else:
            assert body["count"] == (1 if expected == "seen" else 0), body
    elif expected == "done":
        assert response.status_code == 200, response.text
        assert agenda_tables(auth_server.home) != before
    else:
        status = 403 if expected == "forbidden" else 404
        assert response.status_code == status, response.text
        problem = body["errorResponse"]
        if status == 403:
            assert problem["title"] == "ForbiddenError"
            named = "global token" if kind in FACILITY else "umbrella"
            assert named in problem["description"]
        assert agenda_tables(auth_server.home) == before


def every_pop_route() -> list[tuple[str, str]]:
    """Each (method, path) the app answers under ``/pop/`` but ``GET /pop/version`` (read from
    its routers, so a route added later is in the matrix without a change here), path
    parameters filled with ``x``."""
    import re

    from fastapi.routing import APIRoute

    from pop.server.app import router_modules

    found = set()
    for module in router_modules():
        for route in module.router.routes:
            if not isinstance(route, APIRoute) or not route.path.startswith("/pop/"):
                continue
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            found.update((method, path) for method in route.methods if method != "HEAD")
    found.discard(("GET", "/pop/version"))
    return sorted(found, key=lambda route: (route[1], route[0]))


NEW_ROUTES = every_pop_route()


@pytest.fixture(scope="module")
def dead_tokens(auth_server: RunningServer) -> dict[str, str]:
    """A revoked global token and an expired one."""
    home = auth_server.home
    revoked = token(home, kind="global", name="vis-revoked")
    expired = token(
        home, kind="global", name="vis-expired", expires_seconds=1, now=1_000_000_000_000
    )
    client = Client(Settings.from_env().with_changes(home=home))
    try:
        client.token_revoke("vis-revoked")
    finally:
        client.close()
    return {"revoked": revoked, "expired": expired}


@pytest.mark.parametrize(("method", "path"), NEW_ROUTES, ids=[" ".join(r) for r in NEW_ROUTES])
def test_every_pop_route_without_a_valid_token_is_401(
    auth_server: RunningServer, dead_tokens: dict[str, str], method: str, path: str
) -> None:
    before = agenda_tables(auth_server.home)
    with auth_server.http() as http:
        missing = http.request(method, path, json={"title": "t"})
        unknown = http.request(method, path, json={"title": "t"}, headers=bearer("pop_nope"))
        dead = [
            http.request(method, path, json={"title": "t"}, headers=bearer(secret))
            for secret in dead_tokens.values()
        ]

    for response in (missing, unknown, *dead):
        assert response.status_code == 401, response.text
        assert response.json()["errorResponse"]["title"] == "UnauthorizedError"
    assert agenda_tables(auth_server.home) == before


ACTIONS: dict[str, Callable[..., Any]] = {}  # (kept for symmetry with test_auth's helpers)
