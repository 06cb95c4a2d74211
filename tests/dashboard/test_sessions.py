"""Dashboard sessions over plain HTTP on a real ``pop serve``: the event stream opened with a
session cookie sees only the token's customers and ends once the token is revoked; the agendas
page splits its rows in pages of 50 and counts them (page and JSON, with a search too); a token
of two customers pages both of them newest first and no other's, and the row route answers only
a row the session may see that matches the filters."""

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
                    json={"title": f"item {number}", "operations": [sample_op("s", "x")]},
                )
                ids.append(answer.json()["all"][0]["id"])
            json_accept = {"Accept": "application/json"}
            first = http.get("/agendas", headers=json_accept).json()["all"]
            second = http.get("/agendas?page=2", headers=json_accept).json()["all"]
            assert [row["agendaId"] for row in first + second] == ids[::-1]  # newest first
            assert len(first) == 50
            page = http.get("/agendas?page=2").text
            assert "55 agendas, page 2 of 2" in page
            assert 'rel="prev"' in page and 'rel="next"' not in page
            assert page.count("data-agenda-id=") == 5
            first_page = http.get("/agendas").text
            assert "55 agendas, page 1 of 2" in first_page and 'rel="next"' in first_page
            # a search pages and counts the same way: item 1, item 10 ... item 19
            searched = http.get("/agendas?q=ITEM+1").text
            assert "11 agendas, page 1 of 1" in searched
            assert searched.count("data-agenda-id=") == 11
            found = http.get("/agendas?q=item+1", headers=json_accept).json()["all"]
            newest_first = [f"item 1{n}" for n in range(9, -1, -1)] + ["item 1"]
            assert [row["title"] for row in found] == newest_first
            past = http.get("/agendas?page=3", headers=json_accept).json()
            assert past["all"] == []  # past the last page: no rows, the count still right
            assert "55 agendas, page 3 of 2" in http.get("/agendas?page=3").text
    finally:
        server.stop()


def test_a_token_of_two_customers_pages_both_newest_first_and_no_other(
    dash_server: RunningServer,
) -> None:
    home = dash_server.home
    both = token(home, kind="customer", customers=["north", "south"], name="north-south")
    other = token(home, kind="customer", customers=["west"], name="west")
    ids = []
    for number in range(6):
        customer = ("north", "south", "west")[number % 3]
        secret = other if customer == "west" else both
        ids.append(
            submit(
                dash_server, secret, f"twin {number}", customerId=customer,
                params={"doNotRun": True},
            )
        )  # fmt: skip
    mine = [agenda for number, agenda in enumerate(ids) if number % 3 != 2]
    http = signed_in(dash_server, both)
    try:
        json_accept = {"Accept": "application/json"}
        rows = http.get("/agendas?q=twin", headers=json_accept).json()["all"]
        assert [row["agendaId"] for row in rows] == mine[::-1]
        assert "4 agendas, page 1 of 1" in http.get("/agendas?q=twin").text
        south = http.get("/agendas?q=twin&customer=south", headers=json_accept).json()["all"]
        assert [row["agendaId"] for row in south] == [ids[4], ids[1]]
        assert http.get("/agendas?customer=west", headers=json_accept).json()["all"] == []
        assert "0 agendas" in http.get("/agendas?customer=west&type=sample").text
        # the row of one agenda: only when the session may see it and it matches the filters
        assert 'data-agenda-id="' + ids[0] + '"' in http.get(f"/agendas/row/{ids[0]}").text
        assert http.get(f"/agendas/row/{ids[0]}?q=nothing-like-it").status_code == 204
        assert http.get(f"/agendas/row/{ids[2]}").status_code == 204  # west's
        assert http.get(f"/agendas/row/{ids[2]}", headers=json_accept).json()["all"] == []
    finally:
        http.close()
