"""The agendas page: ``/agendas``, the agendas the session may see, newest first.

Layer: server. Asked with ``Accept: application/json`` it answers the API's progress JSON (the
envelope of ``GET /pop/progress/agenda``) for the same rows. The rows come from
:func:`pop.server.queries.progress_selection`, the very selection the API answers (one
visibility filter). Rows follow the store live through ``GET /pop/events``.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pop.api import Client
from pop.models import ProcessingState
from pop.server.auth import Caller, client_thread
from pop.server.dashboard.pages import caller_or_none, not_signed_in, render, wants_json
from pop.server.envelope import cid_of, data_response
from pop.server.queries import ByQuery, progress_selection

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
# the page's filters (query parameters) -> the API's ``by<field>`` conditions
FILTERS = {"state": "processingState", "customer": "customerId", "link": "linkId"}
ALL_ROWS = 10**9  # the selection's limit when the page slices the rows itself


def _rows(client: Client, caller: Caller, filters: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of the API's progress selection for these filters, newest first."""
    conditions = {FILTERS[name]: value for name, value in filters.items() if value}
    query = ByQuery(conditions=conditions, limit=ALL_ROWS)
    return list(reversed(progress_selection(client, caller, query).items))  # newest first


@router.get("/agendas")
async def agendas(request: Request) -> Response:
    """The agendas the session may see, newest first, by state, customer and link, 50 a
    page."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    filters = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    filters["state"] = filters["state"].upper()
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    found = await client_thread(request).call(lambda c: _rows(c, caller, filters))
    rows = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if wants_json(request):
        return data_response(rows, cid_of(request))

    def page_url(number: int) -> str:
        return "/agendas?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

    pages = max(1, -(-len(found) // PAGE_SIZE))
    return render(
        request,
        "agendas.html",
        active="agendas",
        rows=[_view(row) for row in rows],
        states=list(ProcessingState.__members__),
        filters=filters,
        page=page,
        pages=pages,
        total=len(found),
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
    )


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """What a table row shows of an AgendaProgress (wire JSON)."""
    started = row.get("startedTime")
    ended = row.get("completedTime") or (time.time() * 1000 if started else None)
    elapsed = _duration((ended - started) / 1000) if started and ended else ""
    return {
        "id": row.get("agendaId") or row.get("id") or "",
        "title": row.get("title") or "",
        "state": row.get("processingState") or "",
        "percent": round(float(row.get("percentComplete") or 0)),
        "customer": row.get("customerId") or "",
        "link": row.get("linkId") or "",
        "started": _iso(started) if started else "",
        "elapsed": elapsed,
    }


def _iso(ms: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
