"""``/pop/progress/operation``: OperationProgress objects (POP-REFERENCE §§1.6, 2.3).

Layer: server. Read only. ``GET /pop/progress/operation/{id}`` answers one op's progress by its
id, ``<progressId>-<operation name>``; ``GET /pop/progress/operation?byagendaProgressId=P``
every op of one agenda's progress (P may also be an agenda id or a unique prefix, as elsewhere),
with the other ``by<field>`` conditions, ``bylimit``, ``bycount`` and ``byfields``. A query
without ``byagendaProgressId`` lists the ops of the agendas the caller may see (the
``bylinkId``/``bycustomerId`` of their agendas are not op fields: narrow by agenda). Other
customers' ops are left out silently.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import InputError, NotFoundError
from pop.models import AgendaProgress
from pop.server.auth import Caller, CallerDep, can_see, client_thread
from pop.server.envelope import cid_of, count_response, data_response
from pop.server.queries import ByQuery, select, visible_progress

router = APIRouter(prefix="/pop/progress/operation", tags=["progress"])


def _operations(progress: AgendaProgress) -> list[dict[str, Any]]:
    return [
        {**operation.to_wire(), "agendaProgressId": progress.id}
        for operation in progress.operation_progress or []
    ]


def _owning_progress(client: Client, operation_id: str) -> AgendaProgress | None:
    """The progress an op id ``<progressId>-<name>`` belongs to (progress ids hold hyphens, so
    each split is tried, longest progress id first)."""
    parts = operation_id.split("-")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            progress = client.status("-".join(parts[:cut]))
        except (NotFoundError, InputError):  # not stored, or an ambiguous prefix of others
            continue
        if progress.id == "-".join(parts[:cut]):
            return progress
    return None


def one_operation(client: Client, caller: Caller, operation_id: str) -> list[dict[str, Any]]:
    progress = _owning_progress(client, operation_id)
    found = (
        [item for item in _operations(progress) if item.get("id") == operation_id]
        if progress is not None
        else []
    )
    if not found or progress is None:
        raise NotFoundError(f"no operation progress with id {operation_id}")
    return found if can_see(caller, progress.customer_id) else []


@router.get("/{operation_id}")
async def get_operation(operation_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """One op's progress (an empty list if the caller may not see it; 404 when there is none)."""
    found = await client_thread(request).call(
        lambda client: one_operation(client, caller, operation_id)
    )
    return data_response(found, cid_of(request))


@router.get("")
async def query_operations(request: Request, caller: CallerDep) -> JSONResponse:
    """Op progress matching every ``by<field>`` condition (``?id=`` reads one)."""
    given = request.query_params.get("id")
    if given:
        return await get_operation(given, request, caller)
    query = ByQuery.parse(request.query_params.multi_items())
    owner = query.conditions.get("agendaProgressId")

    def read(client: Client) -> list[dict[str, Any]]:
        if owner is not None:
            try:
                progress = client.status(owner)
            except NotFoundError:
                return []
            found = [progress] if can_see(caller, progress.customer_id) else []
        else:
            found = visible_progress(client, caller, ByQuery(), {})
        return [item for progress in found for item in _operations(progress)]

    items = await client_thread(request).call(read)
    asked = ("agendaProgressId",) if owner is not None else ()
    selection = select(items, query, asked)
    if query.count_only:
        return count_response(selection.count, cid_of(request))
    return data_response(selection.items, cid_of(request))
