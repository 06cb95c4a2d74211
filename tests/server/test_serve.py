"""``pop serve`` over real HTTP on a loopback port: health routes, submitting and reading agendas
and their progress in POP's envelope, queries, correlation ids, and the process itself (port 0,
SIGTERM, TLS). Every request goes to a real ``python -m pop serve`` subprocess (``--no-auth``
here; tokens are in test_auth.py)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import EXAMPLES, run_pop_at, store_snapshot, wait_for
from tests.server.conftest import RunningServer

HELLO = json.loads((EXAMPLES / "hello.json").read_text(encoding="utf-8"))


def submit(server: RunningServer, agenda: dict[str, Any]) -> dict[str, Any]:
    with server.http() as http:
        response = http.post("/pop/agenda", json=agenda)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 1
    stored: dict[str, Any] = body["all"][0]
    return stored


def small_agenda(**fields: Any) -> dict[str, Any]:
    return {
        "operations": [{"name": "say", "type": "logMessages", "payload": {"logMessages": ["hi"]}}],
        **fields,
    }


# -- health and version --------------------------------------------------------------------------


def test_version_names_pops_version_and_the_api(server: RunningServer) -> None:
    import pop

    with server.http() as http:
        response = http.get("/pop/version")

    assert response.status_code == 200
    assert response.json() == {"version": pop.__version__, "api": 1}


def test_healthz_and_readyz_answer_200(server: RunningServer) -> None:
    with server.http() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")

    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_is_503_when_the_store_cannot_open(start_server: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "pop.db").mkdir()  # a directory where the database file should be
    server = start_server("--no-auth", home=home)

    with server.http() as http:
        response = http.get("/readyz")

    assert response.status_code == 503
    problem = response.json()["errorResponse"]
    assert problem["title"] == "StoreError"
    assert problem["responseCode"] == 503
    assert "pop.db" in problem["description"]


# -- an agenda from POST to COMPLETE -------------------------------------------------------------


def test_a_posted_agenda_runs_on_an_executor_and_its_progress_equals_pop_status(
    server: RunningServer,
) -> None:
    stored = submit(server, HELLO)
    assert stored["customerId"] == "default"  # no customerId, no auth: as the local CLI
    assert stored["progressId"] and stored["agendaInsight"]["insightId"]
    assert [op["name"] for op in stored["operations"]] == [op["name"] for op in HELLO["operations"]]

    executed = run_pop_at(server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr

    with server.http() as http:
        response = http.get(f"/pop/progress/agenda/{stored['id']}")
    assert response.status_code == 200
    (progress,) = response.json()["all"]
    assert progress["processingState"] == "COMPLETE"
    assert progress["processingStateMessage"] == "succeeded"
    assert {op["processingState"] for op in progress["operationProgress"]} == {"COMPLETE"}
    assert len(progress["operationProgress"]) == len(HELLO["operations"])
    status = run_pop_at(server.home, "status", stored["id"], "--json")
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert [(change["actor"], change["action"]) for change in shown.pop("changes")] == [
        ("no-auth", "submit")
    ]
    assert progress == shown


def test_an_agenda_is_found_by_id_progress_id_and_prefix(server: RunningServer) -> None:
    stored = submit(server, small_agenda(title="found three ways"))

    with server.http() as http:
        for given in (stored["id"], stored["progressId"], stored["id"][:12]):
            agenda = http.get(f"/pop/agenda/{given}").json()
            progress = http.get(f"/pop/progress/agenda/{given}").json()
            assert agenda["count"] == 1 and agenda["all"][0]["id"] == stored["id"]
            assert progress["all"][0]["agendaId"] == stored["id"]
        by_query = http.get("/pop/agenda", params={"id": stored["id"]}).json()

    assert by_query["all"] == [stored]


def test_the_stored_agenda_keeps_the_callers_cid_and_given_customer(
    server: RunningServer,
) -> None:
    with server.http() as http:
        response = http.post(
            "/pop/agenda",
            json=small_agenda(customerId="acme"),
            headers={"X-pop-cid": "submit-cid-1"},
        )

    (stored,) = response.json()["all"]
    assert stored["cid"] == "submit-cid-1"
    assert stored["customerId"] == "acme"


# -- queries -------------------------------------------------------------------------------------


def test_by_queries_select_limit_count_and_project(server: RunningServer) -> None:
    link = f"link-{uuid.uuid4()}"
    ids = [submit(server, small_agenda(linkId=link, title=f"t{n}"))["id"] for n in range(3)]

    with server.http() as http:
        every = http.get("/pop/progress/agenda", params={"bylinkId": link}).json()
        limited = http.get("/pop/progress/agenda", params={"bylinkId": link, "bylimit": 2})
        counted = http.get("/pop/progress/agenda", params={"bylinkId": link, "bycount": "true"})
        titled = http.get("/pop/agenda", params={"bylinkId": link, "bytitle": "t1"}).json()
        fields = http.get("/pop/agenda", params={"bylinkId": link, "byfields": "id,title"}).json()
        nothing = http.get("/pop/agenda", params={"bylinkId": link, "bytitle": "none"}).json()

    assert [item["agendaId"] for item in every["all"]] == ids
    assert every["count"] == 3
    assert all("operationProgress" in item for item in every["all"])
    assert [item["agendaId"] for item in limited.json()["all"]] == ids[:2]
    assert counted.json()["count"] == 3 and "all" not in counted.json()
    assert [item["id"] for item in titled["all"]] == [ids[1]]
    assert fields["all"] == [{"id": ids[n], "title": f"t{n}"} for n in range(3)]
    assert nothing == {"all": [], "count": 0, "cid": nothing["cid"]}


def test_progress_query_equals_pop_list_json(server: RunningServer) -> None:
    link = f"link-{uuid.uuid4()}"
    submit(server, small_agenda(linkId=link))
    submit(server, small_agenda(linkId=link))

    with server.http() as http:
        served = http.get("/pop/progress/agenda", params={"bylinkId": link}).json()["all"]
    listed = run_pop_at(server.home, "list", "--link-id", link, "--json")

    assert listed.returncode == 0, listed.stderr
    assert served == json.loads(listed.stdout)


def test_a_state_query_reads_the_stores_states(server: RunningServer) -> None:
    link = f"link-{uuid.uuid4()}"
    submit(server, small_agenda(linkId=link))

    with server.http() as http:
        waiting = http.get(
            "/pop/progress/agenda", params={"bylinkId": link, "byprocessingState": "WAITING"}
        ).json()
        complete = http.get(
            "/pop/progress/agenda", params={"bylinkId": link, "byprocessingState": "COMPLETE"}
        ).json()
        unknown = http.get(
            "/pop/progress/agenda", params={"bylinkId": link, "byprocessingState": "NOPE"}
        ).json()

    assert (waiting["count"], complete["count"], unknown["count"]) == (1, 0, 0)


# -- errors: the envelope, the status, and nothing stored ----------------------------------------

BIG = 16 * 1024 * 1024 + 1

ERROR_CASES: list[tuple[str, str, str, dict[str, Any], int, str, list[str]]] = [
    # (case, method, path, request options, status, title, words in the description)
    (
        "malformed JSON",
        "POST",
        "/pop/agenda",
        {"content": b'{"operations": [', "headers": {"Content-Type": "application/json"}},
        422,
        "InputError",
        ["not valid JSON", "line 1"],
    ),
    ("empty body", "POST", "/pop/agenda", {"content": b""}, 422, "InputError", ["empty"]),
    ("not UTF-8", "POST", "/pop/agenda", {"content": b"\xff\xfe"}, 422, "InputError", ["UTF-8"]),
    (
        "an array, not an agenda",
        "POST",
        "/pop/agenda",
        {"json": [HELLO]},
        422,
        "InputError",
        ["JSON object", "an array"],
    ),
    (
        "invalid agenda, every problem",
        "POST",
        "/pop/agenda",
        {
            "json": {
                "operations": [
                    {"name": "a", "type": "noSuchType", "payload": {}},
                    {"name": "A", "type": "logMessages", "payload": {"x": "@<missing.out>"}},
                ]
            }
        },
        422,
        "AgendaValidationError",
        ["noSuchType", "unique", "missing"],
    ),
    (
        "wrong field type",
        "POST",
        "/pop/agenda",
        {"json": {"operations": "none"}},
        422,
        "InputError",
        ["operations"],
    ),
    (
        "customerId not a string",
        "POST",
        "/pop/agenda",
        {"json": small_agenda(customerId=7)},
        422,
        "InputError",
        ["customerId"],
    ),
    ("unknown route", "GET", "/pop/nothing", {}, 404, "NotFoundError", ["/pop/nothing"]),
    ("unknown top route", "POST", "/nope", {"json": {}}, 404, "NotFoundError", ["/nope"]),
    (
        "wrong method",
        "PATCH",
        "/pop/agenda",
        {},
        405,
        "MethodNotAllowedError",
        ["PATCH", "GET", "POST"],
    ),
    (
        "wrong method on an id",
        "PATCH",
        "/pop/progress/agenda/x",
        {},
        405,
        "MethodNotAllowedError",
        ["PATCH"],
    ),
    (
        "body over 16 MiB",
        "POST",
        "/pop/agenda",
        {"content": b" " * BIG, "headers": {"Content-Type": "application/json"}},
        413,
        "RequestTooLargeError",
        ["16777216 bytes"],
    ),
    (
        "unknown agenda id",
        "GET",
        "/pop/agenda/no-such-agenda",
        {},
        404,
        "NotFoundError",
        ["no-such-agenda"],
    ),
    (
        "unknown progress id",
        "GET",
        "/pop/progress/agenda/no-such-agenda",
        {},
        404,
        "NotFoundError",
        ["no-such-agenda"],
    ),
    (
        "bylimit not a number",
        "GET",
        "/pop/progress/agenda?bylimit=lots",
        {},
        422,
        "InputError",
        ["bylimit", "lots"],
    ),
    ("bylimit zero", "GET", "/pop/agenda?bylimit=0", {}, 422, "InputError", ["bylimit"]),
]


@pytest.mark.parametrize(
    ("method", "path", "options", "status", "title", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_an_error_answers_in_the_envelope_with_its_status_and_stores_nothing(
    server: RunningServer,
    method: str,
    path: str,
    options: dict[str, Any],
    status: int,
    title: str,
    words: list[str],
) -> None:
    before = store_snapshot(server.home)
    assert before is not None

    with server.http() as http:
        response = http.request(method, path, **options)

    assert response.status_code == status, response.text
    body = response.json()
    problem = body["errorResponse"]
    assert problem["title"] == title
    assert problem["responseCode"] == status
    assert problem["correlationId"] == body["cid"] == response.headers["X-pop-cid"]
    for word in words:
        assert word in problem["description"]
    assert "Traceback" not in response.text
    assert store_snapshot(server.home) == before


def test_a_chunked_body_over_the_limit_is_413_too(start_server: Any) -> None:
    server = start_server("--no-auth", "--max-body-bytes", "1000")

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 500

    with server.http() as http:
        response = http.post("/pop/agenda", content=chunks())
        small = http.post("/pop/agenda", json=small_agenda())

    assert response.status_code == 413
    assert "1000 bytes" in response.json()["errorResponse"]["description"]
    assert small.status_code == 200


# -- correlation ids -----------------------------------------------------------------------------


def test_a_given_cid_is_echoed_in_the_header_and_the_body(server: RunningServer) -> None:
    with server.http() as http:
        data = http.get("/pop/progress/agenda", headers={"X-pop-cid": "cid-123"})
        error = http.get("/pop/agenda/missing", headers={"X-pop-cid": "cid-456"})

    assert data.headers["X-pop-cid"] == "cid-123"
    assert data.json()["cid"] == "cid-123"
    assert error.headers["X-pop-cid"] == "cid-456"
    assert error.json()["errorResponse"]["correlationId"] == "cid-456"


def test_a_missing_cid_is_made_and_logged(server: RunningServer) -> None:
    with server.http() as http:
        response = http.get("/pop/progress/agenda")

    cid = response.headers["X-pop-cid"]
    assert uuid.UUID(cid)
    assert response.json()["cid"] == cid
    wait_for(lambda: any(f"cid={cid}" in line for line in server.lines), timeout=10)


# -- the process ---------------------------------------------------------------------------------


def test_no_auth_prints_a_warning_and_sigterm_exits_0(start_server: Any) -> None:
    server = start_server("--no-auth")
    assert server.url.startswith("http://127.0.0.1:")
    assert int(server.url.rsplit(":", 1)[1]) > 0

    code = server.stop()

    assert code == 0, server.stderr()
    warnings = [line for line in server.lines if line.startswith("warning:")]
    assert len(warnings) == 1 and "anyone" in warnings[0]


def test_certfile_without_keyfile_is_exit_2(tmp_path: Path) -> None:
    completed = run_pop_at(tmp_path / "home", "serve", "--certfile", str(tmp_path / "c.pem"))

    assert completed.returncode == 2
    assert completed.stderr.startswith("error: --certfile and --keyfile go together")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_with_a_certificate_it_serves_https(start_server: Any, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            *subject,
            *files,
        ],
        check=True,
        capture_output=True,
    )
    server = start_server("--no-auth", "--certfile", str(cert), "--keyfile", str(key))

    assert server.url.startswith("https://127.0.0.1:")
    trusted = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=server.url, verify=trusted, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok"}


def test_a_port_in_use_is_exit_1_naming_it(server: RunningServer, tmp_path: Path) -> None:
    port = server.url.rsplit(":", 1)[1]

    completed = run_pop_at(tmp_path / "home", "serve", "--port", port, "--no-auth")

    assert completed.returncode == 1
    assert completed.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "warning:" not in completed.stderr  # said only once it listens
