"""``/pop/resourcepool/service/...``: POP's ResourcePool service for executors that pull work
(POP-REFERENCE §§7, 9.8-9.10), plus pop's heartbeat.

Layer: server. Each route reads its JSON body, checks that the caller owns the insight
(``TokenInfo.owns_insight``: a global token, or an executor token listing the insight; 403
naming the insight otherwise) and calls one method of :class:`pop.api.pool.PoolMixin`, all in
one call on the client thread. Answers are POP's service envelope ``{"cid", ...payload}``
(errors ``{"errorResponse", "cid"}``); the agenda feed of ``getAgenda`` is given both as ``all``
and ``agendas`` (§2.2).

- ``POST getAgenda`` ``{insightId, count, executorId}``: claims up to ``count`` agendas under
  the lease of ``executorId`` (pop's addition: claims are leases). Answers ``{all, agendas,
  agendaProgresses, count, executorId, cid}``; an agenda whose ops already ran comes with its
  progress (paired by ``agenda.progressId``). pop's extension field ``lostLaunches``: the
  attempt rows of those agendas whose executor died with launches recorded (never ended, or
  ended ``lost``), which the claiming executor stops before it runs the agenda.
- ``POST updateAgendaProgress`` ``{agendaProgress, executorId}``: POP's whitelisted report;
  renews the lease. Answers ``{agendaId, agendaProgressId, executorId, leaseExpiresTime,
  cancelRequested, cid}``; 409 (``ConflictError``) when the executor no longer holds the lease.
- ``POST updateAgenda`` ``{agendaId, operations, params, executorId}``: appends generated ops.
  Answers ``{agenda, cid}``.
- ``POST heartbeat`` ``{agendaId, executorId}`` (pop's extension): renews the lease; answers as
  updateAgendaProgress does.

``createAgenda`` (bulk create by a resource pool's identity, §9.3) is
:mod:`pop.server.create_agenda`; the attempt and log routes are :mod:`pop.server.attempts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.api.pool_lease import check_owner
from pop.errors import ForbiddenError, InputError
from pop.models.validation import json_kind
from pop.server.auth import Caller, CallerDep, client_thread
from pop.server.bodies import json_object, required_text
from pop.server.envelope import cid_of

ROUTER_ORDER = 10  # fixed paths: before a pattern such as /pop/resourcepool/{id}

router = APIRouter(prefix="/pop/resourcepool/service", tags=["resourcepool"])

T = TypeVar("T")


def require_insight(caller: Caller, insight_id: str) -> None:
    """ForbiddenError (403) naming the insight unless the caller may pull and report for it:
    a global caller (``--no-auth`` too), or a token whose ``owns_insight`` says so."""
    if caller.is_global:
        return
    owns: Callable[[str], bool] | None = getattr(caller, "owns_insight", None)
    if owns is None or not owns(insight_id):
        raise ForbiddenError(
            f"this token may not pull or report for insight {insight_id}",
            hint="an executor token for it: pop token add --executor --insight " + insight_id,
        )


def _service(payload: dict[str, Any], request: Request) -> JSONResponse:
    return JSONResponse({**payload, "cid": cid_of(request)})


async def _call(request: Request, function: Callable[[Client], T]) -> T:
    return await client_thread(request).call(function)


async def _for_agenda(
    request: Request, caller: Caller, agenda_id: str, function: Callable[[Client], T]
) -> T:
    """``function(client)`` on the client thread once the caller is found to own the insight
    of agenda ``agenda_id`` (one call: the check and the change see the same store)."""

    def checked(client: Client) -> T:
        require_insight(caller, client.pool_insight_of(agenda_id))
        return function(client)

    return await _call(request, checked)


@router.post("/getAgenda")
async def get_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Claim up to ``count`` agendas of ``insightId`` under the lease of ``executorId``."""
    body = await json_object(request)
    insight_id, count = body.get("insightId"), body.get("count")
    if insight_id is None and count is None:
        raise InputError("insightId and count are required on getAgenda")
    if not isinstance(insight_id, str) or not insight_id.strip():
        raise InputError("insightId is required to getAgenda (a string)")
    if count is None:
        raise InputError("count is required to getAgenda")
    owner = check_owner(body.get("executorId"))
    require_insight(caller, insight_id.strip())

    def claim(client: Client) -> tuple[list[tuple[Any, Any]], list[dict[str, Any]]]:
        handed = client.get_agenda(insight_id=insight_id, count=count, owner=owner)
        lost = [row for agenda, _ in handed for row in client.pool_lost_launches(agenda.id or "")]
        return handed, lost

    handed, lost = await _call(request, claim)
    agendas = [agenda.to_wire() for agenda, _ in handed]
    progresses = [progress.to_wire() for _, progress in handed if progress is not None]
    return _service(
        {
            "all": agendas,
            "agendas": agendas,
            "agendaProgresses": progresses,
            "lostLaunches": lost,
            "count": len(agendas),
            "executorId": owner,
        },
        request,
    )


@router.post("/updateAgendaProgress")
async def update_agenda_progress(request: Request, caller: CallerDep) -> JSONResponse:
    """An executor's progress report (POP's whitelist); renews its lease."""
    body = await json_object(request)
    progress = body.get("agendaProgress")
    if not isinstance(progress, dict):
        raise InputError(
            "agendaProgress is required: a JSON object"
            + ("" if progress is None else f", not {json_kind(progress)}")
        )
    given_id = required_text(progress, "id", "agendaProgress.id is required (a string)")
    owner = check_owner(body.get("executorId"))

    def report(client: Client) -> dict[str, Any]:
        return client.update_agenda_progress(progress, owner=owner).to_wire()

    return _service(await _for_agenda(request, caller, given_id, report), request)


@router.post("/updateAgenda")
async def update_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Append generated operations to a running agenda."""
    body = await json_object(request)
    agenda_id = required_text(
        body, "agendaId", "agendaId is required on an updateAgenda request (a string)"
    )
    owner = check_owner(body.get("executorId"))

    def append(client: Client) -> dict[str, Any]:
        return client.update_agenda(body, owner=owner).to_wire()

    return _service({"agenda": await _for_agenda(request, caller, agenda_id, append)}, request)


@router.post("/heartbeat")
async def heartbeat(request: Request, caller: CallerDep) -> JSONResponse:
    """Renew the lease of a running agenda (pop's extension); answers ``cancelRequested``."""
    body = await json_object(request)
    agenda_id = required_text(body, "agendaId", "agendaId is required on a heartbeat (a string)")
    owner = check_owner(body.get("executorId"))

    def renew(client: Client) -> dict[str, Any]:
        return client.heartbeat(agenda_id, owner=owner).to_wire()

    return _service(await _for_agenda(request, caller, agenda_id, renew), request)
