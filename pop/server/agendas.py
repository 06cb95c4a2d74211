"""``/pop/agenda``: submit an agenda, read one, query them (POP-REFERENCE §§2.1, 2.3, 9.2).

Layer: server. ``POST /pop/agenda`` takes a POP-shaped agenda and calls
:meth:`pop.api.Client.submit` (validation, insight selection, storage and queueing, all or
nothing); the answer is the stored agenda with its ``id``, ``progressId`` and ``agendaInsight``.
A missing ``customerId`` becomes the caller's single customer (``default`` without auth);
naming a customer the token may not act for is 403. ``GET /pop/agenda/{id}`` takes an agenda
id, a progress id or a unique prefix; ``GET /pop/agenda?by<field>=...`` queries (see
:mod:`pop.server.queries`). Other customers' agendas are left out silently.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import InputError
from pop.models.validation import json_kind
from pop.server.auth import Caller, CallerDep, can_see, client_thread, submission_customer
from pop.server.bodies import json_body
from pop.server.envelope import cid_of, count_response, data_response
from pop.server.queries import ByQuery, agenda_selection

router = APIRouter(prefix="/pop/agenda", tags=["agenda"])


@router.post("")
async def submit_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Validate, store and queue an agenda (``pop submit``); every problem in one 422."""
    cid = cid_of(request)
    document = await json_body(request, what="the agenda")
    if not isinstance(document, dict):
        raise InputError(f"an agenda must be a JSON object, not {json_kind(document)}")
    customer_id = submission_customer(caller, document.get("customerId"))
    if document.get("cid") is None:
        document["cid"] = cid  # the request's correlation id follows the agenda
    submission = await client_thread(request).call(
        lambda client: client.submit(document, customer_id=customer_id)
    )
    return data_response([submission.agenda.to_wire()], cid)


@router.get("/{agenda_id}")
async def get_agenda(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One agenda by id, progress id or unique prefix (an empty list if the caller may not
    see it; 404 when there is none)."""
    found = await client_thread(request).call(lambda client: one_agenda(client, caller, agenda_id))
    return data_response(found, cid_of(request))


@router.get("")
async def query_agendas(request: Request, caller: CallerDep) -> JSONResponse:
    """Agendas matching every ``by<field>`` condition (``?id=`` reads one)."""
    given = request.query_params.get("id")
    if given:
        return await get_agenda(given, request, caller)
    query = ByQuery.parse(request.query_params.multi_items())
    selection = await client_thread(request).call(
        lambda client: agenda_selection(client, caller, query)
    )
    if query.count_only:
        return count_response(selection.count, cid_of(request))
    return data_response(selection.items, cid_of(request))


def one_agenda(client: Client, caller: Caller, agenda_id: str) -> list[dict[str, Any]]:
    agenda = client.agenda(agenda_id)
    return [agenda.to_wire()] if can_see(caller, agenda.customer_id) else []
