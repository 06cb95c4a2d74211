"""``claim_next`` on a real store: what each algorithm hands out, queue sizes, fairness over
insights, and the atomic claim (two processes never get the same agenda)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pop.models import ProcessingState
from pop.scheduling.claim import claim_next
from pop.store import Store
from tests.scheduling.helpers import T0, customer_of, facility, queue_agenda


@pytest.fixture
def store(pop_home: Path) -> Iterator[Store]:
    opened = Store.open(pop_home / "pop.db")
    yield opened
    opened.close()


def claim(store: Store, limit: int, **options: object) -> list[str]:
    return claim_next(store, owner="executor-1", lease_seconds=30, limit=limit, **options)  # type: ignore[arg-type]


def insight_with(store: Store, algorithm: str, **fields: object) -> str:
    """A pool ``P`` with customers A to D and one insight ``I`` using ``algorithm``."""
    facility(
        store,
        pools=["P"],
        customers={name: "P" for name in "ABCD"},
        insights=[
            {
                "id": "I",
                "resourcePoolId": "P",
                "schedulingAlgorithm": algorithm,
                "mappers": {"operationType": ["sample"]},
                **fields,
            }
        ],
    )
    return "I"


# -- what a claim does ------------------------------------------------------------------------


def test_a_claimed_agenda_leaves_the_queue_holds_the_lease_and_is_executing(store: Store) -> None:
    agenda_id = queue_agenda(store)

    assert claim(store, 5) == [agenda_id]

    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    assert progress.processing_state == ProcessingState.EXECUTING
    assert progress.processing_state_message == "claimed"
    assert store.progress.lease_of(agenda_id)[0] == "executor-1"
    assert not store.queue.contains(agenda_id)
    assert claim(store, 5) == []


def test_an_agenda_leased_by_another_live_executor_stays_queued(store: Store) -> None:
    held = queue_agenda(store, added=T0)
    free = queue_agenda(store, added=T0 + 1)
    assert store.progress.take_lease(held, "someone-else", 30)

    assert claim(store, 5) == [free]
    assert store.queue.contains(held)


def test_a_limit_of_zero_claims_nothing(store: Store) -> None:
    queue_agenda(store)

    assert claim(store, 0) == []
    assert store.queue.size() == 1


# -- FIFO -------------------------------------------------------------------------------------


def test_fifo_hands_out_the_oldest_agendas_first(store: Store) -> None:
    ids = {added: queue_agenda(store, added=T0 + added) for added in (5, 1, 4, 2, 3)}

    assert claim(store, 3) == [ids[1], ids[2], ids[3]]
    assert claim(store, 3) == [ids[4], ids[5]]


def test_fifo_serves_a_late_light_customer_only_after_the_heavy_backlog(store: Store) -> None:
    insight = insight_with(store, "FirstInFirstOut")
    for index in range(100):
        queue_agenda(store, customer="A", insight=insight, added=T0 + index)
    for index in range(5):
        queue_agenda(store, customer="B", insight=insight, added=T0 + 100 + index)

    order = [customer_of(store, agenda_id) for _ in range(105) for agenda_id in claim(store, 1)]

    assert order == ["A"] * 100 + ["B"] * 5


# -- round robin ------------------------------------------------------------------------------


def test_round_robin_one_agenda_each_request_two_then_two_again(store: Store) -> None:
    insight = insight_with(store, "RoundRobin")
    for index, customer in enumerate("ABC"):
        queue_agenda(store, customer=customer, insight=insight, added=T0 + index)

    first = [customer_of(store, agenda_id) for agenda_id in claim(store, 2)]
    second = [customer_of(store, agenda_id) for agenda_id in claim(store, 2)]

    assert (first, second) == (["A", "B"], ["C"])


def test_round_robin_pops_vector_through_the_store(store: Store) -> None:
    insight = insight_with(store, "RoundRobin")
    counts = {"A": 6, "B": 4, "C": 9}
    for customer, count in counts.items():
        for index in range(count):
            queue_agenda(store, customer=customer, insight=insight, added=T0 + index)
    with store.transaction():
        store.queue.save_schedule(insight, last_executed=0, pending=["D"])

    claimed = claim(store, 19)

    assert len(set(claimed)) == 19
    assert store.queue.size() == 0
    assert "D" in store.queue.schedule(insight)


def test_round_robin_hands_out_a_light_customer_within_the_first_ten(store: Store) -> None:
    insight = insight_with(store, "RoundRobin")
    for index in range(100):
        queue_agenda(store, customer="A", insight=insight, added=T0 + index)
    light = {
        queue_agenda(store, customer="B", insight=insight, added=T0 + 100 + index)
        for index in range(5)
    }

    first_ten = [agenda_id for _ in range(10) for agenda_id in claim(store, 1)]

    assert light <= set(first_ten)


def test_the_default_insight_is_fifo_whatever_the_customers(store: Store) -> None:
    for index in range(4):
        queue_agenda(store, customer="heavy", added=T0 + index)
    queue_agenda(store, customer="light", added=T0 + 10)

    assert [customer_of(store, agenda_id) for agenda_id in claim(store, 5)] == [
        "heavy",
        "heavy",
        "heavy",
        "heavy",
        "light",
    ]


# -- priority ---------------------------------------------------------------------------------


def test_a_high_priority_agenda_submitted_last_is_handed_out_next(store: Store) -> None:
    insight = insight_with(store, "Priority")
    for index in range(50):
        queue_agenda(store, customer="A", insight=insight, priority=index % 6, added=T0 + index)
    urgent = queue_agenda(store, customer="B", insight=insight, priority=10, added=T0 + 50)

    assert claim(store, 1, now=T0 + 51) == [urgent]


def test_priority_ages_a_waiting_agenda_past_fresh_higher_priority_work(store: Store) -> None:
    insight = insight_with(store, "Priority")
    aged = queue_agenda(store, insight=insight, customer="A", priority=0, added=T0)
    fresh = [
        queue_agenda(store, insight=insight, customer="B", priority=5, added=T0 + 300_000 + index)
        for index in range(3)
    ]

    assert claim(store, 1, now=T0 + 300_010, aging_seconds=120) == [fresh[0]]
    assert claim(store, 1, now=T0 + 300_010, aging_seconds=60) == [aged]


# -- queue size and several insights ----------------------------------------------------------


def test_queue_size_bounds_the_agendas_handed_out_and_not_finished(store: Store) -> None:
    insight = insight_with(store, "FirstInFirstOut", queueSize=2)
    for index in range(5):
        queue_agenda(store, customer="A", insight=insight, added=T0 + index)

    first = claim(store, 10)
    assert len(first) == 2
    assert claim(store, 10) == []

    progress = store.progress.get(first[0], with_operations=False)
    assert progress is not None
    with store.transaction():
        store.progress.update_agenda(progress.id or "", state=ProcessingState.COMPLETE)
    assert len(claim(store, 10)) == 1


def test_a_claim_is_shared_fairly_over_insights_and_across_calls(store: Store) -> None:
    facility(
        store,
        pools=["P"],
        customers={"A": "P"},
        insights=[
            {"id": "one", "resourcePoolId": "P", "mappers": {"operationType": ["x"]}},
            {"id": "two", "resourcePoolId": "P", "mappers": {"operationType": ["y"]}},
        ],
    )
    for index in range(6):
        queue_agenda(store, customer="A", insight="one", added=T0 + index)
        queue_agenda(store, customer="A", insight="two", added=T0 + index)

    both = claim(store, 4)
    singles = [agenda_id for _ in range(4) for agenda_id in claim(store, 1)]

    def insight_of(agenda_id: str) -> str:
        insight = store.agendas.get(agenda_id).agenda_insight
        return insight.insight_id or "" if insight else ""

    assert sorted(insight_of(agenda_id) for agenda_id in both) == ["one", "one", "two", "two"]
    assert sorted(insight_of(agenda_id) for agenda_id in singles) == ["one", "one", "two", "two"]


def test_only_the_insights_asked_for_are_claimed_from(store: Store) -> None:
    insight = insight_with(store, "FirstInFirstOut")
    default = queue_agenda(store, added=T0)
    mine = queue_agenda(store, customer="A", insight=insight, added=T0 + 1)

    assert claim(store, 5, insight_ids=[insight]) == [mine]
    assert claim(store, 5, insight_ids=["default"]) == [default]


# -- two processes ----------------------------------------------------------------------------

CLAIMER = textwrap.dedent(
    """
    import json, os, random, sys, time
    from pathlib import Path
    from pop.scheduling.claim import claim_next
    from pop.store import Store

    store = Store.open(Path(sys.argv[1]))
    owner, go, other = sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    Path(f"{go}.{owner}").touch()  # ready
    while not go.exists():
        time.sleep(0.005)
    claimed, empty = [], 0
    while empty < 3:
        batch = claim_next(store, owner=owner, lease_seconds=60, limit=random.randint(1, 4))
        claimed.extend(batch)
        empty = 0 if batch else empty + 1
        if batch and len(claimed) == len(batch):
            # after a first claim, wait for the other's first claim: on a busy machine one
            # process could otherwise empty the queue before the other one got going
            Path(f"{go}.{owner}.claimed").touch()
            deadline = time.monotonic() + 60
            while not Path(f"{go}.{other}.claimed").exists() and time.monotonic() < deadline:
                time.sleep(0.005)
        time.sleep(0.002)  # an executor does some work between claims
    print(json.dumps(claimed))
    """
)


def test_two_processes_claiming_at_once_never_get_the_same_agenda(
    store: Store, pop_home: Path, tmp_path: Path, wait_for: Callable[..., object]
) -> None:
    facility(
        store,
        pools=["P"],
        customers={"A": "P", "B": "P", "C": "P"},
        insights=[
            {"id": "rr", "resourcePoolId": "P", "schedulingAlgorithm": "RoundRobin",
             "mappers": {"operationType": ["x"]}},
            {"id": "prio", "resourcePoolId": "P", "schedulingAlgorithm": "Priority",
             "mappers": {"operationType": ["y"]}},
        ],
    )  # fmt: skip
    queued = set()
    for index in range(200):
        insight = ("rr", "prio", "default")[index % 3]
        customer = "ABC"[index % 3]
        queued.add(
            queue_agenda(
                store, customer=customer, insight=insight, priority=index % 4, added=T0 + index
            )
        )
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER, encoding="utf-8")
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(pop_home / "pop.db"),
                f"worker-{number}",
                str(go),
                f"worker-{3 - number}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for number in (1, 2)
    ]
    for number in (1, 2):
        wait_for(lambda n=number: Path(f"{go}.worker-{n}").exists(), timeout=60)
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out))

    everything = results[0] + results[1]
    assert len(everything) == len(set(everything)) == 200
    assert set(everything) == queued
    assert all(results), "both workers should have claimed some agendas"
    for number, claimed in enumerate(results, start=1):
        for agenda_id in claimed:
            assert store.progress.lease_of(agenda_id)[0] == f"worker-{number}"
