"""The agendas page: ``/agendas``, the agendas the session may see, newest first, 50 a page;
``/agendas/row/{id}``, one row of it (the page's script asks it for an agenda that appears).

Layer: server. The rows come from :func:`pop.server.queries.progress_page`, which uses the
visibility of the API's selections (:func:`pop.server.queries.visible_customers`) and lets the
store page and count in SQL. Filters: ``state``, ``customer``, ``link`` (the API's
``processingState``, ``customerId``, ``linkId``), ``type`` (agendas with an op of that type) and
``q`` (a case-insensitive substring of the agenda id, its title or an op name). Asked with
``Accept: application/json`` both answer the API's progress JSON (the envelope of
``GET /pop/progress/agenda``) for the same rows. Rows follow the store live through
``GET /pop/events`` (static/dashboard.js).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pop.api import Client
from pop.errors import PopError
from pop.models import ProcessingState
from pop.server.auth import Caller, client_thread
from pop.server.dashboard.pages import (
    caller_or_none,
    duration,
    iso,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.envelope import cid_of, data_response
from pop.server.queries import Page, progress_page

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# the page's filters (query parameters) the API also has -> the API's ``by<field>`` conditions
FILTERS = {"state": "processingState", "customer": "customerId", "link": "linkId"}
# the page's own filters: an op type, a text searched in ids, titles and op names
SEARCHES = ("type", "q")


def _filters(request: Request) -> dict[str, str]:
    """Every filter of the request (empty when not given), ``state`` upper-cased."""
    found = {name: request.query_params.get(name, "").strip() for name in (*FILTERS, *SEARCHES)}
    found["state"] = found["state"].upper()
    return found


def _page(
    client: Client, caller: Caller, filters: dict[str, str], *, page: int = 1, agenda_id: str = ""
) -> Page:
    """One page of the rows matching ``filters`` (only ``agenda_id``'s when given)."""
    conditions = {FILTERS[name]: filters[name] for name in FILTERS if filters[name]}
    return progress_page(
        client,
        caller,
        conditions,
        op_type=filters["type"] or None,
        text=filters["q"] or None,
        agenda_id=agenda_id or None,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )


def _op_types(client: Client) -> list[str]:
    """The op types of the server's registry (none when it cannot be read: the page still
    lists agendas; submitting shows the registry's problem)."""
    try:
        return client.registry.types()
    except PopError:
        return []


@router.get("/agendas")
async def agendas(request: Request) -> Response:
    """The agendas the session may see, newest first, filtered, 50 a page."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    filters = _filters(request)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    found, types = await client_thread(request).call(
        lambda c: (_page(c, caller, filters, page=page), _op_types(c))
    )
    if wants_json(request):
        return data_response(found.items, cid_of(request))

    def page_url(number: int) -> str:
        return "/agendas?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

    pages = max(1, -(-found.total // PAGE_SIZE))
    if filters["type"] and filters["type"] not in types:
        types = [*types, filters["type"]]  # asked for: kept selected (it matches nothing)
    return render(
        request,
        "agendas.html",
        active="agendas",
        rows=[_view(row) for row in found.items],
        states=list(ProcessingState.__members__),
        types=types,
        filters=filters,
        page=page,
        pages=pages,
        page_size=PAGE_SIZE,
        total=found.total,
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
    )


@router.get("/agendas/row/{agenda_id}")
async def agenda_row(agenda_id: str, request: Request) -> Response:
    """The agendas page's row of one agenda (full id) when the session may see it and it
    matches the page's filters (the same query parameters); 204 otherwise."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    filters = _filters(request)
    found = await client_thread(request).call(
        lambda c: _page(c, caller, filters, agenda_id=agenda_id)
    )
    if wants_json(request):
        return data_response(found.items, cid_of(request))
    if not found.items:
        return Response(status_code=204)
    return render(request, "agendas_row.html", row=_view(found.items[0]))


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """What a table row shows of an AgendaProgress (wire JSON)."""
    started = row.get("startedTime")
    ended = row.get("completedTime") or (time.time() * 1000 if started else None)
    elapsed = duration((ended - started) / 1000) if started and ended else ""
    agenda_id = row.get("agendaId") or row.get("id") or ""
    link = row.get("linkId") or ""
    return {
        "id": agenda_id,
        "url": "/agendas/" + quote(agenda_id, safe=""),
        "title": row.get("title") or "",
        "state": row.get("processingState") or "",
        "percent": round(float(row.get("percentComplete") or 0)),
        "customer": row.get("customerId") or "",
        "link": link,
        "link_url": "/links/" + quote(link, safe="") if link else "",
        "added": int(row.get("addedTime") or 0),
        "started": iso(started) if started else "",
        "elapsed": elapsed,
    }
