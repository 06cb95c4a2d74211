"""``POST /pop/resourcepool/service/createAgenda``: bulk agenda creation by the owner of the
insights they go to (POP-REFERENCE §9.3).

Layer: server. The body is ``{"agendas": [...]}``; each agenda that is not null is submitted as
``POST /pop/agenda`` submits it (:meth:`pop.api.Client.submit`: validation, insight selection,
storage and queueing, all or nothing for that agenda), with one more rule: the **caller** must
own the insight the agenda is routed to. A global token owns every insight; an executor token
the insights it lists; a customer token the insights whose ``customerId`` is one of its
customers (POP's plain ``Customer`` rule on the insight). Otherwise that agenda fails with 403
(``ForbiddenError`` naming the insight) and nothing of it is stored.

Whose agenda it is: its ``customerId``, which a global or executor token must give (they create
for the customers their insights serve, as POP's resource-pool identity does); a customer token
may leave it out (its single customer) and may name only its own customers (403 otherwise).

The answer lists the created agendas as ``agendas`` and ``all`` (with ``count``). When some
failed, it also carries POP's ``errorResponse`` whose description is ``[title : description]``
per failure; its ``responseCode`` (the HTTP status) is the failures' common status, else 400,
and its ``title`` their common error class, else ``PopError``. So a partial success is not 2xx:
read ``agendas`` for what was created. An empty or null list is an empty success.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.api.events import routed_insight
from pop.engine.input_paths import PathPolicy
from pop.errors import ForbiddenError, InputError, NotFoundError, PopError
from pop.models import AgendaInsight
from pop.models.validation import json_kind
from pop.server.auth import (
    Caller,
    CallerDep,
    actor_of,
    can_see,
    client_thread,
    drop_client_dir,
    path_policy,
)
from pop.server.bodies import json_object
from pop.server.envelope import cid_of, status_of

ROUTER_ORDER = 10  # a fixed path: before /pop/resourcepool/{id}

router = APIRouter(prefix="/pop/resourcepool/service", tags=["resourcepool"])


def agenda_customer(caller: Caller, given: object) -> str:
    """The ``customerId`` a created agenda gets (see the module's rules)."""
    if given is not None and (not isinstance(given, str) or not given.strip()):
        raise InputError("customerId must be a non-blank string")
    if isinstance(given, str):
        if can_see(caller, given) or getattr(caller, "kind", None) == "executor":
            return given
        raise ForbiddenError(f"this token may not act for customerId {given}")
    if caller.single_customer is not None:
        return caller.single_customer
    raise InputError(
        "the customerId field must be specified: this token is not limited to one customer"
    )


def require_owned_insight(client: Client, caller: Caller, insight: AgendaInsight) -> None:
    """ForbiddenError (403) naming the insight unless the caller owns it."""
    insight_id = insight.insight_id or ""
    if caller.is_global:
        return
    owns: Callable[[str], bool] | None = getattr(caller, "owns_insight", None)
    if owns is not None and owns(insight_id):
        return
    try:
        owner = getattr(client.facility_get("insight", insight_id), "customer_id", None)
    except NotFoundError:
        owner = None
    if owner is not None and caller.can_see_customer(owner):
        return
    raise ForbiddenError(
        f"this token may not create agendas for insight {insight_id}",
        hint="a global token, an executor token for the insight, or a token of its customer",
    )


def create_one(
    client: Client, caller: Caller, document: Any, cid: str, paths: PathPolicy
) -> dict[str, Any]:
    """Check and submit one agenda (its input paths by ``paths``); its stored wire JSON."""
    if not isinstance(document, dict):
        raise InputError(f"each agenda must be a JSON object, not {json_kind(document)}")
    customer_id = agenda_customer(caller, document.get("customerId"))
    require_owned_insight(client, caller, routed_insight(client, document, customer_id))
    if document.get("cid") is None:
        document = {**document, "cid": cid}
    document = dict(document)
    drop_client_dir(caller, document)
    submission = client.submit(
        document, customer_id=customer_id, actor=actor_of(caller), cid=cid, paths=paths
    )
    return submission.agenda.to_wire()


def create_all(
    client: Client, caller: Caller, documents: list[Any], cid: str, paths: PathPolicy
) -> tuple[list[dict[str, Any]], list[PopError]]:
    created, failed = [], []
    for document in documents:
        if document is None:
            continue
        try:
            created.append(create_one(client, caller, document, cid, paths))
        except PopError as error:
            failed.append(error)
    return created, failed


@router.post("/createAgenda")
async def create_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Submit each agenda of ``{"agendas": [...]}`` routed to an insight the caller owns."""
    cid = cid_of(request)
    body = await json_object(request, what="the createAgenda request", named="the request")
    documents = body.get("agendas")
    if documents is None:
        documents = []
    if not isinstance(documents, list):
        raise InputError(f"agendas must be a JSON array, not {json_kind(documents)}")
    paths = path_policy(request, caller)
    created, failed = await client_thread(request).call(
        lambda client: create_all(client, caller, documents, cid, paths)
    )
    answer: dict[str, Any] = {"agendas": created, "all": created, "count": len(created)}
    status = 200
    if failed:
        statuses = {status_of(error) for error in failed}
        titles = {type(error).__name__ for error in failed}
        status = statuses.pop() if len(statuses) == 1 else 400
        answer["errorResponse"] = {
            "title": titles.pop() if len(titles) == 1 else PopError.__name__,
            "description": "; ".join(
                f"[{type(error).__name__} : {error.message}]" for error in failed
            ),
            "responseCode": status,
            "correlationId": cid,
        }
    return JSONResponse({**answer, "cid": cid}, status_code=status)
