"""The agenda page's buttons: cancel, rerun from failure, reset selected ops.

Layer: server. Each is a form POST carrying the session's CSRF token (403 without it). They do
what ``POST /pop/agenda/service/cancel`` and ``.../rerun`` do, with the same functions
(:func:`pop.server.services.rerun_options` for the rerun's ``params``) and the same change
record (actor = the session's token). An agenda the session may not see (the API's own check,
:func:`pop.server.logs.visible_agenda`, which is also who may act for it) is the 404 page. Done:
a 303 back to the agenda page with a one-line notice; refused by pop (e.g. cancelling a finished
agenda): the agenda page with the error's message and hint (status 200, as a refused sign-in).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pop.api import Client
from pop.errors import NotFoundError, PopError
from pop.server.auth import actor_of, client_thread
from pop.server.dashboard.agenda import agenda_page
from pop.server.dashboard.pages import (
    caller_or_none,
    checked_form,
    not_found,
    not_signed_in,
)
from pop.server.envelope import cid_of
from pop.server.logs import visible_agenda
from pop.server.services import rerun_options

router = APIRouter(include_in_schema=False)

Action = Callable[[Client, str, list[str], str, str], Any]
"""An action: (client, full agenda id, the ops checked, actor, cid)."""


def cancel(client: Client, agenda_id: str, ops: list[str], actor: str, cid: str) -> Any:
    return client.cancel(agenda_id, actor=actor, cid=cid)


def rerun_from_failure(client: Client, agenda_id: str, ops: list[str], actor: str, cid: str) -> Any:
    return client.rerun(agenda_id, **rerun_options(["continue"]), actor=actor, cid=cid)


def reset_selected(client: Client, agenda_id: str, ops: list[str], actor: str, cid: str) -> Any:
    # POP's own parameter: no op checked is the rerun service's InputError, shown on the page
    options = rerun_options(["operationsToReset=" + ",".join(ops)])
    return client.rerun(agenda_id, **options, actor=actor, cid=cid)


ACTIONS: dict[str, Action] = {
    "cancel": cancel,
    "continue": rerun_from_failure,
    "reset": reset_selected,
}


async def _act(request: Request, agenda_id: str, name: str) -> Response:
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    thread = client_thread(request)
    try:  # 404 (not 403) for an agenda the session may not see: ids do not leak
        agenda = await thread.call(lambda client: visible_agenda(client, caller, agenda_id))
    except NotFoundError:
        return not_found(request, f"agenda {agenda_id}")
    full_id = agenda.id or agenda_id
    action, actor, cid = ACTIONS[name], actor_of(caller), cid_of(request)
    try:
        await thread.call(
            lambda client: action(client, full_id, form.lists.get("op", []), actor, cid)
        )
    except PopError as error:
        return await agenda_page(
            request, caller, agenda_id, op=form.fields.get("selected"), error=error
        )
    return RedirectResponse(f"/agendas/{full_id}?notice={name}", status_code=303)


@router.post("/agendas/{agenda_id}/cancel")
async def cancel_agenda(agenda_id: str, request: Request) -> Response:
    """Stop the agenda (a waiting one ends at once)."""
    return await _act(request, agenda_id, "cancel")


@router.post("/agendas/{agenda_id}/continue")
async def rerun_agenda_from_failure(agenda_id: str, request: Request) -> Response:
    """Queue the agenda again; only its failed and not-run ops run (``pop rerun --continue``)."""
    return await _act(request, agenda_id, "continue")


@router.post("/agendas/{agenda_id}/reset")
async def reset_agenda_ops(agenda_id: str, request: Request) -> Response:
    """Queue the agenda again with the ops checked (``op`` fields) and their dependents reset."""
    return await _act(request, agenda_id, "reset")
