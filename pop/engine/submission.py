"""Turning a validated agenda into stored records: ids, AgendaProgress, OperationProgress.

Layer: engine. Called by the api for ``pop submit`` and ``pop run-local``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pop.models import (
    MAXIMUM_ATTEMPTS_CAP,
    PENDING,
    Agenda,
    AgendaInsight,
    AgendaProgress,
    Operation,
    OperationProgress,
    ProcessingState,
    new_id,
    now_ms,
)
from pop.store import DEFAULT_INSIGHT_ID, Store, operation_progress_id


@dataclass(frozen=True)
class Submission:
    """What was stored for one submitted agenda."""

    agenda: Agenda
    progress: AgendaProgress
    queued: bool


def new_operation_progress(progress_id: str, operation: Operation) -> OperationProgress:
    name = operation.name or ""
    return OperationProgress(
        id=operation_progress_id(progress_id, name),
        agenda_progress_id=progress_id,
        operation=name,
        processing_state=ProcessingState.WAITING,
        processing_state_message=PENDING,
        percent_complete=0.0,
        attempt_count=0,
        diagnostic_events=[],
        params=dict(operation.params),
    )


def prepare(
    agenda: Agenda,
    *,
    customer_id: str | None = None,
    link_id: str | None = None,
    priority: int | None = None,
    insight: AgendaInsight | None = None,
) -> tuple[Agenda, AgendaProgress, list[OperationProgress]]:
    """Assign ids and times (a new ``id`` always, as POP does) and build the progress records."""
    now = now_ms()
    agenda = agenda.model_copy(deep=True)
    agenda.id = new_id()
    agenda.progress_id = new_id()
    agenda.cid = agenda.cid or new_id()
    if customer_id is not None:
        agenda.customer_id = customer_id
    if link_id is not None:
        agenda.link_id = link_id
    if priority is not None:
        agenda.params = {**agenda.params, "priority": priority}
    agenda.params = dict(agenda.params)
    agenda.agenda_insight = insight or AgendaInsight(
        resource_pool_id="default", insight_id=DEFAULT_INSIGHT_ID
    )
    agenda.added_time = now
    agenda.updated_time = now
    progress = AgendaProgress(
        id=agenda.progress_id,
        agenda_id=agenda.id,
        link_id=agenda.link_id,
        cid=agenda.cid,
        customer_id=agenda.effective_customer_id,
        title=agenda.title,
        processing_state=ProcessingState.WAITING,
        processing_state_message=PENDING,
        percent_complete=0.0,
        diagnostic_events=[],
        attempts_completed=0,
        maximum_attempts=min(MAXIMUM_ATTEMPTS_CAP, max(1, agenda.maximum_attempts())),
        added_time=now,
        updated_time=now,
        params=dict(agenda.params),
        agenda_insight=agenda.agenda_insight,
    )
    external_id = agenda.params.get("externalId")
    if external_id is not None:
        progress.external_id = str(external_id)
    operations = [new_operation_progress(progress.id or "", op) for op in agenda.operations]
    return agenda, progress, operations


def store_submission(
    store: Store,
    agenda: Agenda,
    progress: AgendaProgress,
    operations: list[OperationProgress],
    *,
    queue: bool,
    launch: Mapping[str, Any] | None = None,
) -> Submission:
    """Write agenda, progress and (unless ``doNotRun`` or not queued) the ready-queue row, in one
    transaction: either everything is stored or nothing is."""
    queued = queue and "doNotRun" not in agenda.params
    with store.transaction():
        store.agendas.insert(agenda, launch=launch)
        store.progress.insert(progress, operations)
        if queued:
            queue_agenda(store, agenda)
    return Submission(agenda=agenda, progress=progress, queued=queued)


def queue_agenda(store: Store, agenda: Agenda) -> None:
    """Put an agenda on its insight's ready queue with its priority (inside a transaction)."""
    priority = agenda.params.get("priority", 0)
    store.queue.enqueue(
        agenda.id or "",
        insight_id=(agenda.agenda_insight.insight_id if agenda.agenda_insight else None)
        or DEFAULT_INSIGHT_ID,
        customer_id=agenda.effective_customer_id,
        priority=int(priority) if isinstance(priority, int | float) else 0,
    )
