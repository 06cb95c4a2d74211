"""POP's agenda services over HTTP (POP-REFERENCE §§3.6, 9.5, 9.6, 9.11) and pop's cancel.

Layer: server. ``ROUTER_ORDER = 10``: these fixed paths come before ``/pop/agenda/{id}``.

- ``POST /pop/agenda/service/run`` ``{"agendaTemplateId", "payload"}``: the template (one the
  caller may read) filled from ``payload`` (POP's string of JSON, or pop's JSON value), checked
  like a submission, stored and queued (pop's extension: an optional ``linkId`` in the
  body links it); ``?dryRun=true`` answers the filled agenda and stores
  nothing. Answer ``{"agendas": [agenda], "all": [agenda], "count": 1}``.
- ``POST /pop/agenda/service/rerun`` ``{"agendaId", "params": ["resetAll" | "continue" |
  "skipExecution" | "operationsToReset=a,b"]}``: ``Client.rerun``; answer
  ``{"agendaProgress": ...}``.
- ``POST /pop/agenda/service/cancel`` ``{"agendaId"}`` (pop's extension): ``Client.cancel``;
  answer ``{"agendaProgress": ...}``.
- ``POST /pop/progress/agenda/service`` ``{"linkId"}``: the progress summary over the agendas
  of that link the caller may see: ``{"progressList", "processingState", "processingPercent"}``
  (no ``processingPercent`` when one failed).

Rerun and cancel change an agenda, so the caller must be allowed its customer (403 naming it).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.engine.input_paths import PathPolicy
from pop.errors import InputError, NotFoundError
from pop.models import Agenda, AgendaProgress
from pop.server.auth import (
    Caller,
    CallerDep,
    actor_of,
    client_thread,
    path_policy,
    require_customer,
    submission_customer,
)
from pop.server.bodies import required_text
from pop.server.crud import object_body
from pop.server.envelope import cid_of
from pop.server.queries import link_summary
from pop.server.templates import readable

ROUTER_ORDER = 10

router = APIRouter(tags=["services"])

RERUN_FLAGS = ("resetAll", "continue", "skipExecution")


def payload_value(value: Any) -> Any:
    """POP sends the payload as a string of JSON; pop also takes the JSON value itself."""
    if value is None:
        raise InputError("agendaTemplateId and payload must be specified")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"unable to parse the payload as JSON: {exc.msg} at column {exc.colno}"
            ) from None
    return value


def fill_template(
    client: Client,
    caller: Caller,
    template_id: str,
    payload: Any,
    *,
    link_id: str | None,
    dry_run: bool,
    paths: PathPolicy,
    cid: str,
) -> Agenda:
    """What ``POST /pop/agenda/service/run`` does (the dashboard's template page too): the
    template (one the caller may read; NotFoundError otherwise) filled from ``payload`` and
    checked like a submission, with its customer; stored and queued unless ``dry_run``."""
    template = client.template_get(template_id)
    if not readable(caller, template):
        raise NotFoundError(f"no template with id {template_id}")
    agenda = client.template_expand(template.id or template_id, payload, paths=paths)
    # the filled agenda's customer, else the token's own one, else the template's
    fallback = None if caller.single_customer else template.customer_id
    customer_id = submission_customer(caller, agenda.customer_id or fallback)
    agenda.set(customer_id=customer_id, cid=agenda.cid or cid)
    if dry_run:
        if link_id is not None:
            agenda.set(link_id=link_id)
        return agenda
    return client.submit_expanded(
        agenda, customer_id=customer_id, link_id=link_id, actor=actor_of(caller), cid=cid
    ).agenda


@router.post("/pop/agenda/service/run")
async def run_template(request: Request, caller: CallerDep) -> JSONResponse:
    """Fill a template from a payload and submit the agenda (``?dryRun=true``: only fill)."""
    document = await object_body(request, "run request")
    template_id = required_text(
        document, "agendaTemplateId", "agendaTemplateId and payload must be specified"
    ).strip()
    payload = payload_value(document.get("payload"))
    link_id = document.get("linkId")
    if link_id is not None and not isinstance(link_id, str):
        raise InputError("linkId must be a string")
    dry_run = request.query_params.get("dryRun", "").strip().lower() == "true"
    cid, paths = cid_of(request), path_policy(request, caller)
    agenda = await client_thread(request).call(
        lambda client: fill_template(
            client,
            caller,
            template_id,
            payload,
            link_id=link_id,
            dry_run=dry_run,
            paths=paths,
            cid=cid,
        )
    )
    wire = agenda.to_wire()
    return JSONResponse({"agendas": [wire], "all": [wire], "count": 1, "cid": cid})


def rerun_options(params: Any) -> dict[str, Any]:
    """``Client.rerun``'s options from POP's rerun ``params`` (§9.6): each string split at its
    first ``=``; names exact; unknown names, nulls and empty strings ignored."""
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InputError('params must be a list of strings such as "operationsToReset=a,b"')
    given: dict[str, str | None] = {}
    for item in params:
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            raise InputError(f"params must be strings, not {json.dumps(item)}")
        name, equals, value = item.partition("=")
        given[name] = value if equals else None
    options: dict[str, Any] = {"skip_execution": "skipExecution" in given}
    if "operationsToReset" in given:
        names = [part for part in (given["operationsToReset"] or "").split(",") if part.strip()]
        if not names:
            raise InputError("params is invalid - operationsToReset has no operations specified")
        options["reset"] = [name.strip() for name in names]
    elif "continue" in given:
        options["keep"] = True
    else:
        options["reset_all"] = True
    return options


def _owned_agenda(client: Client, caller: Caller, agenda_id: str) -> str:
    """The full id of an agenda the caller may change (403 naming its customer otherwise)."""
    agenda = client.agenda(agenda_id)
    require_customer(caller, agenda.effective_customer_id)
    return agenda.id or agenda_id


@router.post("/pop/agenda/service/rerun")
async def rerun_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """Reset ops of an agenda (all, some and their dependents, or none) and queue it again."""
    document = await object_body(request, "rerun request")
    agenda_id = required_text(document, "agendaId", "agendaId must be specified").strip()
    options = rerun_options(document.get("params"))

    actor, cid = actor_of(caller), cid_of(request)

    def rerun(client: Client) -> AgendaProgress:
        full_id = _owned_agenda(client, caller, agenda_id)
        return client.rerun(full_id, **options, actor=actor, cid=cid)

    progress = await client_thread(request).call(rerun)
    return JSONResponse({"agendaProgress": progress.to_wire(), "cid": cid_of(request)})


@router.post("/pop/agenda/service/cancel")
async def cancel_agenda(request: Request, caller: CallerDep) -> JSONResponse:
    """pop's extension: stop an agenda (a waiting one ends at once, COMPLETE/failed)."""
    document = await object_body(request, "cancel request")
    agenda_id = required_text(document, "agendaId", "agendaId must be specified").strip()

    actor, cid = actor_of(caller), cid_of(request)

    def cancel(client: Client) -> AgendaProgress:
        return client.cancel(_owned_agenda(client, caller, agenda_id), actor=actor, cid=cid)

    progress = await client_thread(request).call(cancel)
    return JSONResponse({"agendaProgress": progress.to_wire(), "cid": cid_of(request)})


@router.post("/pop/progress/agenda/service")
async def progress_summary(request: Request, caller: CallerDep) -> JSONResponse:
    """POP's progress summary over the agendas of one ``linkId`` that the caller may see."""
    document = await object_body(request, "progress summary request")
    link_id = required_text(
        document, "linkId", "LinkId is required to call getProgressSummary."
    ).strip()

    def summary(client: Client) -> dict[str, Any]:
        return link_summary(client, caller, link_id)

    answer = await client_thread(request).call(summary)
    return JSONResponse({**answer, "cid": cid_of(request)})
