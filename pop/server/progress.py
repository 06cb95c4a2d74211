"""``/pop/progress/agenda``: an agenda's progress and progress queries (POP-REFERENCE §§1.5,
2.3).

Layer: server. ``GET /pop/progress/agenda/{id}`` answers the AgendaProgress with its
``operationProgress``, the very JSON ``pop status ID --json`` prints; the id may be an agenda id,
a progress id or a unique prefix of either. ``GET /pop/progress/agenda?by<field>=...`` answers
what ``pop list --json`` would (``bycustomerId``, ``bylinkId``, ``byprocessingState``,
``bylimit``, ``bycount``, any other field compared on the JSON). Other customers' progress is
left out silently.

``DELETE /pop/progress/agenda/{id}`` deletes the agenda with its progress (pop keeps the two
together: a progress without its agenda could never run or be shown) and answers the deleted
progress; an empty success when there is none, 409 while an executor runs it, 403 for another
customer's. ``PUT`` is not offered (405): progress is written by the executors that run the
agenda, and ``POST /pop/agenda/service/rerun`` or ``.../cancel`` change it on purpose.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import NotFoundError
from pop.server.auth import Caller, CallerDep, can_see, client_thread, require_customer
from pop.server.crud import (
    collection_id,
    deleted_response,
    one_or_query_response,
    one_response,
)
from pop.server.queries import progress_selection

router = APIRouter(prefix="/pop/progress/agenda", tags=["progress"])


@router.get("/{agenda_id}")
async def get_progress(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """An agenda's progress (an empty list if the caller may not see it; 404 when there is
    none)."""
    return await one_response(request, caller, agenda_id, one_progress)


@router.get("")
async def query_progress(request: Request, caller: CallerDep) -> JSONResponse:
    """Progress records matching every ``by<field>`` condition (``?id=`` reads one)."""
    return await one_or_query_response(request, caller, one_progress, progress_selection)


def one_progress(client: Client, caller: Caller, agenda_id: str) -> list[dict[str, Any]]:
    progress = client.status(agenda_id)
    return [progress.to_wire()] if can_see(caller, progress.customer_id) else []


@router.delete("/{agenda_id}")
async def delete_progress(agenda_id: str, request: Request, caller: CallerDep) -> JSONResponse:
    """Delete an agenda's progress and the agenda (empty when there is none; 409 while it
    runs)."""

    def delete(client: Client) -> list[dict[str, Any]]:
        try:
            progress = client.status(agenda_id)
        except NotFoundError:
            return []  # POP: deleting what is not there succeeds, empty
        require_customer(caller, progress.customer_id or "default")
        client.agenda_delete(progress.agenda_id or agenda_id)
        return [progress.to_wire()]

    return deleted_response(request, await client_thread(request).call(delete))


@router.delete("")
async def delete_by_query(request: Request, caller: CallerDep) -> JSONResponse:
    """DELETE with the id in ``?id=`` or the body."""
    return await delete_progress(await collection_id(request, "agenda progress"), request, caller)
