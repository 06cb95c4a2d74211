"""``/pop/agendatemplate``: AgendaTemplates over HTTP (POP-REFERENCE §§1.4, 2.3, 9.12).

Layer: server. GET, POST, PUT (partial merge) and DELETE through ``Client.template_*``. A caller
reads a template it owns (POP's ``Customer`` rule), one marked ``isGlobal``, or one whose
``allowedCustomerIds`` names one of its customers; it writes (POST, PUT, DELETE) only its
customers' templates (403 naming the customer). A POST without ``customerId`` gets the token's
single customer. Ids in paths may be an id, a unique id prefix or a unique exact title.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import NotFoundError
from pop.models import AgendaTemplate
from pop.server.auth import (
    Caller,
    CallerDep,
    actor_of,
    can_read_shared,
    client_thread,
    require_customer,
    submission_customer,
)
from pop.server.crud import (
    collection_id,
    deleted_response,
    object_body,
    put_changes,
    query_response,
)
from pop.server.envelope import cid_of, data_response

router = APIRouter(prefix="/pop/agendatemplate", tags=["agendatemplate"])
WHAT = "template"


def readable(caller: Caller, template: AgendaTemplate) -> bool:
    return can_read_shared(
        caller,
        template.customer_id,
        is_global=template.is_global,
        allowed_customer_ids=template.allowed_customer_ids,
    )


@router.get("/{template_id}")
async def get_template(template_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One template (an empty list when the caller may not read it; 404 when there is none)."""

    def read(client: Client) -> list[dict[str, Any]]:
        template = client.template_get(template_id)
        return [template.to_wire()] if readable(caller, template) else []

    return data_response(await client_thread(request).call(read), cid_of(request))


@router.get("")
async def query_templates(request: Request, caller: CallerDep) -> JSONResponse:
    """The templates the caller may read matching every ``by<field>`` condition."""
    given = request.query_params.get("id")
    if given:
        return await get_template(given, request, caller)
    found = await client_thread(request).call(lambda client: client.template_list())
    return query_response(request, (item.to_wire() for item in found if readable(caller, item)))


@router.post("")
async def add_template(request: Request, caller: CallerDep) -> JSONResponse:
    """Check and store a template (``pop template add``)."""
    document = await object_body(request, WHAT)
    document["customerId"] = submission_customer(caller, document.get("customerId"))
    if document.get("cid") is None:
        document["cid"] = cid_of(request)
    actor, cid = actor_of(caller), cid_of(request)
    template = await client_thread(request).call(
        lambda client: client.template_add(document, actor=actor, cid=cid)
    )
    return data_response([template.to_wire()], cid_of(request))


@router.put("/{template_id}")
async def update_template(template_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """POP's PUT: the given fields replace the stored ones, null or absent ones stay."""
    changes = await put_changes(request, template_id, WHAT)
    if "customerId" in changes:
        require_customer(caller, str(changes["customerId"]))

    actor, cid = actor_of(caller), cid_of(request)

    def update(client: Client) -> AgendaTemplate:
        require_customer(caller, client.template_get(template_id).customer_id or "default")
        return client.template_update(template_id, changes, actor=actor, cid=cid)

    template = await client_thread(request).call(update)
    return data_response([template.to_wire()], cid_of(request))


@router.delete("/{template_id}")
async def delete_template(template_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """Delete a template; one that is not stored is an empty success, as in POP."""
    actor, cid = actor_of(caller), cid_of(request)

    def delete(client: Client) -> list[dict[str, Any]]:
        try:
            stored = client.template_get(template_id)
        except NotFoundError:
            return []
        require_customer(caller, stored.customer_id or "default")
        return [client.template_delete(stored.id or template_id, actor=actor, cid=cid).to_wire()]

    return deleted_response(request, await client_thread(request).call(delete))


@router.put("")
async def update_by_query(request: Request, caller: CallerDep) -> JSONResponse:
    """PUT with the id in ``?id=`` or the body."""
    return await update_template(await collection_id(request, WHAT), request, caller)


@router.delete("")
async def delete_by_query(request: Request, caller: CallerDep) -> JSONResponse:
    """DELETE with the id in ``?id=`` or the body."""
    return await delete_template(await collection_id(request, WHAT), request, caller)
