"""The selection algorithms as pure functions (POP §10.3, §10.4 and pop's priority with aging):
FIFO, round robin with the customers still owed, priority with a starvation bound, and splitting a
claim over insights."""

from __future__ import annotations

import math
import random

import pytest

from pop.scheduling.selection import (
    by_priority,
    canonical_algorithm,
    effective_priority,
    first_in_first_out,
    interleave,
    overtaking_window_seconds,
    round_robin,
    share_out,
)
from pop.store.queue import QueuedRow
from tests.scheduling.helpers import row

# -- FIFO -------------------------------------------------------------------------------------


def test_fifo_with_nothing_queued_hands_out_nothing() -> None:
    assert first_in_first_out([], 5) == []


def test_fifo_hands_out_the_oldest_first_and_orders_before_limiting() -> None:
    rows = [
        row(f"a{index}", added=added) for index, added in enumerate([9, 3, 7, 1, 5, 8, 2, 6, 4, 0])
    ]

    chosen = first_in_first_out(rows, 5)

    assert [item.added for item in chosen] == [0, 1, 2, 3, 4]


# -- round robin ------------------------------------------------------------------------------


def one_each(*customers: str) -> list[QueuedRow]:
    return [row(f"{customer}-1", customer, added=index) for index, customer in enumerate(customers)]


def test_round_robin_serves_one_per_customer_and_remembers_who_is_still_owed() -> None:
    rows = one_each("A", "B", "C")

    first = round_robin(rows, 2, pending=["A", "B", "C"])
    left = [item for item in rows if item not in first.selected]
    second = round_robin(left, 2, pending=first.pending, customers=["A", "B", "C"])

    assert [item.customer_id for item in first.selected] == ["A", "B"]
    assert first.pending == ["C"]
    assert [item.customer_id for item in second.selected] == ["C"]


def test_round_robin_pops_vector_fills_19_and_keeps_the_idle_customer_owed() -> None:
    counts = {"A": 6, "B": 4, "C": 9}
    rows = [
        row(f"{customer}-{index}", customer, added=index)
        for customer, count in counts.items()
        for index in range(count)
    ]

    result = round_robin(rows, 19, pending=["D"], customers=["A", "B", "C", "D"])

    assert sorted(item.agenda_id for item in result.selected) == sorted(i.agenda_id for i in rows)
    assert "D" in result.pending


def test_round_robin_with_nobody_to_serve_hands_out_nothing() -> None:
    assert round_robin([], 3).selected == []
    assert round_robin(one_each("A"), 0, pending=["A"]).pending == ["A"]


def test_round_robin_gives_a_light_customer_its_turns_before_a_heavy_backlog() -> None:
    heavy = [row(f"A-{index}", "A", added=index) for index in range(100)]
    light = [row(f"B-{index}", "B", added=100 + index) for index in range(5)]

    chosen = round_robin(heavy + light, 10).selected

    assert [item.customer_id for item in chosen] == ["A", "B"] * 5


def test_round_robin_serves_each_customer_oldest_first() -> None:
    rows = [row("A-late", "A", added=9), row("A-early", "A", added=1), row("B", "B", added=5)]

    chosen = round_robin(rows, 3).selected

    assert [item.agenda_id for item in chosen] == ["A-early", "B", "A-late"]


# -- priority ---------------------------------------------------------------------------------


def test_priority_hands_out_the_highest_priority_first_then_the_oldest() -> None:
    rows = [row("old-low", priority=0, added=0), row("new-high", priority=10, added=50)]
    rows += [row(f"mid-{index}", priority=5, added=index) for index in range(1, 4)]

    chosen = by_priority(rows, 5, now=60, aging_seconds=math.inf)

    assert [item.agenda_id for item in chosen] == ["new-high", "mid-1", "mid-2", "mid-3", "old-low"]


def test_waiting_one_aging_period_is_worth_one_priority_step() -> None:
    waited = row("waited", priority=2, added=0)

    assert effective_priority(waited, now=59_999, aging_seconds=60) == 2
    assert effective_priority(waited, now=60_000, aging_seconds=60) == 3
    assert effective_priority(waited, now=600_000, aging_seconds=60) == 12


def test_an_aged_low_priority_overtakes_fresh_higher_priority_work() -> None:
    aged = row("aged", priority=0, added=0)
    fresh = row("fresh", priority=5, added=360_000)

    assert by_priority([fresh, aged], 1, now=360_000, aging_seconds=60) == [aged]


def simulate_stream(
    *,
    aging_seconds: float,
    stream_priorities: list[int],
    backlog: int,
    per_second: int,
    seconds: int = 2_000,
) -> int | None:
    """A priority-0 agenda queued at t=0 behind ``backlog`` older agendas, while every second
    ``per_second`` new agendas (priorities cycling through ``stream_priorities``) arrive and one
    agenda is handed out. Returns the hand-out that served it (1-based), None if it was not served
    within ``seconds`` hand-outs."""
    queued = [
        row(f"before-{index}", priority=max(stream_priorities), added=-index - 1)
        for index in range(backlog)
    ]
    queued.append(row("starving", priority=0, added=0))
    cycle = 0
    for second in range(1, seconds + 1):
        now = second * 1000
        for _ in range(per_second):
            priority = stream_priorities[cycle % len(stream_priorities)]
            queued.append(row(f"stream-{cycle}", priority=priority, added=now))
            cycle += 1
        (served,) = by_priority(queued, 1, now=now, aging_seconds=aging_seconds)
        queued.remove(served)
        if served.agenda_id == "starving":
            return second
    return None


@pytest.mark.parametrize(
    ("aging_seconds", "stream_priorities", "per_second"),
    [(60, [5], 2), (10, [5], 3), (30, [3, 9], 2)],
)
def test_a_low_priority_behind_a_steady_stream_is_served_within_the_stated_bound(
    aging_seconds: float, stream_priorities: list[int], per_second: int
) -> None:
    backlog = 10
    window = overtaking_window_seconds(0, max(stream_priorities), aging_seconds)
    # Only agendas queued before it or within the window after it can be handed out first.
    bound = backlog + per_second * window + 1

    served_at = simulate_stream(
        aging_seconds=aging_seconds,
        stream_priorities=stream_priorities,
        backlog=backlog,
        per_second=per_second,
    )

    assert served_at is not None
    assert served_at <= bound


def test_without_aging_the_same_stream_starves_the_low_priority() -> None:
    bound = 10 + 2 * overtaking_window_seconds(0, 5, 60) + 1

    served_at = simulate_stream(
        aging_seconds=math.inf,
        stream_priorities=[5],
        backlog=10,
        per_second=2,
        seconds=int(2 * bound),
    )

    assert served_at is None


def test_priority_orders_every_candidate_before_cutting_at_the_limit() -> None:
    generator = random.Random(4)
    rows = [
        row(f"r{index}", priority=generator.randrange(4), added=generator.randrange(10_000))
        for index in range(200)
    ]

    chosen = by_priority(rows, 7, now=20_000, aging_seconds=5)

    everything = by_priority(rows, len(rows), now=20_000, aging_seconds=5)
    assert chosen == everything[:7]


def test_aging_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        by_priority([row("a")], 1, now=0, aging_seconds=0)


# -- algorithms and insights ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("FirstInFirstOut", "FirstInFirstOut"),
        ("roundrobin", "RoundRobin"),
        ("PRIORITY", "Priority"),
        ("Fifo", None),
    ],
)
def test_algorithm_names_are_recognised_in_any_case(given: str, expected: str | None) -> None:
    assert canonical_algorithm(given) == expected


@pytest.mark.parametrize(
    ("limit", "available", "expected"),
    [
        (5, [("a", 1), ("b", 9)], {"a": 1, "b": 4}),
        (4, [("a", 9), ("b", 9)], {"a": 2, "b": 2}),
        (3, [("a", 9), ("b", 9)], {"a": 2, "b": 1}),
        (10, [("a", 2), ("b", 0), ("c", 1)], {"a": 2, "b": 0, "c": 1}),
        (1, [("a", 0), ("b", 5)], {"a": 0, "b": 1}),
    ],
)
def test_a_claim_is_shared_out_over_insights_one_at_a_time(
    limit: int, available: list[tuple[str, int]], expected: dict[str, int]
) -> None:
    assert share_out(limit, available) == expected


def test_hand_out_order_interleaves_the_insights() -> None:
    assert interleave([["a1", "a2", "a3"], ["b1"], ["c1", "c2"]]) == [
        "a1",
        "b1",
        "c1",
        "a2",
        "c2",
        "a3",
    ]
