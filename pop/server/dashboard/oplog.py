"""The log of one op in a page of its own: ``/agendas/{id}/log?operation=OP``.

Layer: server (the dashboard). The page holds one log viewer (``templates/_logview.html``, whose
``static/logview.js`` follows ``GET /pop/agenda/{id}/logs?operation=OP&follow=true`` while the
op runs); the agenda page links it as "open the log in its own page". Without ``operation`` the
page lists the agenda's ops, each linking its log. Asked with ``Accept: application/json`` it
answers the API's logs JSON (the items of ``GET /pop/agenda/{id}/logs[?operation=OP]``, without
the files' text). An agenda the session may not see, or an op it does not have, is the 404 page,
by the API's own check (:func:`pop.server.logs.visible_agenda`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pop.api import Client
from pop.errors import NotFoundError
from pop.server.auth import Caller, client_thread
from pop.server.dashboard.pages import caller_or_none, not_found, not_signed_in, render, wants_json
from pop.server.envelope import cid_of, data_response
from pop.server.logs import visible_agenda

router = APIRouter(include_in_schema=False)


def _agenda_ops(
    client: Client, caller: Caller, agenda_id: str, operation: str | None
) -> tuple[str, str, list[str], list[dict[str, Any]]]:
    """The agenda's id, title, op names and log items (NotFoundError when the caller may not
    see it, or it has no op ``operation``)."""
    agenda = visible_agenda(client, caller, agenda_id)
    full_id = agenda.id or agenda_id
    items = [
        {"operation": i.operation, "attempt": i.attempt, "path": i.path, "tail": i.tail}
        for i in client.logs(full_id, operation)
    ]
    names = [op.operation or "" for op in client.status(full_id).operation_progress or []]
    return full_id, agenda.title or "", names, items


@router.get("/agendas/{agenda_id}/log")
async def operation_log(agenda_id: str, request: Request, operation: str | None = None) -> Response:
    """One op's log, followed while it runs (without ``operation``: the agenda's ops)."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    if wants_json(request):  # a NotFoundError is the API's 404 envelope
        _, _, _, items = await client_thread(request).call(
            lambda client: _agenda_ops(client, caller, agenda_id, operation)
        )
        return data_response(items, cid_of(request))
    try:
        full_id, title, names, _ = await client_thread(request).call(
            lambda client: _agenda_ops(client, caller, agenda_id, operation)
        )
    except NotFoundError:
        what = f"agenda {agenda_id}" + (f" with an op {operation}" if operation else "")
        return not_found(request, what)
    return render(
        request,
        "oplog.html",
        active="agendas",
        agenda_id=full_id,
        title=title,
        operation=operation,
        operations=names,
    )
