"""``GET /pop/events`` on a real ``pop serve``: an SSE client (httpx streaming) sees the
progress of an agenda change while a real ``pop executor`` on the server's POP_HOME runs it;
a customer token sees only its customers' agendas; ``Last-Event-ID`` resumes; a revoked
token's stream ends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pop.api import Client
from pop.config import Settings
from tests.conftest import run_pop_at, wait_for
from tests.server.conftest import RunningServer
from tests.server.test_auth import bearer, token
from tests.server.test_extension_routes import sample_op


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Events of a text/event-stream: {"id", "event", "data", "comment"} per blank line."""
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif line.startswith(":"):
            event.setdefault("comment", []).append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            event[name] = value[1:] if value.startswith(" ") else value


class Listener:
    """An SSE client on its own thread, collecting events until told to stop or the stream
    ends."""

    def __init__(self, server: RunningServer, secret: str, **params: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.status: int | None = None
        self.error: httpx.HTTPError | None = None
        self.connected = threading.Event()
        self.ended = threading.Event()
        self.stop = False
        self.headers = bearer(secret)
        if "last_event_id" in params:
            self.headers["Last-Event-ID"] = params.pop("last_event_id")
        self.thread = threading.Thread(target=self._run, args=(server.url, params), daemon=True)
        self.thread.start()
        assert self.connected.wait(60), "the event stream did not answer"

    def _run(self, url: str, params: dict[str, str]) -> None:
        try:
            with (
                httpx.Client(base_url=url, timeout=httpx.Timeout(60, read=60)) as http,
                http.stream("GET", "/pop/events", params=params, headers=self.headers) as answer,
            ):
                self.status = answer.status_code
                self.content_type = answer.headers.get("content-type", "")
                self.connected.set()
                if answer.status_code != 200:
                    return
                for event in sse_events(answer.iter_lines()):
                    self.events.append(event)
                    if self.stop:
                        return
        except httpx.HTTPError as error:  # the server stopped under a stream left open
            self.error = error
        finally:
            self.connected.set()
            self.ended.set()

    def progress(self) -> list[dict[str, Any]]:
        return [json.loads(e["data"]) for e in self.events if e.get("event") == "progress"]


@pytest.fixture(scope="module")
def tokens(auth_server: RunningServer) -> dict[str, str]:
    home = auth_server.home
    return {
        "acme": token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": token(home, kind="customer", customers=["umbrella"], name="umbrella"),
        "global": token(home, kind="global", name="root"),
    }


def submit(server: RunningServer, secret: str, **fields: Any) -> str:
    with server.http() as http:
        answer = http.post(
            "/pop/agenda",
            json={"operations": [sample_op("step", "working", sleep_ms=1500)], **fields},
            headers=bearer(secret),
        )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["all"][0]["id"])


def test_a_customer_sees_its_own_agendas_progress_as_an_executor_runs_them(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    acme = Listener(auth_server, tokens["acme"])
    root = Listener(auth_server, tokens["global"])
    assert acme.status == 200 and acme.content_type.startswith("text/event-stream")
    mine = submit(auth_server, tokens["acme"], title="mine")
    theirs = submit(auth_server, tokens["umbrella"], title="theirs")
    executed = run_pop_at(auth_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr

    def completed(listener: Listener, agenda_id: str) -> bool:
        return any(
            p["agendaId"] == agenda_id and p["processingState"] == "COMPLETE"
            for p in listener.progress()
        )

    wait_for(lambda: completed(acme, mine), what="acme's agenda COMPLETE on acme's stream")
    wait_for(lambda: completed(root, theirs), what="umbrella's agenda on the global stream")
    acme.stop = root.stop = True
    seen = acme.progress()
    assert {p["agendaId"] for p in seen} == {mine}
    assert "EXECUTING" in {p["processingState"] for p in seen}
    last = seen[-1]
    assert last["operationProgress"][0]["operation"] == "step"
    # the data is what GET /pop/progress/agenda/{id} lists
    with auth_server.http() as http:
        stored = http.get(f"/pop/progress/agenda/{mine}", headers=bearer(tokens["acme"]))
    assert stored.json()["all"][0] == last
    ids = [int(e["id"]) for e in acme.events if e.get("event") == "progress"]
    assert ids == sorted(ids)
    assert {p["agendaId"] for p in root.progress()} >= {mine, theirs}


def test_one_agenda_starts_with_its_progress_and_resumes_from_last_event_id(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    agenda_id = submit(auth_server, tokens["acme"], params={"doNotRun": True})
    listener = Listener(auth_server, tokens["acme"], agendaId=agenda_id[:8])
    wait_for(lambda: listener.progress(), what="the agenda's progress first")
    listener.stop = True
    first = next(e for e in listener.events if e.get("event") == "progress")
    assert json.loads(first["data"])["processingState"] == "WAITING"
    # a client resuming from before that change gets it again
    resumed = Listener(
        auth_server,
        tokens["acme"],
        agendaId=agenda_id,
        last_event_id=str(int(first["id"]) - 1),
    )
    wait_for(lambda: resumed.progress(), what="the change after Last-Event-ID")
    resumed.stop = True
    assert resumed.progress()[0]["agendaId"] == agenda_id


def test_another_customers_agenda_and_bad_ids_are_refused(
    auth_server: RunningServer, tokens: dict[str, str]
) -> None:
    theirs = submit(auth_server, tokens["umbrella"], params={"doNotRun": True})
    with auth_server.http() as http:
        hidden = http.get(
            "/pop/events", params={"agendaId": theirs}, headers=bearer(tokens["acme"])
        )
        bad = http.get(
            "/pop/events", headers={**bearer(tokens["acme"]), "Last-Event-ID": "yesterday"}
        )
        anonymous = http.get("/pop/events")
    assert hidden.status_code == 404
    assert bad.status_code == 422
    assert anonymous.status_code == 401


def test_a_revoked_tokens_stream_ends(auth_server: RunningServer) -> None:
    secret = token(auth_server.home, kind="customer", customers=["acme"], name="short-lived")
    listener = Listener(auth_server, secret)
    assert listener.status == 200
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        client.token_revoke("short-lived")
    finally:
        client.close()
    assert listener.ended.wait(60), "the stream of a revoked token did not end"
    assert listener.error is None  # it ended as a stream ends, the server still serving


def test_a_revoked_tokens_followed_log_ends(auth_server: RunningServer) -> None:
    """``/logs?follow=true`` of an op that never starts waits for it, until the token goes."""
    secret = token(auth_server.home, kind="customer", customers=["acme"], name="log-reader")
    with auth_server.http() as http:
        stored = http.post(
            "/pop/agenda",
            json={"operations": [sample_op("idle", "never", 100)], "params": {"doNotRun": True}},
            headers=bearer(secret),
        )
    assert stored.status_code == 200, stored.text
    agenda_id = stored.json()["all"][0]["id"]
    ended, opened = threading.Event(), threading.Event()

    def follow() -> None:
        with (
            httpx.Client(base_url=auth_server.url, timeout=90) as http,
            http.stream(
                "GET",
                f"/pop/agenda/{agenda_id}/logs",
                params={"follow": "true", "operation": "idle"},
                headers=bearer(secret),
            ) as answer,
        ):
            assert answer.status_code == 200
            opened.set()
            for _ in answer.iter_bytes():
                pass
        ended.set()

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert opened.wait(30)
    assert not ended.wait(1)  # still following: the op has no attempt yet
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        client.token_revoke("log-reader")
    finally:
        client.close()
    assert ended.wait(60), "the followed log of a revoked token did not end"
