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
  progress (paired by ``agenda.progressId``).
- ``POST updateAgendaProgress`` ``{agendaProgress, executorId}``: POP's whitelisted report;
  renews the lease. Answers ``{agendaId, agendaProgressId, executorId, leaseExpiresTime,
  cancelRequested, cid}``; 409 (``ConflictError``) when the executor no longer holds the lease.
- ``POST updateAgenda`` ``{agendaId, operations, params, executorId}``: appends generated ops.
  Answers ``{agenda, cid}``.
- ``POST heartbeat`` ``{agendaId, executorId}`` (pop's extension): renews the lease; answers as
  updateAgendaProgress does.

``createAgenda`` (bulk create by a resource pool's identity, §9.3) is not built yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.api.pool import check_owner
from pop.errors import ForbiddenError, InputError
from pop.models.validation import json_kind
from pop.server.auth import Caller, CallerDep, client_thread
from pop.server.bodies import json_body
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


async def _body(request: Request) -> dict[str, Any]:
    document = await json_body(request)
    if not isinstance(document, dict):
        raise InputError(f"the request must be a JSON object, not {json_kind(document)}")
    return document


def _service(payload: dict[str, Any], request: Request) -> JSONResponse:
    return JSONResponse({**payload, "cid": cid_of(request)})


async def _call(request: Request, function: Callable[[Client], T]) -> T:
    return await client_thread(request).call(function)


@router.post("/getAgenda")
async def get_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Claim up to ``count`` agendas of ``insightId`` under the lease of ``executorId``."""
    body = await _body(request)
    insight_id, count = body.get("insightId"), body.get("count")
    if insight_id is None and count is None:
        raise InputError("insightId and count are required on getAgenda")
    if not isinstance(insight_id, str) or not insight_id.strip():
        raise InputError("insightId is required to getAgenda (a string)")
    if count is None:
        raise InputError("count is required to getAgenda")
    owner = check_owner(body.get("executorId"))
    require_insight(caller, insight_id.strip())

    def claim(client: Client) -> list[tuple[Any, Any]]:
        return client.get_agenda(insight_id=insight_id, count=count, owner=owner)

    handed = await _call(request, claim)
    agendas = [agenda.to_wire() for agenda, _ in handed]
    progresses = [progress.to_wire() for _, progress in handed if progress is not None]
    return _service(
        {
            "all": agendas,
            "agendas": agendas,
            "agendaProgresses": progresses,
            "count": len(agendas),
            "executorId": owner,
        },
        request,
    )


@router.post("/updateAgendaProgress")
async def update_agenda_progress(request: Request, caller: CallerDep) -> JSONResponse:
    """An executor's progress report (POP's whitelist); renews its lease."""
    body = await _body(request)
    progress = body.get("agendaProgress")
    if not isinstance(progress, dict):
        raise InputError(
            "agendaProgress is required: a JSON object"
            + ("" if progress is None else f", not {json_kind(progress)}")
        )
    given_id = progress.get("id")
    if not isinstance(given_id, str) or not given_id.strip():
        raise InputError("agendaProgress.id is required (a string)")
    owner = check_owner(body.get("executorId"))

    def report(client: Client) -> dict[str, Any]:
        require_insight(caller, client.pool_insight_of(given_id))
        return client.update_agenda_progress(progress, owner=owner).to_wire()

    return _service(await _call(request, report), request)


@router.post("/updateAgenda")
async def update_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Append generated operations to a running agenda."""
    body = await _body(request)
    agenda_id = body.get("agendaId")
    if not isinstance(agenda_id, str) or not agenda_id.strip():
        raise InputError("agendaId is required on an updateAgenda request (a string)")
    owner = check_owner(body.get("executorId"))

    def append(client: Client) -> dict[str, Any]:
        require_insight(caller, client.pool_insight_of(agenda_id))
        return client.update_agenda(body, owner=owner).to_wire()

    return _service({"agenda": await _call(request, append)}, request)


@router.post("/heartbeat")
async def heartbeat(request: Request, caller: CallerDep) -> JSONResponse:
    """Renew the lease of a running agenda (pop's extension); answers ``cancelRequested``."""
    body = await _body(request)
    agenda_id = body.get("agendaId")
    if not isinstance(agenda_id, str) or not agenda_id.strip():
        raise InputError("agendaId is required on a heartbeat (a string)")
    owner = check_owner(body.get("executorId"))

    def renew(client: Client) -> dict[str, Any]:
        require_insight(caller, client.pool_insight_of(agenda_id))
        return client.heartbeat(agenda_id, owner=owner).to_wire()

    return _service(await _call(request, renew), request)
