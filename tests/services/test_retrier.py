"""The retrier: which failed agendas run again, when, and how often (DESIGN §10; POP-REFERENCE
§11.2; issue 4 item 6 and the acceptance line on retry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pop.models import now_ms
from pop.services.retrier import retry_allowed, retry_delay, retry_once
from pop.store import Store
from tests.conftest import store_snapshot
from tests.services.store_state import (
    MINUTE_MS,
    finish,
    make_settings,
    set_columns,
    store_agenda,
)


@pytest.fixture
def store(pop_home: Path) -> Any:
    with Store.open(make_settings(pop_home).store_path) as opened:
        yield opened


def state_of(store: Store, agenda_id: str) -> tuple[str, str, int]:
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    state = getattr(progress.processing_state, "value", progress.processing_state)
    return str(state), progress.processing_state_message or "", progress.attempts_completed or 0


@pytest.mark.parametrize(
    ("attempts", "maximum", "allowed"),
    [
        (1, 1, False),
        (None, 1, False),
        (3, None, False),
        (None, 2, True),
        (0, 1, True),
        (2, None, True),
        (19, 50, True),
        (20, 50, False),
        (19, 20, True),
        (20, 20, False),
    ],
)
def test_pops_retry_vectors(attempts: int | None, maximum: int | None, allowed: bool) -> None:
    assert retry_allowed(attempts, maximum) is allowed


def test_the_backoff_grows_by_its_factor_up_to_its_cap(pop_home: Path) -> None:
    settings = make_settings(
        pop_home,
        retry_backoff_seconds=30.0,
        retry_backoff_factor=2.0,
        retry_backoff_max_seconds=600.0,
    )
    assert [retry_delay(settings, n) for n in (None, 0, 1, 2, 3, 5, 6, 19)] == [
        30.0,
        30.0,
        30.0,
        60.0,
        120.0,
        480.0,
        600.0,
        600.0,
    ]


def test_an_agenda_that_fails_twice_then_succeeds_ends_succeeded_after_three_attempts(
    run_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    """Real runs: the handler fails until its counter file reaches 3; ``setup`` succeeds once
    and, with continue semantics, is never launched again."""
    counter, side_effects = tmp_path / "counter", tmp_path / "side-effects.txt"
    registry = tmp_path / "registry.yaml"
    registry.write_text('handlers:\n  step: {command: ["sh", "-c"]}\n')
    flaky = (
        f"n=$(cat '{counter}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '{counter}'; "
        f"echo flaky >> '{side_effects}'; test $n -ge 3"
    )
    agenda = {
        "title": "flaky",
        "operations": [
            {
                "name": "setup",
                "type": "step",
                "payload": {"args": [f"echo setup >> '{side_effects}'"]},
            },
            {
                "name": "flaky",
                "type": "step",
                "payload": {"args": [flaky]},
                "params": {"dependsOn": "setup"},
            },
        ],
    }
    agenda_file = tmp_path / "flaky.json"
    agenda_file.write_text(json.dumps(agenda))

    first = run_pop("run-local", str(agenda_file), "--registry", str(registry), "--json")

    assert first.returncode == 1, first.stderr
    agenda_id = json.loads(first.stdout)["agendaId"]
    settings = make_settings(pop_home)
    with Store.open(settings.store_path) as store:
        for _ in range(5):
            if state_of(store, agenda_id)[1] == "succeeded":
                break
            [retried] = retry_once(store, settings)
            assert (retried.agenda_id, retried.action) == (agenda_id, "requeued")
            assert store.queue.contains(agenda_id)
            again = run_pop("run-local", "--resume", agenda_id, "--registry", str(registry))
            assert again.returncode in (0, 1), again.stderr
        assert state_of(store, agenda_id) == ("COMPLETE", "succeeded", 3)
        assert retry_once(store, settings) == []
        outcomes = [
            row["outcome"] for row in store.attempts.list(agenda_id) if row["operation"] is None
        ]
    assert outcomes == ["failed", "failed", "succeeded"]
    assert counter.read_text().strip() == "3"
    assert side_effects.read_text().split() == ["setup", "flaky", "flaky", "flaky"]


def test_a_failure_waits_for_its_backoff_measured_from_completion(
    store: Store, pop_home: Path
) -> None:
    settings = make_settings(
        pop_home, retry_backoff_seconds=30.0, retry_backoff_factor=2.0, retry_backoff_max_seconds=45
    )
    agenda_id = store_agenda(store)
    completed = now_ms() - MINUTE_MS
    finish(store, agenda_id, outcome="failed", completed_time=completed)

    [waiting] = retry_once(store, settings, now=completed + 29_000)

    assert (waiting.action, waiting.retry_time) == ("waiting", completed + 30_000)
    assert state_of(store, agenda_id) == ("COMPLETE", "failed", 1)
    [retried] = retry_once(store, settings, now=completed + 30_000)
    assert retried.action == "requeued"
    assert retried.message == "attempt 2 of 3 after failed"
    assert state_of(store, agenda_id) == ("WAITING", "pending", 1)

    finish(store, agenda_id, outcome="timeout", completed_time=completed)  # second failure
    [waiting] = retry_once(store, settings, now=completed + 44_000)
    assert (waiting.action, waiting.retry_time) == ("waiting", completed + 45_000)  # 60 s capped


@pytest.mark.parametrize("outcome", ["failed", "timeout", "lost"])
def test_retryable_failures_are_rerun_and_queued_on_their_insight(
    store: Store, pop_home: Path, outcome: str
) -> None:
    agenda_id = store_agenda(store)
    finish(store, agenda_id, outcome=outcome)

    [retried] = retry_once(store, make_settings(pop_home))

    assert (retried.action, retried.last_outcome) == ("requeued", outcome)
    assert state_of(store, agenda_id) == ("WAITING", "pending", 1)
    assert store.queue.contains(agenda_id)
    assert [(c.action, c.actor) for c in store.changes.of("agenda", agenda_id)] == [
        ("retry", "pop:retrier")
    ]


@pytest.mark.parametrize("outcome", ["cancelled", "permanent", "succeeded"])
def test_cancelled_permanent_and_succeeded_agendas_are_not_retried(
    store: Store, pop_home: Path, outcome: str
) -> None:
    agenda_id = store_agenda(store)
    finish(store, agenda_id, outcome=outcome)
    before = store_snapshot(pop_home)

    assert retry_once(store, make_settings(pop_home)) == []
    assert store_snapshot(pop_home) == before


def test_maximum_attempts_one_is_not_retried(store: Store, pop_home: Path) -> None:
    agenda_id = store_agenda(store, params={"maximumAttempts": 1})
    finish(store, agenda_id, outcome="failed")

    assert retry_once(store, make_settings(pop_home)) == []
    assert state_of(store, agenda_id) == ("COMPLETE", "failed", 1)


def test_the_cap_of_twenty_attempts_holds_whatever_maximum_attempts_says(
    store: Store, pop_home: Path
) -> None:
    settings = make_settings(pop_home)
    agenda_id = store_agenda(store, params={"maximumAttempts": 50})
    set_columns(store, agenda_id, maximum_attempts=50)  # even past the cap applied at submit
    retries = 0
    for _ in range(30):
        finish(store, agenda_id, outcome="failed")
        results = retry_once(store, settings)
        if not results:
            break
        assert [result.action for result in results] == ["requeued"]
        retries += 1
    assert retries == 19
    assert state_of(store, agenda_id) == ("COMPLETE", "failed", 20)


def test_an_agenda_cancelled_while_waiting_is_not_retried(
    run_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(
        json.dumps({"title": "t", "operations": [{"name": "a", "type": "noop", "payload": {}}]})
    )
    submitted = run_pop("submit", str(agenda_file), "--json")
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    cancelled = run_pop("cancel", agenda_id)
    assert cancelled.returncode == 0, cancelled.stderr

    with Store.open(make_settings(pop_home).store_path) as store:
        assert state_of(store, agenda_id)[:2] == ("COMPLETE", "failed")
        assert retry_once(store, make_settings(pop_home)) == []


def test_a_permanent_error_is_not_retried(run_pop: Any, pop_home: Path, tmp_path: Path) -> None:
    """The sample handler raises PermanentError for an action it does not know."""
    agenda_file = tmp_path / "agenda.json"
    operation = {"name": "a", "type": "sample", "payload": {"actions": [{"action": "bogus"}]}}
    agenda_file.write_text(json.dumps({"title": "t", "operations": [operation]}))

    completed = run_pop("run-local", str(agenda_file), "--json")

    assert completed.returncode == 1, completed.stderr
    progress = json.loads(completed.stdout)
    assert "Invalid action specified: bogus" in json.dumps(progress["operationProgress"])
    with Store.open(make_settings(pop_home).store_path) as store:
        agenda_rows = [
            row for row in store.attempts.list(progress["agendaId"]) if row["operation"] is None
        ]
        assert [row["outcome"] for row in agenda_rows] == ["permanent"]
        assert retry_once(store, make_settings(pop_home)) == []


def test_a_do_not_run_agenda_is_reset_but_not_queued(store: Store, pop_home: Path) -> None:
    agenda_id = store_agenda(store, params={"doNotRun": False})
    finish(store, agenda_id, outcome="failed")

    [result] = retry_once(store, make_settings(pop_home))

    assert result.action == "reset"
    assert state_of(store, agenda_id) == ("WAITING", "pending", 1)
    assert not store.queue.contains(agenda_id)


def test_pop_retry_prints_json(store: Store, pop_home: Path, run_pop: Any) -> None:
    agenda_id = store_agenda(store)
    finish(store, agenda_id, outcome="failed")

    completed = run_pop("retry", "--json", env={"POP_RETRY_BACKOFF": "1h"})

    assert completed.returncode == 0, completed.stderr
    [result] = json.loads(completed.stdout)
    assert (result["agendaId"], result["action"], result["lastOutcome"]) == (
        agenda_id,
        "waiting",
        "failed",
    )
    human = run_pop("retry", env={"POP_RETRY_BACKOFF": "0"})
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith(f"requeued  {agenda_id}  attempt 2 of 3 after failed")
    assert run_pop("retry").stdout == "nothing to retry\n"
