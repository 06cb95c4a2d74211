"""``GET /pop/agenda/{id}/logs``: what each attempt of an agenda's ops logged (pop's extension).

Layer: server. The envelope's ``all`` lists one item per attempt, ``{"operation", "attempt",
"path", "tail", "text"}``: the first four as :meth:`pop.api.Client.logs` gives them (what ``pop
logs --json`` prints), and ``text``, the log file's last ``POP_LOG_CAP_BYTES`` bytes as read on
the server (null when the server has no such file, or when the path lies outside
``$POP_HOME/logs``: a path a remote executor reported is never read). ``?operation=OP`` keeps one
op (404 naming the ops when it has none such). ``?follow=true&operation=OP`` answers
``text/plain`` instead and sends the op's last attempt's log as it grows, like ``tail -f``,
until that attempt ends (the file and the attempt's row are read every 0.5 s).

An agenda the caller may not see is 404, as one that does not exist (:func:`visible_agenda`,
shared with :mod:`pop.server.files`). A dashboard session cookie is taken instead of a bearer
token (:func:`pop.server.auth.session_caller`): the dashboard's log viewer follows a log with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from pop.api import Client
from pop.errors import InputError, NotFoundError
from pop.models import Agenda
from pop.server.auth import Caller, SessionCallerDep, TokenWatch, can_see, client_thread
from pop.server.envelope import cid_of, data_response

router = APIRouter(prefix="/pop/agenda", tags=["extensions"])

FOLLOW_POLL_SECONDS = 0.5
READ_CHUNK_BYTES = 64 * 1024


def visible_agenda(client: Client, caller: Caller, agenda_id: str) -> Agenda:
    """The agenda ``agenda_id`` names (id, progress id or unique prefix); NotFoundError when
    there is none or the caller may not see it (the same answer, so ids do not leak)."""
    agenda = client.agenda(agenda_id)
    if not can_see(caller, agenda.customer_id):
        raise NotFoundError(f"no agenda with id {agenda_id}", hint="`pop list` shows agendas")
    return agenda


def inside(path: Path, folder: Path) -> bool:
    """Is ``path`` (symlinks resolved) ``folder`` or below it (symlinks resolved)?"""
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def read_tail(path: str | None, logs_dir: Path, cap: int) -> str | None:
    """The last ``cap`` bytes of a log file under ``logs_dir`` as text; None without one."""
    if not path or not inside(Path(path), logs_dir):
        return None
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - cap))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None


def _logs(client: Client, caller: Caller, agenda_id: str, operation: str | None) -> Any:
    agenda = visible_agenda(client, caller, agenda_id)
    items = client.logs(agenda.id or agenda_id, operation)
    return [
        {"operation": i.operation, "attempt": i.attempt, "path": i.path, "tail": i.tail}
        for i in items
    ]


@router.get("/{agenda_id}/logs", response_model=None)
async def agenda_logs(
    agenda_id: str,
    request: Request,
    caller: SessionCallerDep,
    operation: str | None = None,
    follow: bool = False,
) -> JSONResponse | StreamingResponse:
    """Each attempt's log (``?follow=true&operation=OP``: one op's log as it grows)."""
    thread = client_thread(request)
    items = await thread.call(lambda client: _logs(client, caller, agenda_id, operation))
    settings = await thread.call(lambda client: client.settings)
    if follow:
        if operation is None:
            raise InputError(
                "follow=true needs an operation", hint="GET .../logs?operation=OP&follow=true"
            )
        full_id = await thread.call(lambda client: client.resolve_id(agenda_id))
        return StreamingResponse(
            _follow(request, full_id, operation, settings.logs_dir, settings.log_cap_bytes),
            media_type="text/plain; charset=utf-8",
        )
    for item in items:
        item["text"] = await asyncio.to_thread(
            read_tail, item["path"], settings.logs_dir, settings.log_cap_bytes
        )
    return data_response(items, cid_of(request))


def _last_attempt(client: Client, agenda_id: str, operation: str) -> tuple[Any, bool]:
    """The op's last attempt row (None before its first) and whether the agenda is COMPLETE."""
    rows = [row for row in client.attempts(agenda_id) if row["operation"] == operation]
    state = client.status(agenda_id).processing_state
    complete = getattr(state, "value", state) == "COMPLETE"
    return (rows[-1] if rows else None), complete


async def _follow(
    request: Request, agenda_id: str, operation: str, logs_dir: Path, cap: int
) -> AsyncIterator[bytes]:
    """The op's last attempt's log from its last ``cap`` bytes on, as it grows, until the
    attempt ends (or, before any attempt, until the agenda is COMPLETE)."""
    thread = client_thread(request)
    token = TokenWatch(request)
    followed: int | None = None  # the attempt's row id once one is seen
    offset: int | None = None
    while True:
        try:
            row, complete = await thread.call(lambda c: _last_attempt(c, agenda_id, operation))
        except NotFoundError:
            return  # the agenda was deleted meanwhile
        if followed is None and row is not None:
            followed = row["id"]
        if followed is not None and row is not None and row["id"] != followed:
            return  # the followed attempt ended and a retry started
        ended = row is not None and row["endedTime"] is not None
        if row is not None and row["logPath"] and inside(Path(row["logPath"]), logs_dir):
            chunk, offset = await asyncio.to_thread(_read_from, row["logPath"], offset, cap)
            if chunk:
                yield chunk
        if ended or (row is None and complete):
            return
        if await request.is_disconnected() or await token.ended():
            return  # the reader went, or its token was revoked or expired
        await asyncio.sleep(FOLLOW_POLL_SECONDS)


def _read_from(path: str, offset: int | None, cap: int) -> tuple[bytes, int | None]:
    """What the file holds past ``offset`` (None: its last ``cap`` bytes) and the new offset."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            start = max(0, size - cap) if offset is None else min(offset, size)
            handle.seek(start)
            chunks = []
            while True:
                chunk = handle.read(READ_CHUNK_BYTES)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks)
            return data, start + len(data)
    except OSError:
        return b"", offset
