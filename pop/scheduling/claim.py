"""Handing queued agendas out to an executor: one atomic claim over every insight.

Layer: scheduling. Called by the executor daemon (``pop executor``) and by tests and benchmarks.

:func:`claim_next` runs in one ``BEGIN IMMEDIATE`` transaction, so two executors (threads or
processes) never get the same agenda. Per insight (those asked for, or every insight with queued
agendas, ``default`` included; the least recently served first) it works out the capacity
(``queueSize`` minus the insight's agendas handed out and not finished, i.e. EXECUTING;
unbounded without ``queueSize``), splits ``limit`` over the insights one at a time, selects with
the insight's algorithm (:mod:`pop.scheduling.selection`), and for each selected agenda takes its
lease, removes it from the ready queue and sets its progress EXECUTING/``claimed``, and records
the hand-out (``handouts``: insight, customer, agenda, time; rows older than
:data:`HANDOUTS_KEPT_MS` are deleted by the same claim).
"""

from __future__ import annotations

from collections.abc import Sequence

from pop.models import Insight, now_ms
from pop.scheduling.selection import (
    DEFAULT_AGING_SECONDS,
    PRIORITY,
    ROUND_ROBIN,
    by_priority,
    canonical_algorithm,
    interleave,
    round_robin_from,
    share_out,
)
from pop.store import Store
from pop.store.queue import QueuedRow

CLAIMED_MESSAGE = "claimed"
HANDOUTS_KEPT_MS = 24 * 3600 * 1000  # how long a hand-out record is kept


def _capacity(store: Store, insight: Insight | None, limit: int) -> int:
    if insight is None or insight.queue_size is None:
        return limit
    return min(limit, insight.queue_size - store.queue.handed_out(insight.id or ""))


def _round_robin(
    store: Store, insight_id: str, insight: Insight | None, requested: int
) -> tuple[list[QueuedRow], list[str]]:
    cached: dict[str, list[QueuedRow]] = {}

    def next_row(customer: str) -> QueuedRow | None:
        if customer not in cached:
            rows = store.queue.oldest(insight_id, requested, customer_id=customer)
            cached[customer] = rows[::-1]
        rows = cached[customer]
        return rows.pop() if rows else None

    def all_customers() -> list[str]:
        pool_customers = (
            store.facility.customers.ids_in_pool(insight.resource_pool_id)
            if insight is not None and insight.resource_pool_id
            else []
        )
        queued = store.queue.queued_customers(insight_id)
        return list(dict.fromkeys([*pool_customers, *queued]))

    result = round_robin_from(
        next_row,
        requested,
        pending=store.queue.schedule(insight_id),
        all_customers=all_customers,
    )
    return result.selected, result.pending


def _select(
    store: Store,
    insight_id: str,
    insight: Insight | None,
    requested: int,
    *,
    now: int,
    aging_seconds: float,
) -> tuple[list[QueuedRow], list[str] | None]:
    """The rows to hand out, and for round robin the customers it still owes afterwards."""
    algorithm = canonical_algorithm((insight.scheduling_algorithm if insight else None) or "")
    if algorithm == ROUND_ROBIN:
        return _round_robin(store, insight_id, insight, requested)
    if algorithm == PRIORITY:
        candidates = [
            row
            for priority in store.queue.priorities(insight_id)
            for row in store.queue.oldest_of_priority(insight_id, priority, requested)
        ]
        return by_priority(candidates, requested, now=now, aging_seconds=aging_seconds), None
    return store.queue.oldest(insight_id, requested), None  # FirstInFirstOut, the default


def claim_next(
    store: Store,
    *,
    owner: str,
    lease_seconds: float,
    limit: int,
    insight_ids: Sequence[str] | None = None,
    now: int | None = None,
    aging_seconds: float = DEFAULT_AGING_SECONDS,
) -> list[str]:
    """Claim up to ``limit`` queued agendas for ``owner`` and return their ids in hand-out order.

    Each claimed agenda holds ``owner``'s lease for ``lease_seconds`` and is EXECUTING/``claimed``
    when this returns. ``now`` (epoch ms, default the clock) is the time priority aging is
    measured at; ``aging_seconds`` is one priority step's worth of waiting."""
    if limit <= 0:
        return []
    with store.transaction():
        now = now_ms() if now is None else now
        wanted = store.queue.insights_with_work() if insight_ids is None else insight_ids
        last_served = store.queue.last_served()
        order = sorted(dict.fromkeys(wanted), key=lambda name: (last_served.get(name, 0), name))
        definitions = {name: store.facility.insights.find(name) for name in order}
        available = []
        for name in order:
            capacity = _capacity(store, definitions[name], limit)
            available.append((name, store.queue.count_up_to(name, capacity)))
        store.queue.prune_handouts(now - HANDOUTS_KEPT_MS)
        shares = share_out(limit, available)
        served_at = max([now, *(value + 1 for value in last_served.values())])
        handed: list[list[str]] = []
        for name in order:
            if not shares[name]:
                continue
            selected, pending = _select(
                store, name, definitions[name], shares[name], now=now, aging_seconds=aging_seconds
            )
            handed.append(
                _hand_out(store, name, selected, owner=owner, lease_seconds=lease_seconds, now=now)
            )
            store.queue.save_schedule(name, last_executed=served_at, pending=pending)
            served_at += 1
        return interleave(handed)


def _hand_out(
    store: Store,
    insight_id: str,
    rows: Sequence[QueuedRow],
    *,
    owner: str,
    lease_seconds: float,
    now: int,
) -> list[str]:
    """Lease, dequeue, mark and record each selected agenda. One whose lease another live
    executor holds stays queued until that lease lapses; a stale row of a COMPLETE agenda is
    dropped."""
    claimed: list[QueuedRow] = []
    for row in rows:
        if not store.progress.take_lease(row.agenda_id, owner, lease_seconds):
            continue
        store.queue.remove(row.agenda_id)
        if store.queue.mark_claimed(row.agenda_id):
            claimed.append(row)
        else:
            store.progress.release_lease(row.agenda_id, owner)
    store.queue.record_handouts(insight_id, claimed, handed_time=now)
    return [row.agenda_id for row in claimed]
