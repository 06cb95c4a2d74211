"""The bad-input battery over HTTP (issue 13): malformed JSON, wrong types, oversized bodies,
cycles, a customerId the token does not own, count 0 on getAgenda, mismatched ids on PUT, ...
across the agenda, template, facility, service, ResourcePool and progress summary routes of a
real ``pop serve`` with tokens. Each case checks the HTTP status, ``errorResponse.title``, a
fragment of the description, and that the store is unchanged (but the tokens' last-used times).

Unknown fields are not an error anywhere: POP ignores them (FAIL_ON_UNKNOWN_PROPERTIES=false,
POP-REFERENCE §1.4) and pop keeps them on stored objects (DESIGN §3), so a body with unknown
fields fails only for what is wrong in it otherwise (the last test shows them accepted).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.conftest import RunningServer, start_server, the_five_tokens, without_tokens

MAX_BODY = 4096
JSON = {"Content-Type": "application/json"}


def say(name: str = "say", *after: str) -> dict[str, Any]:
    """A logMessages op; each name in ``after`` is referenced, so the op runs after it."""
    messages = ["hi", *(f"@<{other}.out::/x>" for other in after)]
    return {"name": name, "type": "logMessages", "payload": {"logMessages": messages}}


def agenda(*operations: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"operations": list(operations or [say()]), **fields}


TEMPLATE = {"title": "t", "customerId": "acme", "agenda": agenda()}

# (id, token, method, path, request options, status, title, description fragment)
CASES: list[tuple[str, str, str, str, dict[str, Any], int, str, str]] = [
    # -- POST /pop/agenda
    ("agenda POST malformed JSON", "acme", "POST", "/pop/agenda",
     {"content": b'{"operations": [', "headers": JSON}, 422, "InputError", "not valid JSON"),
    ("agenda POST empty body", "acme", "POST", "/pop/agenda",
     {"content": b"", "headers": JSON}, 422, "InputError", "is empty"),
    ("agenda POST not UTF-8", "acme", "POST", "/pop/agenda",
     {"content": b'{"title": "\xff"}', "headers": JSON}, 422, "InputError", "not UTF-8"),
    ("agenda POST NaN", "acme", "POST", "/pop/agenda",
     {"content": b'{"operations": NaN}', "headers": JSON}, 422, "InputError", "NaN is not JSON"),
    ("agenda POST nested 2000 deep", "acme", "POST", "/pop/agenda",
     {"content": b"[" * 2000 + b"]" * 2000, "headers": JSON}, 422, "InputError",
     "nested deeper than 128 levels"),
    ("agenda POST linkId a number", "acme", "POST", "/pop/agenda",
     {"json": agenda(linkId=5)}, 422, "InputError", "linkId must be a string"),
    ("agenda POST an array", "acme", "POST", "/pop/agenda",
     {"json": [agenda()]}, 422, "InputError", "must be a JSON object, not an array"),
    ("agenda POST operations not a list", "acme", "POST", "/pop/agenda",
     {"json": {"operations": {"name": "x"}}}, 422, "InputError",
     "operations must be a JSON array, not an object"),
    ("agenda POST an op without a type", "acme", "POST", "/pop/agenda",
     {"json": agenda({"name": "x", "payload": {}})}, 422, "AgendaValidationError", "type"),
    ("agenda POST unknown op type", "acme", "POST", "/pop/agenda",
     {"json": agenda({"name": "x", "type": "noSuchType", "payload": {}})},
     422, "AgendaValidationError", "noSuchType"),
    ("agenda POST a cycle", "acme", "POST", "/pop/agenda",
     {"json": agenda(say("a", "b"), say("b", "a"))}, 422, "AgendaValidationError", "cycle"),
    ("agenda POST two ops of one name", "acme", "POST", "/pop/agenda",
     {"json": agenda(say("a"), say("a"))}, 422, "AgendaValidationError", "'a'"),
    ("agenda POST a reference to no op", "acme", "POST", "/pop/agenda",
     {"json": agenda(say("a", "ghost"))}, 422, "AgendaValidationError", "ghost"),
    ("agenda POST customerId the token does not own", "acme", "POST", "/pop/agenda",
     {"json": agenda(customerId="umbrella")}, 403, "ForbiddenError", "umbrella"),
    ("agenda POST customerId not a string", "acme", "POST", "/pop/agenda",
     {"json": agenda(customerId=["acme"])}, 422, "InputError", "customerId must be a string"),
    ("agenda POST no customerId from a token of two customers", "both", "POST", "/pop/agenda",
     {"json": agenda()}, 422, "InputError", "customerId field must be specified"),
    ("agenda POST a relative input path", "acme", "POST", "/pop/agenda",
     {"json": agenda({"name": "p", "type": "analysis", "payload": {"inputs": ["a.mp4"]}})},
     422, "InputError", "relative path"),
    ("agenda POST unknown fields do not hide a missing one", "acme", "POST", "/pop/agenda",
     {"json": {"colour": "red", "extra": {"a": 1}}}, 422, "AgendaValidationError", "operations"),
    ("agenda POST oversized body", "acme", "POST", "/pop/agenda",
     {"json": agenda(title="x" * MAX_BODY)}, 413, "RequestTooLargeError", str(MAX_BODY)),
    ("agenda POST without a token", "", "POST", "/pop/agenda",
     {"json": agenda()}, 401, "UnauthorizedError", "no token"),
    # -- PUT /pop/agenda
    ("agenda PUT mismatched id", "acme", "PUT", "/pop/agenda/{waiting}",
     {"json": {"id": "another-agenda", "title": "x"}}, 422, "InputError", "mismatched id"),
    ("agenda PUT new operations", "acme", "PUT", "/pop/agenda/{waiting}",
     {"json": {"operations": [say("other")]}}, 422, "InputError", "operations cannot change"),
    ("agenda PUT another customer's agenda", "umbrella", "PUT", "/pop/agenda/{waiting}",
     {"json": {"title": "x"}}, 403, "ForbiddenError", "acme"),
    ("agenda PUT a title that is not text", "acme", "PUT", "/pop/agenda/{waiting}",
     {"json": {"title": 5}}, 422, "InputError", "title"),
    ("agenda PUT of no agenda", "acme", "PUT", "/pop/agenda/no-such-agenda",
     {"json": {"title": "x"}}, 404, "NotFoundError", "no-such-agenda"),
    # -- templates
    ("template POST operations not a list", "acme", "POST", "/pop/agendatemplate",
     {"json": {"agenda": {"operations": "say"}}}, 422, "InputError", "operations"),
    ("template POST for another customer", "acme", "POST", "/pop/agendatemplate",
     {"json": {**TEMPLATE, "customerId": "umbrella"}}, 403, "ForbiddenError", "umbrella"),
    ("template POST a static pop.payload", "acme", "POST", "/pop/agendatemplate",
     {"json": {**TEMPLATE, "staticParameters": {"pop.payload": 1}}},
     422, "InputError", "pop.payload"),
    ("template POST nested 200 deep", "acme", "POST", "/pop/agendatemplate",
     {"content": b'{"a":' * 200 + b"1" + b"}" * 200, "headers": JSON}, 422, "InputError",
     "nested deeper than 128 levels"),
    ("template PUT mismatched id", "acme", "PUT", "/pop/agendatemplate/{template}",
     {"json": {"id": "other-template"}}, 422, "InputError", "mismatched id"),
    ("template DELETE by another customer", "umbrella", "DELETE", "/pop/agendatemplate/{template}",
     {}, 403, "ForbiddenError", "acme"),
    # -- facility objects
    ("customer POST with a customer token", "acme", "POST", "/pop/customer",
     {"json": {"id": "c", "title": "c"}}, 403, "ForbiddenError", "only a global token"),
    ("customer POST without a title", "global", "POST", "/pop/customer",
     {"json": {"id": "untitled"}}, 422, "InputError", "title"),
    ("customer PUT mismatched id", "global", "PUT", "/pop/customer/c1",
     {"json": {"id": "c2"}}, 422, "InputError", "mismatched id"),
    ("insight POST a pool that is not stored", "global", "POST", "/pop/insight",
     {"json": {"title": "i", "resourcePoolId": "no-such-pool"}}, 422, "InputError", "no-such-pool"),
    ("resourcepool POST a title that is not text", "global", "POST", "/pop/resourcepool",
     {"json": {"id": "p", "title": ["p"]}}, 422, "InputError", "title"),
    # -- services
    ("service/run without a template id", "acme", "POST", "/pop/agenda/service/run",
     {"json": {"payload": "{}"}}, 422, "InputError", "agendaTemplateId and payload"),
    ("service/run a payload that is not JSON", "acme", "POST", "/pop/agenda/service/run",
     {"json": {"agendaTemplateId": "{template}", "payload": "{nope"}},
     422, "InputError", "unable to parse the payload"),
    ("service/run another customer's template", "umbrella", "POST", "/pop/agenda/service/run",
     {"json": {"agendaTemplateId": "{template}", "payload": "{}"}}, 404, "NotFoundError",
     "no template"),
    ("service/rerun params not a list", "acme", "POST", "/pop/agenda/service/rerun",
     {"json": {"agendaId": "{waiting}", "params": "resetAll"}}, 422, "InputError",
     "params must be a list"),
    ("service/rerun params not strings", "acme", "POST", "/pop/agenda/service/rerun",
     {"json": {"agendaId": "{waiting}", "params": [5]}}, 422, "InputError",
     "params must be strings"),
    ("service/rerun operationsToReset empty", "acme", "POST", "/pop/agenda/service/rerun",
     {"json": {"agendaId": "{waiting}", "params": ["operationsToReset="]}}, 422, "InputError",
     "operationsToReset has no operations"),
    ("service/rerun an unknown operation", "acme", "POST", "/pop/agenda/service/rerun",
     {"json": {"agendaId": "{waiting}", "params": ["operationsToReset=ghost"]}}, 422,
     "InputError", "ghost"),
    ("service/rerun another customer's agenda", "umbrella", "POST", "/pop/agenda/service/rerun",
     {"json": {"agendaId": "{waiting}"}}, 403, "ForbiddenError", "acme"),
    ("service/cancel without an agenda id", "acme", "POST", "/pop/agenda/service/cancel",
     {"json": {"agenda": "{waiting}"}}, 422, "InputError", "agendaId must be specified"),
    ("service/cancel a COMPLETE agenda", "acme", "POST", "/pop/agenda/service/cancel",
     {"json": {"agendaId": "{complete}"}}, 422, "InputError", "already COMPLETE"),
    ("service/cancel no such agenda", "acme", "POST", "/pop/agenda/service/cancel",
     {"json": {"agendaId": "no-such-agenda"}}, 404, "NotFoundError", "no-such-agenda"),
    # -- the ResourcePool service
    ("getAgenda count 0", "executor", "POST", "/pop/resourcepool/service/getAgenda",
     {"json": {"insightId": "default", "count": 0, "executorId": "e1"}}, 422, "InputError",
     "count must be greater than 0"),
    ("getAgenda count a string", "executor", "POST", "/pop/resourcepool/service/getAgenda",
     {"json": {"insightId": "default", "count": "2", "executorId": "e1"}}, 422, "InputError",
     "count must be an integer"),
    ("getAgenda count true", "executor", "POST", "/pop/resourcepool/service/getAgenda",
     {"json": {"insightId": "default", "count": True, "executorId": "e1"}}, 422, "InputError",
     "count must be an integer, not true"),
    ("getAgenda without an executorId", "executor", "POST", "/pop/resourcepool/service/getAgenda",
     {"json": {"insightId": "default", "count": 1}}, 422, "InputError", "executorId is required"),
    ("getAgenda by a customer token", "acme", "POST", "/pop/resourcepool/service/getAgenda",
     {"json": {"insightId": "default", "count": 1, "executorId": "e1"}}, 403, "ForbiddenError",
     "default"),
    ("updateAgendaProgress progress not an object", "executor", "POST",
     "/pop/resourcepool/service/updateAgendaProgress",
     {"json": {"agendaProgress": [], "executorId": "e1"}}, 422, "InputError",
     "agendaProgress is required: a JSON object, not an array"),
    ("updateAgendaProgress an agenda it does not hold", "executor", "POST",
     "/pop/resourcepool/service/updateAgendaProgress",
     {"json": {"agendaProgress": {"id": "{waiting}", "percentComplete": 5}, "executorId": "e2"}},
     409, "ConflictError", "lease"),
    ("updateAgendaProgress a wrong type", "executor", "POST",
     "/pop/resourcepool/service/updateAgendaProgress",
     {"json": {"agendaProgress": {"id": "{held}", "percentComplete": "half"},
               "executorId": "e1"}}, 422, "InputError", "percentComplete"),
    ("updateAgenda no operations", "executor", "POST", "/pop/resourcepool/service/updateAgenda",
     {"json": {"agendaId": "{held}", "operations": [], "executorId": "e1"}}, 422, "InputError",
     "One or more operations"),
    ("updateAgenda a cycle", "executor", "POST", "/pop/resourcepool/service/updateAgenda",
     {"json": {"agendaId": "{held}", "operations": [say("g1", "g2"), say("g2", "g1")],
               "executorId": "e1"}}, 422, "InputError", "cycle"),
    ("heartbeat without an agenda id", "executor", "POST", "/pop/resourcepool/service/heartbeat",
     {"json": {"executorId": "e1"}}, 422, "InputError", "agendaId is required"),
    # -- the progress summary
    ("progress summary without a linkId", "acme", "POST", "/pop/progress/agenda/service",
     {"json": {"link": "x"}}, 422, "InputError", "LinkId is required"),
    ("progress summary linkId not a string", "acme", "POST", "/pop/progress/agenda/service",
     {"json": {"linkId": 7}}, 422, "InputError", "LinkId is required"),
]  # fmt: skip


@pytest.fixture(scope="module")
def bad_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with tokens and a small body limit; leases that outlive the module and no
    upkeep pass meanwhile, so nothing but a request can change the store."""
    home = tmp_path_factory.mktemp("bad-input") / "pop_home"
    quiet = {
        "POP_LEASE_SECONDS": "3600",
        "POP_RECLAIM_EVERY": "1h",
        "POP_RETRY_EVERY": "1h",
    }
    server = start_server(home, "--max-body-bytes", str(MAX_BODY), env=quiet)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tokens(bad_server: RunningServer) -> dict[str, str]:
    return the_five_tokens(bad_server.home)


@pytest.fixture(scope="module")
def targets(bad_server: RunningServer, tokens: dict[str, str]) -> dict[str, str]:
    """acme's agendas: one held by executor e1, one waiting, one COMPLETE (cancelled); and a
    template of acme."""

    def call(token: str, path: str, body: Any) -> dict[str, Any]:
        with bad_server.http(headers={"Authorization": f"Bearer {tokens[token]}"}) as http:
            response = http.post(path, json=body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    held = call("acme", "/pop/agenda", agenda())["all"][0]["id"]
    claimed = call(
        "executor",
        "/pop/resourcepool/service/getAgenda",
        {"insightId": "default", "count": 1, "executorId": "e1"},
    )
    assert [item["id"] for item in claimed["all"]] == [held]
    waiting = call("acme", "/pop/agenda", agenda())["all"][0]["id"]
    complete = call("acme", "/pop/agenda", agenda())["all"][0]["id"]
    call("acme", "/pop/agenda/service/cancel", {"agendaId": complete})
    template = call("acme", "/pop/agendatemplate", TEMPLATE)["all"][0]["id"]
    return {"held": held, "waiting": waiting, "complete": complete, "template": template}


def fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda found: names.get(found[1], found[0]), value)
    if isinstance(value, dict):
        return {key: fill(item, names) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, names) for item in value]
    return value


def test_the_battery_has_at_least_30_cases_across_the_routes() -> None:
    assert len(CASES) >= 30
    routes = {case[3].split("/{")[0] for case in CASES}
    assert len(routes) >= 12, routes


@pytest.mark.parametrize(
    ("token", "method", "path", "options", "status", "title", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_answers_its_error_and_changes_nothing(
    bad_server: RunningServer,
    tokens: dict[str, str],
    targets: dict[str, str],
    token: str,
    method: str,
    path: str,
    options: dict[str, Any],
    status: int,
    title: str,
    fragment: str,
) -> None:
    request = {
        key: fill(value, targets) if key == "json" else value for key, value in options.items()
    }
    headers = {**request.pop("headers", {}), "X-pop-cid": "bad-1"}
    if token:
        headers["Authorization"] = f"Bearer {tokens[token]}"
    before = without_tokens(bad_server.home)

    with bad_server.http() as http:
        response = http.request(method, fill(path, targets), headers=headers, **request)

    assert response.status_code == status, response.text
    body = response.json()
    problem = body["errorResponse"]
    assert (problem["title"], problem["responseCode"]) == (title, status), problem
    assert fragment in problem["description"], problem
    assert problem["correlationId"] == "bad-1" and body["cid"] == "bad-1"
    assert "Traceback" not in response.text
    for secret in tokens.values():
        assert secret not in response.text
    assert without_tokens(bad_server.home) == before


def test_unknown_fields_are_accepted_and_kept_as_pop_does(
    bad_server: RunningServer, tokens: dict[str, str], targets: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {tokens['acme']}"}
    with bad_server.http(headers=headers) as http:
        stored = http.post("/pop/agenda", json=agenda(colour="red", nested={"a": [1]}))
        summary = http.post("/pop/progress/agenda/service", json={"linkId": "x", "colour": "red"})
    assert stored.status_code == 200, stored.text
    assert (stored.json()["all"][0]["colour"], stored.json()["all"][0]["nested"]) == (
        "red",
        {"a": [1]},
    )
    assert summary.status_code == 200, summary.text
