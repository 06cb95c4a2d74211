"""Which queued agendas an insight hands out next: FIFO, round robin and priority with aging.

Layer: scheduling. Pure functions over :class:`~pop.store.queue.QueuedRow` lists, called by
:mod:`pop.scheduling.claim` (which reads the candidates from the store) and table-tested directly.
Each orders all candidates first and only then cuts at ``requested`` ("order before limit").

- ``FirstInFirstOut``: oldest ``added`` first.
- ``RoundRobin`` (POP §10.4): one agenda per customer per round. The customers still owed are
  remembered between calls (``pending``): pass 1 serves the pending customers in order; when that
  fills the request, the served ones leave ``pending``; otherwise pass 2 goes round every customer
  until the request is filled or nobody has work, and ``pending`` becomes everyone not served in
  pass 2.
- ``Priority``: highest effective priority first, then oldest. The effective priority of a row is
  ``priority + floor(wait / aging_seconds)``: every ``aging_seconds`` of waiting is worth one
  priority step, so a low priority is never starved (see :func:`overtaking_window_seconds`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pop.store.queue import QueuedRow

FIRST_IN_FIRST_OUT = "FirstInFirstOut"
ROUND_ROBIN = "RoundRobin"
PRIORITY = "Priority"
ALGORITHMS = (FIRST_IN_FIRST_OUT, ROUND_ROBIN, PRIORITY)
DEFAULT_AGING_SECONDS = 60.0
_CANONICAL = {name.lower(): name for name in ALGORITHMS}


def canonical_algorithm(name: str) -> str | None:
    """The algorithm's exact name for any spelling (``roundrobin`` → ``RoundRobin``); None if
    unknown."""
    return _CANONICAL.get(name.lower())


def _age_order(row: QueuedRow) -> tuple[int, str]:
    return row.added, row.agenda_id


def first_in_first_out(rows: Iterable[QueuedRow], requested: int) -> list[QueuedRow]:
    """The ``requested`` oldest rows, oldest first."""
    return sorted(rows, key=_age_order)[: max(0, requested)]


def effective_priority(row: QueuedRow, *, now: int, aging_seconds: float) -> int:
    """``priority + floor(wait / aging_seconds)``, the wait being ``now - added`` (epoch ms)."""
    if math.isinf(aging_seconds):
        return row.priority
    waited_ms = max(0, now - row.added)
    return row.priority + int(waited_ms // (aging_seconds * 1000))


def by_priority(
    rows: Iterable[QueuedRow],
    requested: int,
    *,
    now: int,
    aging_seconds: float = DEFAULT_AGING_SECONDS,
) -> list[QueuedRow]:
    """The ``requested`` rows of highest effective priority, oldest first among equals."""
    if aging_seconds <= 0:
        raise ValueError("aging_seconds must be positive")
    return sorted(
        rows,
        key=lambda row: (
            (-effective_priority(row, now=now, aging_seconds=aging_seconds), *_age_order(row))
        ),
    )[: max(0, requested)]


def overtaking_window_seconds(
    priority: int, highest_priority: int, aging_seconds: float = DEFAULT_AGING_SECONDS
) -> float:
    """How long after an agenda of ``priority`` was queued others can still overtake it.

    A row queued later overtakes it only while ``its priority - priority`` exceeds the number of
    whole aging periods between the two arrivals, so only rows queued before it or less than
    ``(highest_priority - priority) * aging_seconds`` after it are ever handed out before it."""
    return max(0, highest_priority - priority) * aging_seconds


@dataclass(frozen=True)
class RoundRobinResult:
    """The rows handed out, in order, and the customers still owed afterwards."""

    selected: list[QueuedRow]
    pending: list[str]


def round_robin_from(
    next_row: Callable[[str], QueuedRow | None],
    requested: int,
    *,
    pending: Sequence[str],
    all_customers: Callable[[], Sequence[str]],
) -> RoundRobinResult:
    """POP's round robin over a source of rows: ``next_row(customer)`` takes that customer's
    oldest remaining row (None when it has none left); ``all_customers()`` is asked at most once."""
    if requested <= 0:
        return RoundRobinResult([], list(pending))
    full_set = not pending
    owed = list(pending) if pending else list(all_customers())
    taken: list[QueuedRow] = []
    served_first: set[str] = set()
    for customer in owed:
        if len(taken) >= requested:
            break
        row = next_row(customer)
        if row is not None:
            taken.append(row)
            served_first.add(customer)
    if len(taken) >= requested:
        return RoundRobinResult(taken, [item for item in owed if item not in served_first])
    everyone = owed if full_set else list(all_customers())
    served_second: set[str] = set()
    while len(taken) < requested:
        progressed = False
        for customer in everyone:
            if len(taken) >= requested:
                break
            row = next_row(customer)
            if row is not None:
                taken.append(row)
                served_second.add(customer)
                progressed = True
        if not progressed:
            break
    return RoundRobinResult(taken, [item for item in everyone if item not in served_second])


def round_robin(
    rows: Iterable[QueuedRow],
    requested: int,
    *,
    pending: Sequence[str] = (),
    customers: Sequence[str] | None = None,
) -> RoundRobinResult:
    """Round robin over a list of rows; ``customers`` (default: those with rows, sorted) is the
    full set of customers, which may include customers without work."""
    queues: dict[str, list[QueuedRow]] = {}
    for row in sorted(rows, key=_age_order, reverse=True):
        queues.setdefault(row.customer_id, []).append(row)

    def next_row(customer: str) -> QueuedRow | None:
        queue = queues.get(customer)
        return queue.pop() if queue else None

    return round_robin_from(
        next_row,
        requested,
        pending=pending,
        all_customers=lambda: list(customers) if customers is not None else sorted(queues),
    )


def share_out(limit: int, available: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Split ``limit`` hand-outs over insights one at a time in the given order, each taking no
    more than it has available: ``share_out(5, [("a", 1), ("b", 9)]) == {"a": 1, "b": 4}``."""
    shares = {name: 0 for name, _ in available}
    remaining = limit
    while remaining > 0:
        progressed = False
        for name, count in available:
            if remaining <= 0:
                break
            if shares[name] < count:
                shares[name] += 1
                remaining -= 1
                progressed = True
        if not progressed:
            break
    return shares


def interleave(groups: Sequence[Sequence[str]]) -> list[str]:
    """One from each group in turn: ``[[a1, a2], [b1]] → [a1, b1, a2]``."""
    result: list[str] = []
    for index in range(max((len(group) for group in groups), default=0)):
        result.extend(group[index] for group in groups if index < len(group))
    return result
