"""RemoteSink's contracts against a recording stand-in for the server's pool routes: op progress
coalesced to one report a second per agenda (the latest per op), a transition sent at once with
the pending reports of other ops and superseding its own op's, the lease lost only on 409,
cancel answered from the last heartbeat, and the progress read from the agenda getAgenda gave."""

from __future__ import annotations

from typing import Any, cast

import pytest

from pop.api.remote import RemoteClient
from pop.api.remote_sink import HEARTBEAT_SECONDS, RemoteSink
from pop.engine.state import Outcome
from pop.errors import ConflictError, NotFoundError, RuntimeUnavailableError
from pop.models import Agenda, Operation, ProcessingState


class FakeServer:
    """Answers ``service`` as the pool routes do and records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.conflict = False
        self.down = False
        self.cancel = False

    def service(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.down:
            raise RuntimeUnavailableError("cannot reach the pop server")
        if self.conflict:
            raise ConflictError("executor e1 no longer holds the lease")
        self.requests.append((name, body))
        return {"leaseExpiresTime": 4_000_000_000_000, "cancelRequested": self.cancel}

    def status(self, agenda_id: str) -> Any:
        raise NotFoundError(f"no progress for agenda {agenda_id}")  # an executor token

    def reports(self) -> list[dict[str, Any]]:
        return [
            body["agendaProgress"] for name, body in self.requests if name == "updateAgendaProgress"
        ]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


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
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink(server: FakeServer, clock: Clock) -> RemoteSink:
    client = cast(RemoteClient, server)
    return RemoteSink(client, agenda(), owner="e1", clock=clock, sleep=lambda _: None)


def progress_of(sink: RemoteSink, percent: float, *, operation: str = "one") -> None:
    sink.op_progress(
        "p1",
        operation,
        percent=percent,
        message=f"{percent}%",
        params=None,
        agenda_percent=percent / 2,
    )


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


def test_op_progress_is_coalesced_to_one_report_a_second_the_latest_per_op_winning(
    sink: RemoteSink, server: FakeServer, clock: Clock
) -> None:
    progress_of(sink, 10.0)  # the first goes at once
    clock.now += 0.2
    progress_of(sink, 20.0)
    progress_of(sink, 30.0)
    assert len(server.reports()) == 1

    clock.now += 1.0
    sink.cancel_requested("a1")  # the lease keeper's poll sends what is pending

    reports = server.reports()
    assert len(reports) == 2
    assert [op["percentComplete"] for op in reports[1]["operationProgress"]] == [30.0]
    assert reports[1]["percentComplete"] == 15.0


def test_a_transition_goes_at_once_with_other_ops_pending_reports_and_supersedes_its_own(
    sink: RemoteSink, server: FakeServer, clock: Clock
) -> None:
    sink.progress("a1")  # a run reads it first
    progress_of(sink, 10.0)
    clock.now += 0.1
    progress_of(sink, 50.0)
    progress_of(sink, 40.0, operation="two")
    sink.op_outcome(
        "p1", "one", 1, Outcome(succeeded=True), percent=100.0, result={"x": 1}, params=None,
        agenda_percent=70.0,
    )  # fmt: skip

    last = server.reports()[-1]
    assert [(op["operation"], op.get("processingState")) for op in last["operationProgress"]] == [
        ("two", None),
        ("one", "COMPLETE"),
    ]
    assert last["operationProgress"][1]["resultPayload"] == {"x": 1}
    assert last["percentComplete"] == 70.0
    mirrored = sink.progress("a1")
    assert mirrored is not None and mirrored.operation("one").succeeded  # type: ignore[union-attr]


def test_the_lease_is_lost_only_on_409_and_finish_then_writes_nothing(
    sink: RemoteSink, server: FakeServer
) -> None:
    assert sink.renew_lease("a1", "e1", 30)
    server.down = True
    assert sink.renew_lease("a1", "e1", 30)  # unreachable: the granted lease still holds
    server.down, server.conflict = False, True
    assert not sink.renew_lease("a1", "e1", 30)
    finished = sink.finish(
        "a1", "p1", owner="e1", attempt_id=1, succeeded=True, failure="", diagnostics=[],
        percent=100.0,
    )  # fmt: skip
    assert finished is False


def test_cancel_is_answered_from_the_last_heartbeat_not_asked_on_every_poll(
    sink: RemoteSink, server: FakeServer, clock: Clock
) -> None:
    server.cancel = True
    assert sink.cancel_requested("a1")  # the first poll heartbeats
    sent = len(server.requests)
    server.cancel = False
    for _ in range(5):
        clock.now += 0.5
        assert sink.cancel_requested("a1")  # answered from the last heartbeat
    assert len(server.requests) == sent
    clock.now += HEARTBEAT_SECONDS
    assert not sink.cancel_requested("a1")
