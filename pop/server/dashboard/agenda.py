"""The agenda page: ``/agendas/{id}``, one agenda as a live picture with its ops.

Layer: server. The id may be an agenda id, a progress id or a unique prefix, as the API takes
it. An agenda the session may not see is the 404 page, as one that does not exist (the API's
visibility check, :func:`pop.server.logs.visible_agenda`). Asked with ``Accept:
application/json`` the page answers what ``GET /pop/progress/agenda/{id}`` answers (that route's
reader, :func:`pop.server.progress.one_progress`, in the same envelope).

The page shows the header (title, id, state, customer, link, progress, times, the cause of a
failure), the DAG drawn by :mod:`pop.graph`, the list of ops (each a link to ``?op=NAME``, the
op panel, and a checkbox for "reset selected ops") and the op panel of the selected op:
payload, output, diagnostics (the real cause first, verbatim), attempts, media previews
(:mod:`pop.server.dashboard.previews`), and the timeline of every attempt
(:mod:`pop.server.dashboard.timeline`). Everything but the previews is read in one call on the
client thread (one read of the agenda, its progress and its attempts, whatever the number of
ops). The buttons' routes are in :mod:`pop.server.dashboard.agenda_actions`.
``static/agenda.js`` follows the agenda over ``GET /pop/events?agendaId=ID``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pop.api import Client
from pop.errors import NotFoundError, PopError
from pop.graph import lay_out, to_svg
from pop.graph.layout import state_of
from pop.models import Agenda, AgendaProgress, ProcessingState, now_ms
from pop.models.causes import cause_of, operation_cause
from pop.server.auth import Caller, client_thread
from pop.server.crud import one_response
from pop.server.dashboard.pages import (
    caller_or_none,
    duration,
    iso,
    not_found,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.dashboard.previews import Preview, agenda_previews
from pop.server.dashboard.timeline import timeline_svg
from pop.server.logs import visible_agenda
from pop.server.progress import one_progress

router = APIRouter(include_in_schema=False)

NOTICES = {
    "cancel": "Cancel requested: the agenda stops.",
    "continue": "Queued again: only the failed and not-run ops run again.",
    "reset": "Queued again: the selected ops and the ops after them run again.",
}


@dataclass
class OpView:
    """One op as the list and the panel show it."""

    name: str
    type: str
    state: str  # the picture's state: not run, waiting, running, succeeded, failed
    percent: int | None
    attempt_count: int
    payload: str
    output: str | None
    diagnostics: list[dict[str, Any]]
    attempts: list[dict[str, Any]] = field(default_factory=list)
    started: str = ""
    completed: str = ""


@dataclass
class AgendaView:
    """What the page shows of one agenda (read once)."""

    agenda: Agenda
    progress: AgendaProgress
    svg: str
    ops: list[OpView]
    selected: OpView | None
    causes: list[str]
    attempts: list[dict[str, Any]]


def pretty(value: Any) -> str:
    """A JSON value pretty-printed as it is (no escaping of non-ASCII text)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _diagnostic(event: Any) -> dict[str, Any]:
    return {
        "message": event.message or "",
        "time": iso(event.time),
        "stack_trace": event.stack_trace,
        "payload": None if event.payload is None else pretty(event.payload),
    }


def cause_first(events: list[Any]) -> list[Any]:
    """An op's diagnostics with its real cause first (:func:`pop.models.causes.cause_of`: the
    first that is not a wrapper such as ``Resident execution failed for operation: X``), the
    others after it in their order."""
    cause = cause_of(events)
    at = next((i for i, e in enumerate(events) if cause and e.message == cause.message), 0)
    return events[at : at + 1] + events[:at] + events[at + 1 :]


def failure_causes(progress: AgendaProgress) -> list[str]:
    """What says why the agenda failed, verbatim: the agenda's own diagnostics (a deadlock, a
    cancel, a timeout), else each failed op's real cause (a program's last output line with
    it, as ``pop status`` shows)."""
    if not progress.failed:
        return []
    causes = [event.message for event in progress.diagnostic_events or [] if event.message]
    if causes:
        return causes
    for item in progress.operation_progress or []:
        cause = operation_cause(item)
        if cause is not None:
            causes.append(cause.one_line(with_operation=True))
    return causes or [progress.processing_state_message or "failed"]


PICTURES_KEPT = 64
_pictures: OrderedDict[tuple[str, tuple[tuple[str, float | None], ...]], str] = OrderedDict()


def picture_svg(agenda: Agenda, progress: AgendaProgress) -> str:
    """``pop.graph``'s SVG of the agenda with these states, from a small cache: the layout of a
    200-op agenda takes a tenth of a second, and a finished agenda's picture never changes. The
    key is what the picture is drawn from: the agenda's document and each op's state and
    percent (only ever called on the client thread)."""
    document = hashlib.sha256(agenda.model_dump_json().encode()).hexdigest()
    states = tuple(state_of(progress, op.name or f"#{i}") for i, op in enumerate(agenda.operations))
    key = (document, states)
    svg = _pictures.get(key)
    if svg is None:
        svg = to_svg(lay_out(agenda, progress))
        _pictures[key] = svg
        if len(_pictures) > PICTURES_KEPT:
            _pictures.popitem(last=False)
    else:
        _pictures.move_to_end(key)
    return svg


def read_agenda(client: Client, caller: Caller, agenda_id: str, op: str | None) -> AgendaView:
    """The agenda, its progress, its picture and its ops in one go (NotFoundError when the
    caller may not see it)."""
    agenda = visible_agenda(client, caller, agenda_id)
    full_id = agenda.id or agenda_id
    progress = client.status(full_id)
    attempts = client.attempts(full_id)  # every op's attempts, one query
    by_op: dict[str, list[dict[str, Any]]] = {}
    for row in attempts:
        by_op.setdefault(row["operation"] or "", []).append(
            {
                "number": row["number"],
                "started": iso(row["startedTime"]),
                "ended": iso(row["endedTime"]),
                "outcome": row["outcome"] or ("running" if row["endedTime"] is None else ""),
                "exit_code": row["exitCode"],
                "message": row["message"] or "",
            }
        )
    items = {item.operation: item for item in progress.operation_progress or []}
    ops = []
    for index, operation in enumerate(agenda.operations):
        name = operation.name or f"#{index}"
        state, percent = state_of(progress, name)
        item = items.get(name)
        has_output = item is not None and item.result_payload is not None
        ops.append(
            OpView(
                name=name,
                type=operation.type or "",
                state=state,
                percent=None if percent is None else round(percent),
                attempt_count=(item.attempt_count or 0) if item else 0,
                payload=pretty(operation.payload),
                output=pretty(item.result_payload) if item and has_output else None,
                diagnostics=[_diagnostic(e) for e in cause_first(item.diagnostic_events or [])]
                if item
                else [],
                attempts=by_op.get(name, []),
                started=iso(item.started_time) if item else "",
                completed=iso(item.completed_time) if item else "",
            )
        )
    selected = next((view for view in ops if view.name == op), None) if op else None
    return AgendaView(
        agenda=agenda,
        progress=progress,
        svg=picture_svg(agenda, progress),
        ops=ops,
        selected=selected,
        causes=failure_causes(progress),
        attempts=attempts,
    )


def header(progress: AgendaProgress) -> dict[str, Any]:
    """The header's state, percent and times."""
    state = progress.processing_state.value if progress.processing_state else ""
    started = progress.started_time
    ended = progress.completed_time or (time.time() * 1000 if started else None)
    return {
        "state": state,
        "message": progress.processing_state_message or "",
        "percent": round(float(progress.percent_complete or 0)),
        "started": iso(started),
        "elapsed": duration((ended - started) / 1000) if started and ended else "",
        "finished": state == ProcessingState.COMPLETE.value,
        "failed": progress.failed,
    }


def extras(client: Client, view: AgendaView) -> dict[str, Any]:
    """What the timeline part needs (``templates/_timeline.html``): the attempts as a Gantt
    chart."""
    return {"timeline_svg": timeline_svg(view.attempts, now_ms())}


async def agenda_page(
    request: Request,
    caller: Caller,
    agenda_id: str,
    *,
    op: str | None = None,
    notice: str | None = None,
    error: PopError | None = None,
) -> Response:
    """The agenda page (the 404 page when the session may not see it); ``error`` (an action
    pop refused) is shown with its hint (200, as a refused sign-in: the answer to the form is
    a page that loaded, showing why nothing changed)."""

    def read(client: Client) -> tuple[AgendaView, dict[str, Any]]:
        view = read_agenda(client, caller, agenda_id, op)
        return view, extras(client, view)

    try:
        view, more = await client_thread(request).call(read)
    except NotFoundError:
        return not_found(request, f"agenda {agenda_id}")
    full_id = view.agenda.id or agenda_id
    previews: list[Preview] = []
    if view.selected is not None:  # the selected op's media (templates/_previews.html)
        try:
            previews = await agenda_previews(request, caller, full_id, view.selected.name)
        except NotFoundError:
            previews = []  # deleted meanwhile: the page shows what it read
    return render(
        request,
        "agenda.html",
        active="agendas",
        agenda_id=full_id,
        title=view.agenda.title or view.progress.title or "",
        customer=view.progress.customer_id or view.agenda.customer_id or "",
        link=view.progress.link_id or "",
        head=header(view.progress),
        causes=view.causes,
        svg=view.svg,
        ops=view.ops,
        selected=view.selected,
        asked_op=op,
        notice=notice,
        error=error,
        previews=previews,
        **more,
    )


@router.get("/agendas/{agenda_id}")
async def agenda(agenda_id: str, request: Request) -> Response:
    """One agenda: its picture, ops and op panel (``?op=NAME``); JSON: the API's progress."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    if wants_json(request):
        # a 404 (JSON, from the app's handler) when the session may not see it, as the logs
        # route answers; then the progress route's own reader and envelope
        found = await client_thread(request).call(
            lambda client: visible_agenda(client, caller, agenda_id)
        )
        return await one_response(request, caller, found.id or agenda_id, one_progress)
    op = request.query_params.get("op") or None
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return await agenda_page(request, caller, agenda_id, op=op, notice=notice)
