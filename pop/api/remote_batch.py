"""``pop batch --server``: plan a batch here, submit its agendas to a ``pop serve`` and follow
them there until they end.

Layer: api. Called by :mod:`pop.cli.batch` with a :class:`pop.api.remote.RemoteClient`. The
inputs are files on this machine: the plan is the local one (:mod:`pop.services.batch_plan`'s
``batch_inputs``, ``plan_item``, the template's fingerprint, absolute paths), with the link's
history read from the server (``GET /pop/agenda?bylinkId=`` and its progress). A new input's
agenda is filled here and submitted (``POST /pop/agenda``; the server checks it, so an input it
refuses stops the batch with the earlier ones already submitted); a failed or stopped one is
rerun with continue semantics (``POST /pop/agenda/service/rerun``). The server's executors run
them; :func:`follow_batch` polls the link's progress and keeps the :class:`BatchReport` that the
live view and the summary read, as a local batch does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.engine.documents import read_document
from pop.models import AgendaProgress, AgendaTemplate, ProcessingState

if TYPE_CHECKING:
    from pop.api.remote import RemoteClient
    from pop.services.batch import BatchReport

POLL_SECONDS = 0.5
ALL = str(1_000_000)  # a bylimit above any link (the server's default is 100)


def remote_template(client: RemoteClient, template: str | Path) -> AgendaTemplate:
    """A template from a file here, else the server's (id, id prefix or title)."""
    from pop.engine.templates import parse_template

    if Path(template).is_file():
        return parse_template(read_document(template, what="template"), source=str(template))
    return client.template_get(str(template))


def _history(
    client: RemoteClient, link_id: str
) -> dict[str, list[tuple[AgendaProgress, dict[str, Any]]]]:
    """The agendas of the link that a batch made, by input path (oldest first), from the
    server (what :func:`pop.services.batch_plan.link_history` reads from a local store)."""
    agendas = {
        str(item.get("id")): item
        for item in client._data("GET", "/pop/agenda", query={"bylinkId": link_id, "bylimit": ALL})
    }
    history: dict[str, list[tuple[AgendaProgress, dict[str, Any]]]] = {}
    for progress in client.list(link_id=link_id):  # oldest first, as plan_item wants
        params = agendas.get(progress.agenda_id or "", {}).get("params") or {}
        identity = params.get("batch") if isinstance(params, dict) else None
        if isinstance(identity, dict) and isinstance(identity.get("input"), str):
            history.setdefault(identity["input"], []).append((progress, identity))
    return history


def plan_remote_batch(
    client: RemoteClient,
    template: str | Path,
    inputs: list[str | Path],
    *,
    glob: str | None = None,
    link_id: str | None = None,
) -> BatchReport:
    """Plan the batch as locally, submit its new agendas and rerun (continue) its failed ones
    on the server; the report's items name their agendas there."""
    from pop.engine.templates import expand_template
    from pop.services.batch import NEW, RESUME, BatchItem, BatchReport
    from pop.services.batch_plan import (
        batch_inputs,
        input_identity,
        plan_item,
        template_fingerprint,
    )

    parsed = remote_template(client, template)
    fingerprint = template_fingerprint(parsed)
    link = link_id or f"batch-{fingerprint[:12]}"
    history = _history(client, link)
    items = []
    for path in batch_inputs(inputs, glob):
        item = BatchItem(input=str(path), identity=input_identity(path, fingerprint))
        plan_item(item, history.get(str(path), []))
        items.append(item)
    agendas = {}
    for item in items:
        if item.action == NEW:
            path = Path(item.input)
            agenda = expand_template(parsed, {"input": str(path), "name": path.stem}, strict=True)
            agenda.params = {**agenda.params, "externalId": str(path), "batch": item.identity}
            agendas[id(item)] = agenda
    for item in items:
        if item.action == NEW:
            item.agenda_id = client.submit(agendas[id(item)], link_id=link).agenda.id
        elif item.action == RESUME:
            current = client.status(item.agenda_id or "")
            if current.processing_state == ProcessingState.COMPLETE:
                client.rerun(item.agenda_id or "", keep=True)
    return BatchReport(link_id=link, items=items)


def follow_batch(
    client: RemoteClient,
    report: BatchReport,
    *,
    on_change: Callable[[BatchReport], None] | None = None,
    interval: float = POLL_SECONDS,
) -> BatchReport:
    """Poll the link's progress on the server until every item has ended, keeping each item's
    state, percent, times (as seen from here), failure cause and outputs."""
    from pop.services.batch import FAILED, RUNNING, SKIPPED, SUCCEEDED

    report.started = time.monotonic()
    while True:
        by_id: Mapping[str, AgendaProgress] = {
            progress.agenda_id or "": progress for progress in client.list(link_id=report.link_id)
        }
        for item in report.items:
            progress = by_id.get(item.agenda_id or "")
            if item.finished or progress is None:
                continue
            now = time.monotonic()
            state = progress.processing_state
            if state != ProcessingState.WAITING and item.started is None:
                item.state, item.started = RUNNING, now
            item.percent = float(progress.percent_complete or 0.0)
            if state == ProcessingState.COMPLETE:
                item.started = item.started or now
                item.ended = now
                item.state = SUCCEEDED if progress.succeeded else FAILED
                item.percent = 100.0 if progress.succeeded else item.percent
                if not progress.succeeded:
                    item.message = _failure_message(progress)
                item.outputs = client.outputs_of(progress)
        if all(item.finished for item in report.items):
            break
        if on_change is not None:
            on_change(report)
        time.sleep(interval)
    for item in report.items:  # what an earlier run made is where it was
        if item.state == SKIPPED and item.agenda_id:
            item.outputs = client.outputs_of(client.status(item.agenda_id))
    report.ended = time.monotonic()
    if on_change is not None:
        on_change(report)
    return report


def _failure_message(progress: AgendaProgress) -> str:
    """Why an agenda failed, on one line (as a local batch says it)."""
    from pop.models.causes import agenda_cause

    cause = agenda_cause(progress)
    if cause is not None:
        return cause.one_line(with_operation=True)
    return progress.processing_state_message or "failed"
