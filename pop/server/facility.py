"""``/pop/customer``, ``/pop/resourcepool``, ``/pop/insight``: facility objects over HTTP
(POP-REFERENCE §§1.9, 2.3, 9.12).

Layer: server. GET, POST, PUT (partial merge) and DELETE through ``Client.facility_*``, with
POP's checks (a customer's ``id`` is its ``customerId``; customers and insights need a title;
pools and insights that are in use cannot be deleted). Reads follow POP's visibility: a caller
sees customers and pools of its customers (``customerId``), and insights it owns, that are
``isGlobal``, or whose ``allowedCustomerIds`` name one of its customers; a pool's ``insightIds``
is derived on read. Writes change how the whole installation schedules work, so they need a
global token (403 otherwise).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import NotFoundError
from pop.models import Insight, WireModel
from pop.scheduling.facility import Kind
from pop.server.auth import (
    Caller,
    CallerDep,
    actor_of,
    can_read_shared,
    client_thread,
    require_global,
)
from pop.server.crud import (
    collection_id,
    deleted_response,
    object_body,
    put_changes,
    query_response,
)
from pop.server.envelope import cid_of, data_response

router = APIRouter(tags=["facility"])

# the path of each kind under /pop, and how messages name it
PATHS: dict[Kind, str] = {"customer": "customer", "pool": "resourcepool", "insight": "insight"}
NOUNS: dict[Kind, str] = {"customer": "customers", "pool": "resource pools", "insight": "insights"}


def readable(caller: Caller, item: WireModel) -> bool:
    customer_id = getattr(item, "customer_id", None)
    if isinstance(item, Insight):
        return can_read_shared(
            caller,
            customer_id,
            is_global=item.is_global,
            allowed_customer_ids=item.allowed_customer_ids,
        )
    return can_read_shared(caller, customer_id, is_global=False, allowed_customer_ids=())


def _routes(kind: Kind) -> None:
    """GET/POST on ``/pop/<path>``, GET/PUT/DELETE on ``/pop/<path>/{id}`` for one kind."""
    base = f"/pop/{PATHS[kind]}"
    nouns = NOUNS[kind]

    async def get_one(object_id: str, request: Request, caller: CallerDep) -> JSONResponse:
        def read(client: Client) -> list[dict[str, Any]]:
            item = client.facility_get(kind, object_id)
            return [item.to_wire()] if readable(caller, item) else []

        return data_response(await client_thread(request).call(read), cid_of(request))

    async def query(request: Request, caller: CallerDep) -> JSONResponse:
        given = request.query_params.get("id")
        if given:
            return await get_one(given, request, caller)
        found = await client_thread(request).call(lambda client: client.facility_list(kind))
        return query_response(request, (item.to_wire() for item in found if readable(caller, item)))

    async def add(request: Request, caller: CallerDep) -> JSONResponse:
        require_global(caller, nouns)
        document = await object_body(request, kind)
        if document.get("cid") is None:
            document["cid"] = cid_of(request)
        actor, cid = actor_of(caller), cid_of(request)
        item = await client_thread(request).call(
            lambda client: client.facility_add(kind, document, actor=actor, cid=cid)
        )
        return data_response([item.to_wire()], cid_of(request))

    async def update(object_id: str, request: Request, caller: CallerDep) -> JSONResponse:
        require_global(caller, nouns)
        changes = await put_changes(request, object_id, kind)
        actor, cid = actor_of(caller), cid_of(request)
        item = await client_thread(request).call(
            lambda client: client.facility_update(kind, object_id, changes, actor=actor, cid=cid)
        )
        return data_response([item.to_wire()], cid_of(request))

    async def delete(object_id: str, request: Request, caller: CallerDep) -> JSONResponse:
        require_global(caller, nouns)
        actor, cid = actor_of(caller), cid_of(request)

        def remove(client: Client) -> list[dict[str, Any]]:
            try:
                return [client.facility_delete(kind, object_id, actor=actor, cid=cid).to_wire()]
            except NotFoundError:
                return []  # POP: deleting what is not there succeeds, empty

        return deleted_response(request, await client_thread(request).call(remove))

    async def by_query(request: Request, caller: CallerDep) -> JSONResponse:
        object_id = await collection_id(request, kind)
        if request.method == "PUT":
            return await update(object_id, request, caller)
        return await delete(object_id, request, caller)

    router.add_api_route(f"{base}/{{object_id}}", get_one, methods=["GET"], name=f"get {kind}")
    router.add_api_route(base, query, methods=["GET"], name=f"query {nouns}")
    router.add_api_route(base, add, methods=["POST"], name=f"add {kind}")
    router.add_api_route(f"{base}/{{object_id}}", update, methods=["PUT"], name=f"update {kind}")
    router.add_api_route(f"{base}/{{object_id}}", delete, methods=["DELETE"], name=f"delete {kind}")
    router.add_api_route(base, by_query, methods=["PUT", "DELETE"], name=f"{kind} by query")


for _kind in PATHS:
    _routes(_kind)
