"""``GET /pop/events``: agenda progress as Server-Sent Events (pop's extension).

Layer: server. A ``text/event-stream`` that sends ``event: progress`` with ``data:`` = the
AgendaProgress wire JSON (as ``GET /pop/progress/agenda/{id}`` lists it) each time the progress
of an agenda the caller may see changes: its row or one of its ops' rows was written. Every
0.5 s the stream asks the store (through the client thread) for the progress whose
``updatedTime`` is at or after its cursor (:func:`pop.api.events.progress_changes`; never the
whole table). ``?agendaId=ID`` (id, progress id or unique prefix; 404 when there is none or the
caller may not see it) keeps one agenda and first sends its progress as it is; ``?linkId=L``
keeps those of one link.

Each event's ``id:`` is the time of its change (ms); a client that reconnects with
``Last-Event-ID`` gets every change at or after it (so the last one it saw may come again: at
least once, never lost). A ``: keepalive`` comment goes every 15 s. The stream ends when the
client goes, or at the next check of the token (every 5 s) once it is revoked or expired.
The dashboard's page opens it with its session cookie instead of a bearer token
(:func:`pop.server.auth.session_caller`); the session's token is checked the same way.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from pop.api.events import ProgressChange, progress_changes
from pop.errors import InputError
from pop.models import now_ms
from pop.server.auth import Caller, SessionCallerDep, TokenWatch, can_see, client_thread
from pop.server.logs import visible_agenda

router = APIRouter(tags=["extensions"])

POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
RETRY_MS = 1000


@dataclass
class Cursor:
    """Where a stream is: changes at or after ``since`` are new unless already ``sent``."""

    since: int
    sent: dict[str, int] = field(default_factory=dict)

    def fresh(self, changes: list[ProgressChange], caller: Caller) -> list[ProgressChange]:
        """The changes not sent yet that the caller may see; moves the cursor past them all."""
        out = []
        for change in changes:
            agenda_id = change.progress.agenda_id or ""
            if self.sent.get(agenda_id) == change.changed:
                continue
            self.sent[agenda_id] = change.changed
            self.since = max(self.since, change.changed)
            if can_see(caller, change.progress.customer_id):
                out.append(change)
        self.sent = {key: value for key, value in self.sent.items() if value >= self.since}
        return out


def event_text(change: ProgressChange) -> bytes:
    data = json.dumps(change.progress.to_wire(), separators=(",", ":"))
    return f"id: {change.changed}\nevent: progress\ndata: {data}\n\n".encode()


def _last_event_id(request: Request) -> int | None:
    given = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    if given is None or not given.strip():
        return None
    try:
        return int(given.strip())
    except ValueError:
        raise InputError(
            f"Last-Event-ID must be the id of an event of this stream, not {given!r}"
        ) from None


@router.get("/pop/events")
async def events(
    request: Request,
    caller: SessionCallerDep,
    agendaId: str | None = None,  # POP's spelling of the parameters
    linkId: str | None = None,
) -> StreamingResponse:
    """Progress changes of the agendas the caller may see, as they happen."""
    thread = client_thread(request)
    full_id = None
    if agendaId is not None:
        agenda = await thread.call(lambda client: visible_agenda(client, caller, agendaId))
        full_id = agenda.id
    resume = _last_event_id(request)
    cursor = Cursor(since=resume if resume is not None else now_ms())
    first: list[ProgressChange] = []
    if full_id is not None and resume is None:  # one agenda: its progress as it is, first
        found = await thread.call(lambda c: progress_changes(c, 0, agenda_id=full_id))
        first = cursor.fresh(found, caller)
    return StreamingResponse(
        _stream(request, caller, cursor, first, full_id, linkId, TokenWatch(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request,
    caller: Caller,
    cursor: Cursor,
    first: list[ProgressChange],
    agenda_id: str | None,
    link_id: str | None,
    token: TokenWatch,
) -> AsyncIterator[bytes]:
    thread = client_thread(request)
    yield f"retry: {RETRY_MS}\n\n".encode()
    for change in first:
        yield event_text(change)
    last_write = time.monotonic()
    while True:
        await asyncio.sleep(POLL_SECONDS)
        if await request.is_disconnected():
            return
        if await token.ended():
            return
        read = functools.partial(
            progress_changes, since_ms=cursor.since, agenda_id=agenda_id, link_id=link_id
        )
        for change in cursor.fresh(await thread.call(read), caller):
            yield event_text(change)
            last_write = time.monotonic()
        if time.monotonic() - last_write >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            last_write = time.monotonic()
