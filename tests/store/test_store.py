"""The SQLite store on real files: migrations, WAL, transactions, progress, leases, several
processes at once, id prefixes and the ready queue (DESIGN §9)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import pop.store.leases
from pop.engine.submission import new_operation_progress, prepare
from pop.errors import InputError, NotFoundError, StoreError
from pop.models import (
    Agenda,
    AgendaProgress,
    DiagnosticEvent,
    Operation,
    OperationProgress,
    ProcessingState,
)
from pop.store import Store, operation_progress_id
from pop.store.schema import SCHEMA_VERSION

Snapshot = Callable[[Path], Any]


@pytest.fixture
def store_path(pop_home: Path) -> Path:
    return pop_home / "pop.db"


@pytest.fixture
def store(store_path: Path) -> Iterator[Store]:
    opened = Store.open(store_path)
    yield opened
    opened.close()


def agenda_records(
    agenda_id: str | None = None, names: Sequence[str] = ("first", "second")
) -> tuple[Agenda, AgendaProgress, list[OperationProgress]]:
    """An agenda with sample ops and its fresh progress records, as submit builds them."""
    agenda = Agenda(
        title="store test",
        operations=[Operation(name=name, type="sample", payload={}) for name in names],
    )
    prepared, progress, operations = prepare(agenda)
    if agenda_id is not None:
        prepared.id = agenda_id
        progress.agenda_id = agenda_id
    return prepared, progress, operations


def insert_agenda(
    store: Store, agenda_id: str | None = None, names: Sequence[str] = ("first", "second")
) -> tuple[Agenda, AgendaProgress]:
    agenda, progress, operations = agenda_records(agenda_id, names)
    with store.transaction():
        store.agendas.insert(agenda)
        store.progress.insert(progress, operations)
    return agenda, progress


# -- opening: migrations and pragmas -----------------------------------------------------------


def test_opening_a_new_store_applies_every_migration(store: Store, store_path: Path) -> None:
    connection = sqlite3.connect(store_path)
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()

    assert version == SCHEMA_VERSION >= 1
    assert {
        "agendas",
        "agenda_progress",
        "operation_progress",
        "attempts",
        "ready_queue",
        "templates",
        "customers",
        "pools",
        "insights",
    } <= tables


def test_opening_a_store_again_changes_nothing(
    store: Store, store_path: Path, store_snapshot: Snapshot
) -> None:
    insert_agenda(store)
    store.close()
    before = store_snapshot(store_path.parent)

    Store.open(store_path).close()
    Store.open(store_path).close()

    assert store_snapshot(store_path.parent) == before
    assert before["user_version"] == SCHEMA_VERSION


def test_the_store_runs_in_wal_mode_with_a_busy_timeout(store: Store, store_path: Path) -> None:
    other = sqlite3.connect(store_path)
    (mode,) = other.execute("PRAGMA journal_mode").fetchone()
    other.close()
    (timeout,) = store.db.connection.execute("PRAGMA busy_timeout").fetchone()

    assert mode == "wal"
    assert timeout > 0


_AT_ONCE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    def wait_for_go():
        go = Path(sys.argv[-2])
        Path(f"{go}.{sys.argv[-1]}").touch()  # ready
        while not go.exists():
            time.sleep(0.002)
    """
)


def start_at_once(argvs: Sequence[list[str]], go: Path) -> list[subprocess.Popen[str]]:
    """Start ``python -c SCRIPT ARGS GO INDEX`` for each argv, whose script begins with
    ``_AT_ONCE`` and calls ``wait_for_go()``: wait until every one is ready, then let them all
    go by creating ``go`` (a barrier: a start time set ahead could pass before a busy machine
    has started them)."""
    processes = [
        subprocess.Popen(
            [*argv, str(go), str(index)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index, argv in enumerate(argvs)
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{index}").exists() for index in range(len(argvs))):
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(process.poll() is None for process in processes), "one died before go"
        time.sleep(0.01)
    go.touch()
    return processes


def test_several_processes_opening_a_fresh_store_at_once_all_succeed(
    store_path: Path, tmp_path: Path
) -> None:
    script = _AT_ONCE + textwrap.dedent(
        """
        from pop.store import Store
        wait_for_go()
        Store.open(Path(sys.argv[1])).close()
        """
    )
    argv = [sys.executable, "-c", script, str(store_path)]
    processes = start_at_once([argv] * 4, tmp_path / "go")
    results = [(process.wait(timeout=60), process.stderr.read()) for process in processes]  # type: ignore[union-attr]

    assert results == [(0, "")] * 4
    with Store.open(store_path) as store:
        (version,) = store.db.connection.execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION


# -- transactions ------------------------------------------------------------------------------


def test_an_agenda_and_its_progress_are_stored_in_one_transaction(store: Store) -> None:
    agenda, progress = insert_agenda(store, names=("download", "transcode", "publish"))

    stored = store.agendas.get(agenda.id or "")
    stored_progress = store.progress.get(agenda.id or "")
    assert stored.to_wire() == agenda.to_wire()
    assert stored_progress is not None
    assert stored_progress.id == progress.id
    assert stored_progress.processing_state == ProcessingState.WAITING
    assert stored_progress.processing_state_message == "pending"
    assert [op.operation for op in stored_progress.operation_progress or []] == [
        "download",
        "transcode",
        "publish",
    ]
    assert {op.processing_state for op in stored_progress.operation_progress or []} == {
        ProcessingState.WAITING
    }


def test_a_failure_inside_a_transaction_leaves_nothing_stored(
    store: Store, pop_home: Path, store_snapshot: Snapshot
) -> None:
    before = store_snapshot(pop_home)
    agenda, progress, operations = agenda_records()

    with pytest.raises(RuntimeError, match="in the middle"), store.transaction():
        store.agendas.insert(agenda)
        store.progress.insert(progress, operations)
        raise RuntimeError("failure in the middle")

    assert store_snapshot(pop_home) == before
    with pytest.raises(NotFoundError):
        store.agendas.get(agenda.id or "")


def test_a_store_error_inside_a_transaction_rolls_back_earlier_writes(
    store: Store, pop_home: Path, store_snapshot: Snapshot
) -> None:
    before = store_snapshot(pop_home)
    agenda, progress, operations = agenda_records(names=("same",))
    duplicated = [*operations, new_operation_progress(progress.id or "", agenda.operations[0])]

    with pytest.raises(StoreError), store.transaction():
        store.agendas.insert(agenda)
        store.progress.insert(progress, duplicated)

    assert store_snapshot(pop_home) == before


def test_nested_transactions_join_the_outer_one(
    store: Store, pop_home: Path, store_snapshot: Snapshot
) -> None:
    before = store_snapshot(pop_home)
    agenda, progress, operations = agenda_records()

    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.agendas.insert(agenda)
            store.progress.insert(progress, operations)
        raise RuntimeError("outer fails after the inner one ended")

    assert store_snapshot(pop_home) == before


# -- progress ----------------------------------------------------------------------------------


def attempts_completed(store: Store, agenda_id: str) -> int | None:
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    return progress.attempts_completed


def test_attempts_completed_counts_only_a_move_to_complete(store: Store) -> None:
    agenda, progress = insert_agenda(store)
    agenda_id, progress_id = agenda.id or "", progress.id or ""

    store.progress.update_agenda(progress_id, state=ProcessingState.EXECUTING)
    assert attempts_completed(store, agenda_id) == 0
    store.progress.update_agenda(progress_id, percent=50.0)
    assert attempts_completed(store, agenda_id) == 0
    store.progress.update_agenda(progress_id, state=ProcessingState.COMPLETE, message="failed")
    assert attempts_completed(store, agenda_id) == 1
    store.progress.update_agenda(progress_id, state=ProcessingState.COMPLETE, message="failed")
    assert attempts_completed(store, agenda_id) == 1
    store.progress.update_agenda(progress_id, state=ProcessingState.EXECUTING)
    store.progress.update_agenda(progress_id, state=ProcessingState.COMPLETE, message="succeeded")
    assert attempts_completed(store, agenda_id) == 2


def test_add_diagnostics_appends_several_events_in_order(store: Store) -> None:
    agenda, progress = insert_agenda(store)

    store.progress.update_agenda(
        progress.id or "",
        add_diagnostics=[DiagnosticEvent.of("one"), DiagnosticEvent.of("two", payload=[1])],
    )
    store.progress.update_agenda(progress.id or "", add_diagnostics=[DiagnosticEvent.of("three")])

    stored = store.progress.get(agenda.id or "")
    assert stored is not None
    events = stored.diagnostic_events or []
    assert [event.message for event in events] == ["one", "two", "three"]
    assert events[1].payload == [1]


def test_an_operation_update_is_read_back_with_its_result_and_diagnostics(store: Store) -> None:
    agenda, progress = insert_agenda(store)
    op_id = operation_progress_id(progress.id or "", "first")

    store.progress.update_operation(
        op_id, state=ProcessingState.EXECUTING, percent=40.0, attempt_count=1, started_time=5
    )
    store.progress.update_operation(
        op_id,
        state=ProcessingState.COMPLETE,
        message="succeeded",
        percent=100.0,
        result_payload={"file": "out.mp4", "frames": [1, 2]},
        set_result=True,
        diagnostics=[DiagnosticEvent.of("note")],
        output_tail=["line 1", "line 2"],
    )

    stored = store.progress.get(agenda.id or "")
    assert stored is not None
    first = stored.operation("first")
    assert first is not None
    assert first.succeeded
    assert first.result_payload == {"file": "out.mp4", "frames": [1, 2]}
    assert first.attempt_count == 1
    assert first.started_time == 5
    assert [event.message for event in first.diagnostic_events or []] == ["note"]
    assert store.progress.output_tail(progress.id or "", "first") == ["line 1", "line 2"]
    second = stored.operation("second")
    assert second is not None
    assert second.processing_state == ProcessingState.WAITING


def test_list_filters_by_state(store: Store) -> None:
    waiting, _ = insert_agenda(store)
    running, running_progress = insert_agenda(store)
    store.progress.update_agenda(running_progress.id or "", state=ProcessingState.EXECUTING)

    assert [p.agenda_id for p in store.progress.list(state="EXECUTING")] == [running.id]
    assert [p.agenda_id for p in store.progress.list(state="WAITING")] == [waiting.id]
    assert len(store.progress.list()) == 2


# -- leases and cancel -------------------------------------------------------------------------


def test_a_live_lease_cannot_be_taken_by_a_second_owner(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""

    assert store.progress.take_lease(agenda_id, "owner-a", 30)
    assert not store.progress.take_lease(agenda_id, "owner-b", 30)
    assert store.progress.lease_of(agenda_id)[0] == "owner-a"


def test_the_owner_can_take_its_lease_again_and_renew_it(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""
    store.progress.take_lease(agenda_id, "owner-a", 30)
    _, first_expiry = store.progress.lease_of(agenda_id)

    assert store.progress.take_lease(agenda_id, "owner-a", 30)
    assert store.progress.renew_lease(agenda_id, "owner-a", 60)
    _, renewed_expiry = store.progress.lease_of(agenda_id)
    assert first_expiry is not None and renewed_expiry is not None
    assert renewed_expiry > first_expiry


def test_only_the_owner_can_renew_or_release_a_lease(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""
    store.progress.take_lease(agenda_id, "owner-a", 30)

    assert not store.progress.renew_lease(agenda_id, "owner-b", 30)
    store.progress.release_lease(agenda_id, "owner-b")
    assert store.progress.lease_of(agenda_id)[0] == "owner-a"

    store.progress.release_lease(agenda_id, "owner-a")
    assert store.progress.lease_of(agenda_id) == (None, None)
    assert store.progress.take_lease(agenda_id, "owner-b", 30)


def test_an_expired_lease_can_be_taken_by_a_second_owner(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""

    assert store.progress.take_lease(agenda_id, "owner-a", -1)
    assert store.progress.take_lease(agenda_id, "owner-b", 30)
    assert store.progress.lease_of(agenda_id)[0] == "owner-b"
    assert not store.progress.renew_lease(agenda_id, "owner-a", 30)


def test_a_lease_expires_when_its_time_has_passed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""
    monkeypatch.setattr(pop.store.leases, "now_ms", lambda: 1_000_000)
    assert store.progress.take_lease(agenda_id, "owner-a", 5)

    monkeypatch.setattr(pop.store.leases, "now_ms", lambda: 1_004_999)
    assert not store.progress.take_lease(agenda_id, "owner-b", 5)
    monkeypatch.setattr(pop.store.leases, "now_ms", lambda: 1_005_001)
    assert store.progress.take_lease(agenda_id, "owner-b", 5)


def test_a_status_read_shows_the_lease_owner_and_expiry(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    store.progress.take_lease(agenda.id or "", "owner-a", 30)

    stored = store.progress.get(agenda.id or "")
    assert stored is not None
    lease = stored.to_wire()["lease"]
    assert lease["owner"] == "owner-a"
    assert isinstance(lease["expiresTime"], int)


def test_a_cancel_request_is_recorded(store: Store) -> None:
    agenda, _ = insert_agenda(store)

    assert not store.progress.cancel_requested(agenda.id or "")
    store.progress.request_cancel(agenda.id or "")
    assert store.progress.cancel_requested(agenda.id or "")


# -- several processes -------------------------------------------------------------------------

_WRITER = _AT_ONCE + textwrap.dedent(
    """
    from pop.models import DiagnosticEvent
    from pop.store import Store

    path, agenda_id, progress_id, op_id, writer, count = sys.argv[1:7]
    store = Store.open(Path(path))
    wait_for_go()
    for index in range(int(count)):
        with store.transaction():
            store.progress.update_agenda(
                progress_id, add_diagnostics=[DiagnosticEvent.of(f"{writer}-{index}")]
            )
            store.attempts.start(agenda_id, writer, index, executor=writer, runtime="local")
        store.progress.update_operation(op_id, percent=float(index))
        time.sleep(0.001)  # let the other writer in between our transactions
    store.close()
    """
)


def test_two_processes_writing_the_same_store_lose_no_writes(
    store: Store, store_path: Path, tmp_path: Path
) -> None:
    agenda, progress = insert_agenda(store)
    count = 100
    argvs = [
        [
            sys.executable,
            "-c",
            _WRITER,
            str(store_path),
            agenda.id or "",
            progress.id or "",
            operation_progress_id(progress.id or "", "first"),
            writer,
            str(count),
        ]
        for writer in ("writer-a", "writer-b")
    ]
    writers = start_at_once(argvs, tmp_path / "go")
    outcomes = [(writer.wait(timeout=60), writer.communicate()[1]) for writer in writers]

    for code, stderr in outcomes:
        assert "locked" not in stderr
        assert code == 0, stderr
    stored = store.progress.get(agenda.id or "")
    assert stored is not None
    messages = [event.message or "" for event in stored.diagnostic_events or []]
    assert len(messages) == 2 * count
    for writer in ("writer-a", "writer-b"):
        own = [message for message in messages if message.startswith(writer)]
        assert own == [f"{writer}-{index}" for index in range(count)]
        assert len(store.attempts.list(agenda.id or "", writer)) == count


# -- ids ---------------------------------------------------------------------------------------


def test_an_agenda_id_resolves_from_a_unique_prefix(store: Store) -> None:
    insert_agenda(store, "abcd1111-aaaa")
    insert_agenda(store, "abcd2222-bbbb")

    assert store.agendas.resolve_id("abcd1111-aaaa") == "abcd1111-aaaa"
    assert store.agendas.resolve_id("abcd1") == "abcd1111-aaaa"
    assert store.agendas.resolve_id("abcd2222") == "abcd2222-bbbb"


def test_an_ambiguous_prefix_is_an_input_error(store: Store) -> None:
    insert_agenda(store, "abcd1111-aaaa")
    insert_agenda(store, "abcd2222-bbbb")

    with pytest.raises(InputError, match="ambiguous"):
        store.agendas.resolve_id("abcd")


@pytest.mark.parametrize("given", ["zzzz9999", "abc", "abcd1111-aaaa-longer"])
def test_an_unknown_id_is_not_found(store: Store, given: str) -> None:
    insert_agenda(store, "abcd1111-aaaa")

    with pytest.raises(NotFoundError, match=given):
        store.agendas.resolve_id(given)


def test_getting_an_unknown_agenda_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.agendas.get("no-such-agenda")
    assert store.progress.get("no-such-agenda") is None


# -- attempts and the queue --------------------------------------------------------------------


def test_an_attempt_row_records_what_was_launched_and_how_it_ended(store: Store) -> None:
    agenda, _ = insert_agenda(store)
    agenda_id = agenda.id or ""

    attempt_id = store.attempts.start(
        agenda_id, "first", 1, executor="me", runtime="local", log_path="/tmp/first.1.log"
    )
    store.attempts.record_launch(
        attempt_id, {"runtime": "local", "ref": "pgid:42", "details": {"pgid": 42}}
    )
    store.attempts.end(attempt_id, "failed", exit_code=3, message="boom")

    (row,) = store.attempts.list(agenda_id, "first")
    assert row["launched"] == {"runtime": "local", "ref": "pgid:42", "details": {"pgid": 42}}
    assert (row["number"], row["outcome"], row["exitCode"], row["message"]) == (
        1,
        "failed",
        3,
        "boom",
    )
    assert row["endedTime"] >= row["startedTime"]
    assert store.attempts.list(agenda_id, "second") == []


def test_the_ready_queue_enqueues_once_and_removes(store: Store) -> None:
    first, _ = insert_agenda(store)
    second, _ = insert_agenda(store)

    store.queue.enqueue(first.id or "", insight_id="default", customer_id="default")
    store.queue.enqueue(first.id or "", insight_id="default", customer_id="default", priority=5)
    store.queue.enqueue(second.id or "", insight_id="media", customer_id="acme")

    assert store.queue.size() == 2
    assert store.queue.size("default") == 1
    assert store.queue.contains(first.id or "")
    assert store.queue.remove(first.id or "")
    assert not store.queue.remove(first.id or "")
    assert not store.queue.contains(first.id or "")
    assert store.queue.size() == 1
