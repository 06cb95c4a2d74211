"""Helpers for scheduling tests: real stores holding agendas queued at chosen times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pop.engine.submission import prepare, store_submission
from pop.models import Agenda, AgendaInsight, Operation
from pop.scheduling.facility import add_object
from pop.store import Store
from pop.store.queue import QueuedRow

T0 = 1_700_000_000_000  # an arbitrary epoch-ms origin for queued times


def row(agenda_id: str, customer_id: str = "c", *, priority: int = 0, added: int = 0) -> QueuedRow:
    return QueuedRow(agenda_id, customer_id, priority, added)


def queue_agenda(
    store: Store,
    *,
    customer: str = "default",
    insight: str = "default",
    priority: int = 0,
    added: int = T0,
    title: str = "queued",
) -> str:
    """Store an agenda with its progress and queue it for ``insight`` at time ``added``."""
    agenda = Agenda(
        title=title, operations=[Operation(name="only", type="sample", payload={"actions": []})]
    )
    prepared, progress, operations = prepare(
        agenda,
        customer_id=customer,
        priority=priority,
        insight=AgendaInsight(resource_pool_id="pool", insight_id=insight),
    )
    store_submission(store, prepared, progress, operations, queue=False)
    agenda_id = prepared.id or ""
    with store.transaction():
        store.queue.enqueue_many(insight, [QueuedRow(agenda_id, customer, priority, added)])
    return agenda_id


def facility(
    store: Store,
    *,
    pools: Iterable[str] = (),
    customers: Mapping[str, str] | None = None,
    insights: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Add pools (by id), customers (id → pool) and insights (POP JSON objects)."""
    for pool in pools:
        add_object(store, "pool", {"id": pool, "title": pool})
    for customer, pool in (customers or {}).items():
        add_object(store, "customer", {"id": customer, "title": customer, "resourcePoolId": pool})
    for insight in insights:
        add_object(store, "insight", {"title": insight["id"], **insight})


def customer_of(store: Store, agenda_id: str) -> str:
    return store.agendas.get(agenda_id).effective_customer_id
