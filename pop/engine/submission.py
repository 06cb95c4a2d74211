"""Turning a validated agenda into stored records: ids, AgendaProgress, OperationProgress.

Layer: engine. Called by the api for ``pop submit``, ``pop run-local`` and batches, and by the
fast ``pop submit`` (:mod:`pop.cli.quick_submit`). The records are built as POP's JSON first
(:func:`prepare_wire`, :func:`store_submission_wire`: no pydantic), and the model functions
(:func:`prepare`, :func:`store_submission`) are those same dicts validated, so both write the
same rows.
"""

from __future__ import annotations

from pop.errors import InputError
from pop.models.states import PENDING, ProcessingState, new_id, now_ms
from pop.models.wire import (
    AGENDA_FIELDS,
    AGENDA_PROGRESS_FIELDS,
    DEFAULT_CUSTOMER_ID,
    MAXIMUM_ATTEMPTS_CAP,
    OPERATION_PROGRESS_FIELDS,
    maximum_attempts,
    ordered,
)
from pop.records import Record
from pop.store.progress_rows import operation_progress_id
from pop.store.queue import DEFAULT_INSIGHT_ID

TYPE_CHECKING = False  # no typing, dataclasses or models at import: the fast `pop submit`
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pop.models import Agenda, AgendaInsight, AgendaProgress, Operation, OperationProgress
    from pop.store import Store
    from pop.store.db import Database
    from pop.store.queue import QueueStore


class Submission(Record):
    """What was stored for one submitted agenda."""

    __slots__ = ("agenda", "progress", "queued")

    def __init__(self, agenda: Agenda, progress: AgendaProgress, queued: bool) -> None:
        self.agenda = agenda
        self.progress = progress
        self.queued = queued


def default_insight_wire() -> dict[str, Any]:
    """The built-in insight of single-user mode, as JSON."""
    return {"resourcePoolId": "default", "insightId": DEFAULT_INSIGHT_ID}


def operation_progress_wire(
    progress_id: str, name: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    """A new op's OperationProgress (WAITING/pending) as JSON."""
    return ordered(
        {
            "id": operation_progress_id(progress_id, name),
            "agendaProgressId": progress_id,
            "operation": name,
            "processingState": ProcessingState.WAITING.value,
            "processingStateMessage": PENDING,
            "percentComplete": 0.0,
            "attemptCount": 0,
            "diagnosticEvents": [],
            "params": dict(params),
        },
        OPERATION_PROGRESS_FIELDS,
    )


def new_operation_progress(progress_id: str, operation: Operation) -> OperationProgress:
    from pop.models import OperationProgress

    wire = operation_progress_wire(progress_id, operation.name or "", operation.params)
    return OperationProgress.model_validate(wire)


def prepare_wire(
    document: Mapping[str, Any],
    *,
    customer_id: str | None = None,
    link_id: str | None = None,
    priority: int | None = None,
    insight: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """:func:`prepare` on a validated agenda's JSON (``Agenda.to_wire()``): the agenda as it is
    stored, its AgendaProgress and its OperationProgress, as JSON."""
    now = now_ms()
    agenda = dict(document)
    agenda["id"] = new_id()
    agenda["progressId"] = new_id()
    agenda["cid"] = agenda.get("cid") or new_id()
    if customer_id is not None:
        agenda["customerId"] = customer_id
    if link_id is not None:
        agenda["linkId"] = link_id
    params = dict(agenda.get("params") or {})
    if priority is not None:
        params = {**params, "priority": priority}
    check_priority(params.get("priority"))
    agenda["params"] = params
    agenda["agendaInsight"] = dict(insight or default_insight_wire())
    agenda["addedTime"] = now
    agenda["updatedTime"] = now
    agenda = ordered(agenda, AGENDA_FIELDS)
    progress: dict[str, Any] = {
        "id": agenda["progressId"],
        "agendaId": agenda["id"],
        "linkId": agenda.get("linkId"),
        "cid": agenda["cid"],
        "customerId": agenda.get("customerId") or DEFAULT_CUSTOMER_ID,
        "title": agenda.get("title"),
        "processingState": ProcessingState.WAITING.value,
        "processingStateMessage": PENDING,
        "percentComplete": 0.0,
        "diagnosticEvents": [],
        "attemptsCompleted": 0,
        "maximumAttempts": min(MAXIMUM_ATTEMPTS_CAP, max(1, maximum_attempts(params))),
        "addedTime": now,
        "updatedTime": now,
        "params": dict(params),
        "agendaInsight": dict(agenda["agendaInsight"]),
    }
    external_id = params.get("externalId")
    if external_id is not None:
        progress["externalId"] = str(external_id)
    operations = [
        operation_progress_wire(progress["id"], op.get("name") or "", op.get("params") or {})
        for op in agenda.get("operations") or []
    ]
    return agenda, ordered(progress, AGENDA_PROGRESS_FIELDS), operations


def check_priority(priority: Any) -> None:
    """InputError for a priority the queue cannot hold (a 64-bit integer); submits call it
    before they open the store."""
    if isinstance(priority, int | float) and not -(2**63) <= priority < 2**63:
        raise InputError(
            f"priority {priority} is out of range",
            hint="give a whole number from -9223372036854775808 to 9223372036854775807",
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
    from pop.models import Agenda, AgendaProgress, OperationProgress

    document, progress, operations = prepare_wire(
        agenda.to_wire(),
        customer_id=customer_id,
        link_id=link_id,
        priority=priority,
        insight=insight.to_wire() if insight is not None else None,
    )
    return (
        Agenda.model_validate(document),
        AgendaProgress.model_validate(progress),
        [OperationProgress.model_validate(operation) for operation in operations],
    )


def store_submission_wire(
    db: Database,
    document: Mapping[str, Any],
    progress: Mapping[str, Any],
    operations: Sequence[Mapping[str, Any]],
    *,
    queue: bool,
    launch: Mapping[str, Any] | None = None,
) -> bool:
    """Write agenda, progress and (unless ``doNotRun`` or not queued) the ready-queue row, as
    JSON, inside one transaction (joining the caller's when there is one); whether it was
    queued."""
    from pop.store.agendas import AgendaStore
    from pop.store.progress_rows import ProgressRows
    from pop.store.queue import QueueStore

    queued = queue and "doNotRun" not in (document.get("params") or {})
    with db.transaction():
        AgendaStore(db).insert_wire(document, launch=launch)
        ProgressRows(db).insert_wire(progress, operations)
        if queued:
            queue_agenda_wire(QueueStore(db), document)
    return queued


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
    queued = store_submission_wire(
        store.db,
        agenda.to_wire(),
        progress.to_wire(),
        [operation.to_wire() for operation in operations],
        queue=queue,
        launch=launch,
    )
    return Submission(agenda=agenda, progress=progress, queued=queued)


def queue_agenda_wire(queue: QueueStore, document: Mapping[str, Any]) -> None:
    """Put an agenda (its JSON) on its insight's ready queue with its priority (inside a
    transaction)."""
    params = document.get("params") or {}
    priority = params.get("priority", 0)
    insight = document.get("agendaInsight") or {}
    queue.enqueue(
        str(document.get("id") or ""),
        insight_id=insight.get("insightId") or DEFAULT_INSIGHT_ID,
        customer_id=document.get("customerId") or DEFAULT_CUSTOMER_ID,
        priority=int(priority) if isinstance(priority, int | float) else 0,
    )


def queue_agenda(store: Store, agenda: Agenda) -> None:
    """Put an agenda on its insight's ready queue with its priority (inside a transaction)."""
    queue_agenda_wire(store.queue, agenda.to_wire())
