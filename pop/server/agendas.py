"""``/pop/agenda``: submit an agenda, read one, query them (POP-REFERENCE §§2.1, 2.3, 9.2).

Layer: server. ``POST /pop/agenda`` takes a POP-shaped agenda and calls
:meth:`pop.api.Client.submit` (validation, insight selection, storage and queueing, all or
nothing); the answer is the stored agenda with its ``id``, ``progressId`` and ``agendaInsight``.
A missing ``customerId`` becomes the caller's single customer (``default`` without auth);
naming a customer the token may not act for is 403. ``GET /pop/agenda/{id}`` takes an agenda
id, a progress id or a unique prefix; ``GET /pop/agenda?by<field>=...`` queries (see
:mod:`pop.server.queries`). Other customers' agendas are left out silently.

``PUT /pop/agenda/{id}`` is POP's partial merge for the fields that do not change how the agenda
runs (``title``, ``jobId``, fields pop does not use; see ``Client.agenda_update``); another
value for ``operations``, ``params``, ``customerId``, ``linkId``, ... is 422. ``DELETE
/pop/agenda/{id}`` deletes the agenda with its progress and answers the deleted agenda (an empty
success when there is none); an agenda an executor runs is 409 (cancel it first). Both need a
caller allowed the agenda's customer (403 naming it).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import NotFoundError
from pop.server.auth import (
    Caller,
    CallerDep,
    actor_of,
    can_see,
    client_thread,
    drop_client_dir,
    path_policy,
    require_customer,
    submission_customer,
)
from pop.server.bodies import json_object
from pop.server.crud import (
    collection_id,
    deleted_response,
    one_or_query_response,
    one_response,
    put_changes,
)
from pop.server.envelope import cid_of, data_response
from pop.server.queries import agenda_selection

router = APIRouter(prefix="/pop/agenda", tags=["agenda"])


@router.post("")
async def submit_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Validate, store and queue an agenda (``pop submit``); every problem in one 422."""
    cid = cid_of(request)
    document = await json_object(request, what="the agenda", named="an agenda")
    customer_id = submission_customer(caller, document.get("customerId"))
    if document.get("cid") is None:
        document["cid"] = cid  # the request's correlation id follows the agenda
    drop_client_dir(caller, document)
    actor, paths = actor_of(caller), path_policy(request, caller)
    submission = await client_thread(request).call(
        lambda client: client.submit(
            document, customer_id=customer_id, actor=actor, cid=cid, paths=paths
        )
    )
    return data_response([submission.agenda.to_wire()], cid)


@router.get("/{agenda_id}")
async def get_agenda(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One agenda by id, progress id or unique prefix (an empty list if the caller may not
    see it; 404 when there is none)."""
    return await one_response(request, caller, agenda_id, one_agenda)


@router.get("")
async def query_agendas(request: Request, caller: CallerDep) -> JSONResponse:
    """Agendas matching every ``by<field>`` condition (``?id=`` reads one)."""
    return await one_or_query_response(request, caller, one_agenda, agenda_selection)


@router.get("/{agenda_id}/changes")
async def agenda_changes(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """pop's extension: the agenda's change records, oldest first (who submitted, cancelled,
    reran, changed or deleted it); an empty list if the caller may not see the agenda."""

    def read(client: Client) -> list[dict[str, Any]]:
        agenda = client.agenda(agenda_id)
        if not can_see(caller, agenda.customer_id):
            return []
        return [record.to_wire() for record in client.changes(agenda.id or agenda_id)]

    return data_response(await client_thread(request).call(read), cid_of(request))


def one_agenda(client: Client, caller: Caller, agenda_id: str) -> list[dict[str, Any]]:
    agenda = client.agenda(agenda_id)
    return [agenda.to_wire()] if can_see(caller, agenda.customer_id) else []


@router.put("/{agenda_id}")
async def update_agenda(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """POP's PUT for ``title``, ``jobId`` and fields pop does not use (422 for others)."""

    def resolve(client: Client) -> str:
        agenda = client.agenda(agenda_id)
        require_customer(caller, agenda.effective_customer_id)
        return agenda.id or agenda_id

    full_id = await client_thread(request).call(resolve)
    changes = await put_changes(request, full_id, "agenda")
    if "customerId" in changes:
        require_customer(caller, str(changes["customerId"]))

    actor, cid = actor_of(caller), cid_of(request)

    def update(client: Client) -> dict[str, Any]:
        return client.agenda_update(resolve(client), changes, actor=actor, cid=cid).to_wire()

    return data_response([await client_thread(request).call(update)], cid_of(request))


@router.delete("/{agenda_id}")
async def delete_agenda(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """Delete an agenda and its progress (empty when there is none; 409 while it runs)."""
    actor, cid = actor_of(caller), cid_of(request)

    def delete(client: Client) -> list[dict[str, Any]]:
        try:
            agenda = client.agenda(agenda_id)
        except NotFoundError:
            return []  # POP: deleting what is not there succeeds, empty
        require_customer(caller, agenda.effective_customer_id)
        deleted, _ = client.agenda_delete(agenda.id or agenda_id, actor=actor, cid=cid)
        return [deleted.to_wire()]

    return deleted_response(request, await client_thread(request).call(delete))


@router.put("")
async def update_by_query(request: Request, caller: CallerDep) -> JSONResponse:
    """PUT with the id in ``?id=`` or the body."""
    return await update_agenda(await collection_id(request, "agenda"), request, caller)


@router.delete("")
async def delete_by_query(request: Request, caller: CallerDep) -> JSONResponse:
    """DELETE with the id in ``?id=`` or the body."""
    return await delete_agenda(await collection_id(request, "agenda"), request, caller)
