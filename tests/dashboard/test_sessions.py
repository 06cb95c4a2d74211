"""Dashboard sessions over plain HTTP on a real ``pop serve``: the event stream opened with a
session cookie sees only the token's customers and ends once the token is revoked; the agendas
page splits its rows in pages of 50 (page and JSON)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx

from pop.api import Client
from pop.config import Settings
from tests.conftest import run_pop_at, wait_for
from tests.dashboard.test_agendas import submit
from tests.server.conftest import RunningServer, start_server
from tests.server.test_auth import token
from tests.server.test_events import sse_events
from tests.server.test_extension_routes import sample_op


def signed_in(server: RunningServer, secret: str) -> httpx.Client:
    http = server.http()
    answer = http.post("/signin", data={"token": secret})
    assert answer.status_code == 303 and answer.headers["location"] == "/agendas"
    assert "pop_session" in http.cookies
    return http


def test_the_session_stream_sees_its_customer_and_ends_when_the_token_is_revoked(
    dash_server: RunningServer,
) -> None:
    home = dash_server.home
    acme = token(home, kind="customer", customers=["acme"], name="acme-stream")
    umbrella = token(home, kind="customer", customers=["umbrella"], name="umbrella-stream")
    events: list[dict[str, str]] = []
    ended = threading.Event()
    connected = threading.Event()
    http = signed_in(dash_server, acme)

    def listen() -> None:
        try:
            with http.stream("GET", "/pop/events", timeout=httpx.Timeout(60)) as answer:
                events.append({"status": str(answer.status_code)})
                connected.set()
                for event in sse_events(answer.iter_lines()):
                    events.append(event)
        finally:
            connected.set()
            ended.set()

    threading.Thread(target=listen, daemon=True).start()
    assert connected.wait(60)
    assert events[0] == {"status": "200"}
    mine = submit(dash_server, acme, "mine")
    theirs = submit(dash_server, umbrella, "theirs")
    executed = run_pop_at(home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr

    def states() -> list[tuple[str, str]]:
        found = [json.loads(e["data"]) for e in events if e.get("event") == "progress"]
        return [(p["agendaId"], p["processingState"]) for p in found]

    wait_for(lambda: (mine, "COMPLETE") in states(), what="acme's agenda COMPLETE")
    assert theirs not in {agenda for agenda, _ in states()}
    assert not ended.is_set()
    client = Client(Settings.from_env().with_changes(home=home))
    try:
        client.token_revoke("acme-stream")
    finally:
        client.close()
    wait_for(ended.is_set, what="the stream to end after the token was revoked")
    assert http.get("/pop/events").status_code == 401
    http.close()


def test_the_agendas_page_has_pages_of_fifty(tmp_path: Path) -> None:
    server = start_server(tmp_path / "pop_home", "--no-auth")
    try:
        with server.http() as http:
            ids = []
            for number in range(55):
                answer = http.post(
                    "/pop/agenda",
                    json={"title": f"a{number}", "operations": [sample_op("s", "x")]},
                )
                ids.append(answer.json()["all"][0]["id"])
            json_accept = {"Accept": "application/json"}
            first = http.get("/agendas", headers=json_accept).json()["all"]
            second = http.get("/agendas?page=2", headers=json_accept).json()["all"]
            assert [row["agendaId"] for row in first + second] == ids[::-1]  # newest first
            assert len(first) == 50
            page = http.get("/agendas?page=2").text
            assert "page 2 of 2" in page and 'rel="prev"' in page and 'rel="next"' not in page
            assert page.count("data-agenda-id=") == 5
    finally:
        server.stop()
