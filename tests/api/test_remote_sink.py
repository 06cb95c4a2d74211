"""RemoteSink's contracts against a recording stand-in for the server's pool routes: every
transition delivered once and in order by the outbox's thread (the server's attempt ids replacing
the sink's), nothing lost or sent twice across an outage, op progress coalesced to the latest
report per op and superseded by its op's transition, and the lease lost only on 409, after which
nothing more is sent. The real server is exercised by tests/server/test_remote_*.py."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

import pytest

from pop.api.remote import RemoteClient
from pop.api.remote_sink import RemoteSink
from pop.engine.state import Outcome
from pop.errors import ConflictError, NotFoundError, RuntimeUnavailableError
from pop.models import Agenda, Operation, ProcessingState


class FakeServer:
    """Answers ``service`` as the pool routes do and records each request it took."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self.conflict = False
        self.down = threading.Event()
        self.cancel = False
        self._ids = 100

    def service(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.down.is_set():
            self.refused += 1
            raise RuntimeUnavailableError("cannot reach the pop server")
        if self.conflict:
            raise ConflictError("executor e1 no longer holds the lease")
        self.requests.append((name, body))
        if name == "startAttempt":
            self._ids += 1
            return {"attempt": {"id": self._ids}}
        if name == "appendLog":
            return {"size": body["offset"] + len(body["text"].encode())}
        return {"leaseExpiresTime": 4_000_000_000_000, "cancelRequested": self.cancel}

    def status(self, agenda_id: str) -> Any:
        raise NotFoundError(f"no progress for agenda {agenda_id}")  # an executor token

    def names(self) -> list[str]:
        return [name for name, _ in self.requests if name != "heartbeat"]

    def reports(self) -> list[dict[str, Any]]:
        return [
            body["agendaProgress"] for name, body in self.requests if name == "updateAgendaProgress"
        ]


def agenda() -> Agenda:
    return Agenda(
        id="a1",
        progress_id="p1",
        operations=[Operation(name="one", type="sample"), Operation(name="two", type="sample")],
    )


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sink(server: FakeServer) -> RemoteSink:
    return RemoteSink(cast(RemoteClient, server), agenda(), owner="e1")


def wait_until(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def run_one_op(sink: RemoteSink, log: str) -> None:
    agenda_attempt = sink.begin("a1", "p1", attempt=1, executor="e1", runtime="local", percent=0)
    attempt = sink.start_attempt("a1", "p1", "one", 1, executor="e1", runtime="local", log_path=log)
    sink.record_launch(attempt, {"runtime": "local", "ref": "pgid:1"})
    sink.op_outcome(
        "p1", "one", attempt, Outcome(succeeded=True, output_tail=["hi"]), percent=100.0,
        result={"x": 1}, params=None, agenda_percent=50.0,
    )  # fmt: skip
    sink.finish(
        "a1", "p1", owner="e1", attempt_id=agenda_attempt, succeeded=True, failure="",
        diagnostics=[], percent=100.0,
    )  # fmt: skip


EXPECTED = [
    "startAttempt",
    "updateAgendaProgress",
    "startAttempt",
    "updateAgendaProgress",
    "recordLaunch",
    "appendLog",
    "endAttempt",
    "updateAgendaProgress",
    "endAttempt",
    "updateAgendaProgress",
]


def test_the_progress_is_built_from_the_agenda_when_the_token_may_not_read_it(
    sink: RemoteSink,
) -> None:
    progress = sink.progress("a1")

    assert progress is not None and progress.id == "p1"
    assert [op.operation for op in progress.operation_progress or []] == ["one", "two"]
    assert {op.processing_state for op in progress.operation_progress or []} == {
        ProcessingState.WAITING
    }
    assert sink.claim("a1", "e1", lease_seconds=30, launch_settings={}) == "e1"


def test_transitions_go_once_in_order_with_the_servers_attempt_ids(
    sink: RemoteSink, server: FakeServer, tmp_path: Any
) -> None:
    log = tmp_path / "one.1.log"
    log.write_text("first line\nsecond line\n")

    run_one_op(sink, str(log))

    assert sink.delivered(timeout=30)
    assert server.names() == EXPECTED
    bodies = dict((name, body) for name, body in server.requests if name != "startAttempt")
    assert bodies["recordLaunch"]["attemptId"] == 102  # the op's attempt row on the server
    assert bodies["appendLog"]["text"] == "first line\nsecond line\n"
    assert server.requests[-2][1]["attemptId"] == 101  # the agenda's attempt ends last
    assert server.requests[6][1]["outputTail"] == ["hi"]
    assert server.reports()[-1]["processingState"] == "COMPLETE"


def test_an_outage_loses_nothing_and_sends_nothing_twice(
    sink: RemoteSink, server: FakeServer, tmp_path: Any
) -> None:
    server.down.set()
    run_one_op(sink, str(tmp_path / "none.log"))  # returns at once: nothing waits on the server
    wait_until(lambda: server.refused >= 3)  # retried with backoff meanwhile
    assert server.requests == []
    assert sink.renew_lease("a1", "e1", 30)  # unreachable is not lost

    server.down.clear()

    assert sink.delivered(timeout=60)
    assert server.names() == [name for name in EXPECTED if name != "appendLog"]  # no log file


def test_op_progress_keeps_the_latest_report_per_op_and_a_transition_supersedes_it(
    sink: RemoteSink, server: FakeServer
) -> None:
    server.down.set()
    for percent in (10.0, 20.0, 30.0):
        sink.op_progress(
            "p1", "one", percent=percent, message="m", params=None, agenda_percent=percent / 2
        )
    sink.op_progress("p1", "two", percent=40.0, message="m", params=None, agenda_percent=20.0)
    sink.op_invalid("p1", "two", [])
    server.down.clear()
    sink.close()

    assert sink.delivered(timeout=60)
    reports = server.reports()
    assert [[op["operation"] for op in r["operationProgress"]] for r in reports] == [
        ["two"],  # the transition; the waiting report of "two" was dropped for it
        ["one"],  # then the latest report of "one" alone
    ]
    assert reports[1]["operationProgress"][0]["percentComplete"] == 30.0
    assert reports[1]["percentComplete"] == 20.0


def test_the_lease_is_lost_only_on_409_and_nothing_is_sent_after(
    sink: RemoteSink, server: FakeServer, tmp_path: Any
) -> None:
    assert sink.renew_lease("a1", "e1", 30)
    server.conflict = True
    sink.op_invalid("p1", "one", [])
    wait_until(lambda: sink.lost)

    assert not sink.renew_lease("a1", "e1", 30)
    finished = sink.finish(
        "a1", "p1", owner="e1", attempt_id=1, succeeded=True, failure="", diagnostics=[],
        percent=100.0,
    )  # fmt: skip
    assert finished is False
    server.conflict = False
    assert not sink.delivered(timeout=30)
    assert server.requests == []
