"""The reclaimer against a dead executor: the store left as a crash leaves it, a real process group
standing in for the handler it launched (DESIGN §9, §10; POP-REFERENCE §11.1; issue 4 item 5)."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from pop.engine.executor import AgendaRunner, RunOptions
from pop.models import ProcessingState, now_ms
from pop.runtimes import create_launcher
from pop.services.reclaimer import TIMED_OUT_MESSAGE, reclaim_once
from pop.store import Store
from tests.conftest import store_snapshot
from tests.services.store_state import (
    DEAD_EXECUTOR,
    MINUTE_MS,
    executing_under_dead_lease,
    finish,
    local_record,
    make_registry,
    make_settings,
    op_running,
    op_succeeded,
    process_state,
    set_columns,
    sh_op,
    sleeping_group,
    store_agenda,
)


@pytest.fixture
def store(pop_home: Path) -> Any:
    with Store.open(make_settings(pop_home).store_path) as opened:
        yield opened


def two_step_agenda(store: Store, tmp_path: Path, **params: Any) -> str:
    side_effects, last_progress = tmp_path / "side-effects.txt", tmp_path / "last-progress.json"
    return store_agenda(
        store,
        [
            sh_op("first", f"echo first >> '{side_effects}'"),
            sh_op(
                "second",
                f"echo second >> '{side_effects}' && "
                f"printf '%s' \"${{LAST_PROGRESS-unset}}\" > '{last_progress}'",
                after="first",
            ),
        ],
        params=params,
    )


def attempt_outcomes(store: Store, agenda_id: str) -> list[tuple[str | None, str | None]]:
    return [(row["operation"], row["outcome"]) for row in store.attempts.list(agenda_id)]


def test_a_dead_executors_handler_is_stopped_and_the_agenda_requeued_to_continue(
    store: Store, pop_home: Path, tmp_path: Path
) -> None:
    settings = make_settings(pop_home)
    agenda_id = two_step_agenda(store, tmp_path)
    executing_under_dead_lease(store, agenda_id)
    op_succeeded(store, agenda_id, "first", {"exitCode": 0})
    with sleeping_group() as handler:
        op_running(store, agenda_id, "second", local_record(handler.pid))

        [result] = reclaim_once(store, settings)

        # Stopped by the reclaimer (SIGTERM to its group), not by us: a zombie until we reap it.
        assert process_state(handler.pid) == "Z"
        assert handler.wait(timeout=5) == -signal.SIGTERM
    assert process_state(handler.pid) is None
    assert result.action == "requeued"
    assert result.stopped == [f"second attempt 1: local pgid:{handler.pid}"]
    assert result.problems == []
    progress = store.progress.get(agenda_id)
    assert progress is not None
    assert (progress.processing_state, progress.processing_state_message) == (
        ProcessingState.WAITING,
        "pending",
    )
    assert progress.attempts_completed == 1
    assert store.progress.lease_of(agenda_id) == (None, None)
    assert store.queue.contains(agenda_id)
    first, second = progress.operation_progress or []
    assert first.succeeded
    assert (second.processing_state, second.processing_state_message) == (
        ProcessingState.COMPLETE,
        "failed",
    )
    assert [event.message for event in second.diagnostic_events or []] == [
        "lost: its executor stopped"
    ]
    assert attempt_outcomes(store, agenda_id) == [
        (None, "lost"),
        ("first", "succeeded"),
        ("second", "lost"),
    ]

    # Continue semantics: the next run launches only "second", handing it its last progress.
    runner = AgendaRunner(
        store,
        make_registry(tmp_path),
        create_launcher("local"),
        settings,
        RunOptions(),
    )
    final = asyncio.run(runner.run(agenda_id))
    assert final.succeeded
    assert final.attempts_completed == 2
    assert (tmp_path / "side-effects.txt").read_text().split() == ["second"]
    last_progress = json.loads((tmp_path / "last-progress.json").read_text())
    assert last_progress["params"]["jobInfo"] == {"jobId": "job-7"}
    assert "lost: its executor stopped" in json.dumps(last_progress["diagnosticEvents"])


def test_with_its_attempts_spent_a_reclaimed_agenda_fails_timed_out(
    store: Store, pop_home: Path, tmp_path: Path
) -> None:
    agenda_id = two_step_agenda(store, tmp_path, maximumAttempts=1)
    executing_under_dead_lease(store, agenda_id)
    with sleeping_group() as handler:
        op_running(store, agenda_id, "first", local_record(handler.pid))

        [result] = reclaim_once(store, make_settings(pop_home))

        assert handler.wait(timeout=5) == -signal.SIGTERM
    assert result.action == "failed"
    assert (result.attempts_completed, result.maximum_attempts) == (1, 1)
    progress = store.progress.get(agenda_id)
    assert progress is not None
    assert progress.failed
    assert progress.attempts_completed == 1
    assert progress.completed_time is not None
    assert [event.message for event in progress.diagnostic_events or []] == [TIMED_OUT_MESSAGE]
    assert TIMED_OUT_MESSAGE == "AgendaProgress timed out. (its executor stopped)"
    assert not store.queue.contains(agenda_id)
    assert store.progress.lease_of(agenda_id) == (None, None)
    assert attempt_outcomes(store, agenda_id) == [(None, "lost"), ("first", "lost")]


def test_the_third_lost_attempt_of_three_fails_the_agenda(store: Store, pop_home: Path) -> None:
    settings = make_settings(pop_home)
    agenda_id = store_agenda(store)
    actions = []
    for _ in range(3):
        executing_under_dead_lease(store, agenda_id)
        actions += [result.action for result in reclaim_once(store, settings)]
    assert actions == ["requeued", "requeued", "failed"]
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert (progress.attempts_completed, progress.failed) == (3, True)


def test_a_live_lease_and_a_lease_within_the_grace_are_left_alone(
    store: Store, pop_home: Path
) -> None:
    live = store_agenda(store)
    executing_under_dead_lease(store, live)
    set_columns(store, live, lease_expires=now_ms() + 20_000)
    recent = store_agenda(store)
    executing_under_dead_lease(store, recent, expired_ms_ago=10_000)
    before = store_snapshot(pop_home)

    assert reclaim_once(store, make_settings(pop_home, reclaim_grace_seconds=60)) == []

    assert store_snapshot(pop_home) == before
    [result] = reclaim_once(store, make_settings(pop_home), older_than=5)
    assert (result.agenda_id, result.action) == (recent, "requeued")


def test_an_executing_agenda_without_a_lease_is_reclaimed_once_its_grace_passed(
    store: Store, pop_home: Path
) -> None:
    agenda_id = store_agenda(store)
    store.queue.mark_claimed(agenda_id)  # claimed; the executor died before it took the lease
    settings = make_settings(pop_home, reclaim_grace_seconds=60)

    assert reclaim_once(store, settings) == []
    set_columns(store, agenda_id, updated_time=now_ms() - 2 * MINUTE_MS)
    [result] = reclaim_once(store, settings)

    assert (result.action, result.lease_owner) == ("requeued", None)
    assert store.queue.contains(agenda_id)
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert (progress.processing_state, progress.attempts_completed) == (
        ProcessingState.WAITING,
        1,
    )


def test_a_waiting_agenda_whose_lease_lapsed_is_queued_again_without_counting_an_attempt(
    store: Store, pop_home: Path
) -> None:
    agenda_id = store_agenda(store)
    store.progress.take_lease(agenda_id, DEAD_EXECUTOR, 30)
    set_columns(store, agenda_id, lease_expires=now_ms() - 5 * MINUTE_MS)

    [result] = reclaim_once(store, make_settings(pop_home))

    assert result.action == "released"
    assert store.queue.contains(agenda_id)
    assert store.progress.lease_of(agenda_id) == (None, None)
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert (progress.processing_state, progress.attempts_completed) == (
        ProcessingState.WAITING,
        0,
    )


def test_a_completion_racing_the_reclaimer_is_never_overwritten(
    store: Store, pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agenda_id = store_agenda(store)
    executing_under_dead_lease(store, agenda_id)
    executor_store = Store.open(store.db.path)  # the executor's own connection
    listed = store.attempts.open_attempts

    def complete_meanwhile(chosen: str) -> list[dict[str, Any]]:
        rows = listed(chosen)
        if store.progress.get(chosen, with_operations=False).processing_state == "EXECUTING":  # type: ignore[union-attr]
            finish(executor_store, chosen, outcome="succeeded")  # after selection, before update
        return rows

    monkeypatch.setattr(store.attempts, "open_attempts", complete_meanwhile)
    try:
        [result] = reclaim_once(store, make_settings(pop_home))
    finally:
        executor_store.close()

    assert result.action == "skipped"
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert progress.succeeded
    assert progress.attempts_completed == 1
    assert progress.diagnostic_events == []
    assert not store.queue.contains(agenda_id)
    assert attempt_outcomes(store, agenda_id) == [(None, "succeeded")]


def test_an_executor_that_renews_before_the_update_keeps_its_agenda(
    store: Store, pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agenda_id = store_agenda(store)
    executing_under_dead_lease(store, agenda_id)
    executor_store = Store.open(store.db.path)
    listed = store.attempts.open_attempts

    def renew_meanwhile(chosen: str) -> list[dict[str, Any]]:
        executor_store.progress.renew_lease(chosen, DEAD_EXECUTOR, 30)
        return listed(chosen)

    monkeypatch.setattr(store.attempts, "open_attempts", renew_meanwhile)
    try:
        [result] = reclaim_once(store, make_settings(pop_home))
    finally:
        executor_store.close()

    assert result.action == "skipped"
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert progress.processing_state == ProcessingState.EXECUTING
    assert store.progress.lease_of(agenda_id)[0] == DEAD_EXECUTOR
    assert attempt_outcomes(store, agenda_id) == [(None, None)]


def test_an_unreachable_runtime_is_reported_and_a_resident_handler_skipped(
    store: Store, pop_home: Path
) -> None:
    agenda_id = store_agenda(store, [sh_op("in_docker"), sh_op("resident")])
    # the run's runtime options name an engine that is not there (whatever DOCKER_HOST says)
    store.agendas.set_launch_settings(
        agenda_id, {"launch": "docker", "runtimeOptions": {"docker_host": "unix:///nonexistent"}}
    )
    executing_under_dead_lease(store, agenda_id)
    op_running(store, agenda_id, "in_docker", {"runtime": "docker", "ref": "c0ffee"})
    op_running(store, agenda_id, "resident", {"runtime": "resident", "ref": "pid:1"})

    [result] = reclaim_once(store, make_settings(pop_home))

    assert result.action == "requeued"
    assert result.stopped == []
    [problem] = result.problems
    assert problem.startswith("in_docker attempt 1: cannot stop docker c0ffee:")
    assert attempt_outcomes(store, agenda_id) == [
        (None, "lost"),
        ("in_docker", "lost"),
        ("resident", "lost"),
    ]


def test_a_second_pass_finds_nothing_left_to_reclaim(store: Store, pop_home: Path) -> None:
    agenda_id = store_agenda(store)
    executing_under_dead_lease(store, agenda_id)
    settings = make_settings(pop_home)

    assert [result.action for result in reclaim_once(store, settings)] == ["requeued"]
    assert reclaim_once(store, settings) == []


def test_pop_reclaim_prints_json_and_rejects_a_bad_duration(
    store: Store, pop_home: Path, run_pop: Any
) -> None:
    agenda_id = store_agenda(store)
    executing_under_dead_lease(store, agenda_id)
    before = store_snapshot(pop_home)

    bad = run_pop("reclaim", "--older-than", "ten minutes")

    assert bad.returncode == 2
    assert bad.stderr.startswith("error: invalid --older-than 'ten minutes'")
    assert store_snapshot(pop_home) == before
    nothing = run_pop("reclaim", "--older-than", "1h")
    assert (nothing.returncode, nothing.stdout) == (0, "nothing to reclaim\n")
    completed = run_pop("reclaim", "--older-than", "5m", "--json")
    assert completed.returncode == 0, completed.stderr
    [result] = json.loads(completed.stdout)
    assert result["agendaId"] == agenda_id
    assert result["action"] == "requeued"
    assert result["leaseOwner"] == DEAD_EXECUTOR
    assert result["attemptsCompleted"] == 1
