"""``/pop/resourcepool/service/{startAttempt,recordLaunch,appendLog,endAttempt}``: pop's
extension routes through which a remote executor writes its attempt rows, launch records, op logs
and output tails to the server (issue 13 item 6), so ``pop logs`` and ``pop outputs`` on the
server show a remote run as they show a local one.

Layer: server. Each route reads its JSON body, checks that the caller owns the agenda's insight
(:func:`pop.server.pool.require_insight`: a global token or an executor token listing it; 403
otherwise) and calls one method of :class:`pop.api.pool_attempts.PoolAttemptsMixin` in one call
on the client thread; every write renews the lease of ``executorId`` and is refused with 409
(``ConflictError``) when that executor no longer holds it, as ``updateAgendaProgress`` is.

- ``POST startAttempt`` ``{agendaId, executorId, number, operation?, runtime?, launched?}``:
  opens an attempt row (no ``operation``: the agenda's own attempt) and answers ``{attempt}``,
  the row (``attempt.id`` is the ``attemptId`` of the other routes; ``attempt.logPath`` the
  server's log file). A resend while the row is open answers the same row.
- ``POST recordLaunch`` ``{attemptId, executorId, launched}``: what the attempt launched.
- ``POST appendLog`` ``{attemptId, executorId, offset, text}``: ``text`` written at byte
  ``offset`` of the attempt's log on the server (bytes it has are skipped), capped at
  ``POP_LOG_CAP_BYTES``; answers ``{size}``.
- ``POST endAttempt`` ``{attemptId, executorId, outcome, exitCode?, message?, outputTail?}``:
  ends the attempt (once) and stores the op's output tail; answers ``{attempt}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.api.pool_attempts import attempt_id_of
from pop.api.pool_lease import check_owner
from pop.server.auth import Caller, CallerDep, client_thread
from pop.server.bodies import json_object, required_text
from pop.server.envelope import cid_of
from pop.server.pool import require_insight

ROUTER_ORDER = 10  # fixed paths: before a pattern such as /pop/resourcepool/{id}

router = APIRouter(prefix="/pop/resourcepool/service", tags=["resourcepool"])

T = TypeVar("T")


def _answer(payload: dict[str, Any], request: Request) -> JSONResponse:
    return JSONResponse({**payload, "cid": cid_of(request)})


async def _for_attempt(
    request: Request, caller: Caller, attempt_id: int, function: Callable[[Client], T]
) -> T:
    """``function(client)`` once the caller is found to own the insight of the attempt's
    agenda (one call on the client thread)."""

    def checked(client: Client) -> T:
        require_insight(caller, client.pool_attempt_insight(attempt_id))
        return function(client)

    return await client_thread(request).call(checked)


@router.post("/startAttempt")
async def start_attempt(request: Request, caller: CallerDep) -> JSONResponse:
    """Open an attempt row of a leased agenda (pop's extension)."""
    body = await json_object(request)
    agenda_id = required_text(body, "agendaId", "agendaId is required on startAttempt (a string)")
    owner = check_owner(body.get("executorId"))

    def start(client: Client) -> dict[str, Any]:
        require_insight(caller, client.pool_insight_of(agenda_id))
        return client.pool_start_attempt(
            agenda_id,
            owner=owner,
            operation=body.get("operation"),
            number=body.get("number"),  # type: ignore[arg-type]  # checked by the api
            runtime=body.get("runtime"),
            launched=body.get("launched"),
        )

    attempt = await client_thread(request).call(start)
    return _answer({"attempt": attempt}, request)


@router.post("/recordLaunch")
async def record_launch(request: Request, caller: CallerDep) -> JSONResponse:
    """What an attempt launched (pop's extension)."""
    body = await json_object(request)
    attempt_id = attempt_id_of(body.get("attemptId"))
    owner = check_owner(body.get("executorId"))

    def record(client: Client) -> dict[str, Any]:
        return client.pool_record_launch(attempt_id, body.get("launched"), owner=owner)  # type: ignore[arg-type]

    return _answer({"attempt": await _for_attempt(request, caller, attempt_id, record)}, request)


@router.post("/appendLog")
async def append_log(request: Request, caller: CallerDep) -> JSONResponse:
    """A chunk of an op's log (pop's extension)."""
    body = await json_object(request)
    attempt_id = attempt_id_of(body.get("attemptId"))
    owner = check_owner(body.get("executorId"))

    def append(client: Client) -> int:
        return client.pool_append_log(
            attempt_id,
            body.get("text"),  # type: ignore[arg-type]
            offset=body.get("offset"),  # type: ignore[arg-type]
            owner=owner,
        )

    return _answer({"size": await _for_attempt(request, caller, attempt_id, append)}, request)


@router.post("/endAttempt")
async def end_attempt(request: Request, caller: CallerDep) -> JSONResponse:
    """End an attempt and store its op's output tail (pop's extension)."""
    body = await json_object(request)
    attempt_id = attempt_id_of(body.get("attemptId"))
    owner = check_owner(body.get("executorId"))

    def end(client: Client) -> dict[str, Any]:
        return client.pool_end_attempt(
            attempt_id,
            owner=owner,
            outcome=body.get("outcome"),  # type: ignore[arg-type]
            exit_code=body.get("exitCode"),
            message=body.get("message") or "",
            output_tail=body.get("outputTail"),
        )

    return _answer({"attempt": await _for_attempt(request, caller, attempt_id, end)}, request)
