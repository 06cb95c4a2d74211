"""The link-group page: ``/links/{linkId}``, POP's progress summary of the agendas sharing a
``linkId`` with each member agenda.

Layer: server. The summary is the one ``POST /pop/progress/agenda/service`` answers: the link's
agendas (``Client.list(link_id=...)``) that the session's token may see (the API's ``can_see``
rule), summarised by :func:`pop.engine.summary.summarize` (POP's rules: a failed member makes the
group COMPLETE with no percent). Asked with ``Accept: application/json`` it answers that JSON.
A link with no agenda this session may see is the 404 page (JSON: a 404 ``NotFoundError``), so
another customer's link looks exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from pop.errors import NotFoundError
from pop.server.auth import client_thread
from pop.server.dashboard.pages import (
    caller_or_none,
    iso,
    not_found,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.envelope import cid_of
from pop.server.queries import link_summary

router = APIRouter(include_in_schema=False)


@router.get("/links/{link_id:path}")
async def link(link_id: str, request: Request) -> Response:
    """The progress summary of ``link_id`` and each member agenda the session may see."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    link_id = link_id.strip()
    summary = await client_thread(request).call(lambda c: link_summary(c, caller, link_id))
    members = summary.get("progressList") or []
    if not link_id or not members:
        if wants_json(request):
            raise NotFoundError(f"no agendas with linkId {link_id} that this token may see")
        return not_found(request, f"link {link_id}")
    if wants_json(request):
        return JSONResponse({**summary, "cid": cid_of(request)})
    percent = summary.get("processingPercent")
    return render(
        request,
        "links.html",
        link_id=link_id,
        state=summary.get("processingState") or "",
        percent=None if percent is None else round(float(percent)),
        members=[_member(progress) for progress in members],
    )


def _member(progress: dict[str, Any]) -> dict[str, Any]:
    """What a member's row shows of its AgendaProgress (wire JSON)."""
    started, completed = progress.get("startedTime"), progress.get("completedTime")
    return {
        "id": progress.get("agendaId") or progress.get("id") or "",
        "title": progress.get("title") or "",
        "state": progress.get("processingState") or "",
        "message": progress.get("processingStateMessage") or "",
        "percent": round(float(progress.get("percentComplete") or 0)),
        "customer": progress.get("customerId") or "",
        "started": iso(started) if started else "",
        "completed": iso(completed) if completed else "",
    }
