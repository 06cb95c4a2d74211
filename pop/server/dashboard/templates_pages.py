"""The templates pages: ``/templates`` (the templates the session may read) and
``/templates/{id}`` (one template, its payload parameters, its agenda as a DAG picture, and a
form that previews and runs it).

Layer: server. Visibility is the API's (:func:`pop.server.templates.readable`); asked with
``Accept: application/json`` both pages answer what ``GET /pop/agendatemplate[/{id}]`` answers
(the same route functions). ``POST /templates/{id}/preview`` (the page's script, CSRF token in
``X-CSRF-Token``) and ``POST /templates/{id}/run`` (the form, CSRF hidden field) fill the
template through :func:`pop.server.services.fill_template`, the code of
``POST /pop/agenda/service/run`` (``?dryRun=true`` for the preview): same rights, same checks,
same customer. A run redirects (303) to the new agenda's page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from pop.api import Client
from pop.engine.dag import dependencies_of
from pop.errors import InputError, NotFoundError, PopError
from pop.graph import lay_out, to_svg
from pop.models import Agenda, AgendaTemplate
from pop.server import templates as templates_api
from pop.server.auth import Caller, client_thread, path_policy
from pop.server.bodies import json_object
from pop.server.dashboard.pages import (
    caller_or_none,
    checked_form,
    csrf_header_refused,
    not_found,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.dashboard.templates_parameters import payload_parameters
from pop.server.envelope import cid_of, pop_error_response
from pop.server.services import fill_template, payload_value

router = APIRouter(include_in_schema=False)


@dataclass
class Listed:
    """A row of the templates page."""

    id: str
    title: str
    customer: str
    shared: str
    operations: int
    parameters: str


def _listed(template: AgendaTemplate) -> Listed:
    found = payload_parameters(template)
    names = [p.name + ("" if p.required else "?") for p in found.parameters]
    if found.takes_whole_payload:
        names.append("(the whole payload)")
    shared = "global" if template.is_global else ", ".join(template.allowed_customer_ids or [])
    return Listed(
        id=template.id or "",
        title=template.title or "",
        customer=template.customer_id or "",
        shared=shared,
        operations=len(template.agenda.operations) if template.agenda else 0,
        parameters=", ".join(names),
    )


@router.get("/templates")
async def templates_list(request: Request) -> Response:
    """The templates the session may read, oldest first."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    if wants_json(request):
        return await templates_api.query_templates(request, caller)
    found = await client_thread(request).call(lambda client: client.template_list())
    rows = [_listed(item) for item in found if templates_api.readable(caller, item)]
    customers = [] if caller.is_global else list(caller.customers)
    return render(request, "templates.html", active="templates", rows=rows, customers=customers)


def _readable(client: Client, caller: Caller, template_id: str) -> AgendaTemplate | None:
    """The template if the caller may read it (None: not stored, ambiguous or not theirs)."""
    try:
        template = client.template_get(template_id)
    except (NotFoundError, InputError):
        return None
    return template if templates_api.readable(caller, template) else None


def picture(agenda: Agenda) -> str:
    """The agenda's DAG as SVG text (pop.graph escapes every name)."""
    return to_svg(lay_out(agenda))


def _template_picture(template: AgendaTemplate) -> str:
    """The template's agenda drawn before filling; empty when an op's name is a token (the
    picture would name no real op: the preview draws the filled one)."""
    agenda = template.agenda
    if agenda is None or any("@<" in (op.name or "") for op in agenda.operations):
        return ""
    return picture(agenda)


def _show(
    request: Request,
    template: AgendaTemplate,
    *,
    payload_text: str | None = None,
    link_id: str = "",
    error: PopError | None = None,
) -> Response:
    found = payload_parameters(template)
    operations = template.agenda.operations if template.agenda else []
    if payload_text is None:
        payload_text = json.dumps(found.example(), indent=2)
    return render(
        request,
        "template.html",
        active="templates",
        template=template,
        listed=_listed(template),
        parameters=found.parameters,
        whole_payload=found.takes_whole_payload,
        checks=found.for_script(),
        static_parameters={
            name: json.dumps(value) for name, value in template.static_parameters.items()
        },
        operations=[
            {"name": op.name or "", "type": op.type or "", "after": ", ".join(dependencies_of(op))}
            for op in operations
        ],
        svg=_template_picture(template),
        payload_text=payload_text,
        link_id=link_id,
        error=error,
    )


@router.get("/templates/{template_id}")
async def template_page(template_id: str, request: Request) -> Response:
    """One template: facts, payload parameters, static parameters, ops, DAG, run form."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    if wants_json(request):
        return await templates_api.get_template(template_id, request, caller)
    template = await client_thread(request).call(
        lambda client: _readable(client, caller, template_id)
    )
    if template is None:
        return not_found(request, f"template {template_id}")
    return _show(request, template)


def _link_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError("linkId must be a string")
    return value.strip() or None


@router.post("/templates/{template_id}/preview")
async def preview(template_id: str, request: Request) -> Response:
    """The dry run of ``POST /pop/agenda/service/run``: ``{"payload": <JSON text or value>,
    "linkId"?}`` -> ``{"agenda": <the filled agenda>, "svg": <its DAG>}``; nothing stored.
    A refusal is the API's error envelope (message and hint; its ``responseCode``) with
    HTTP 200."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    refused = csrf_header_refused(request)
    if refused is not None:
        return refused
    cid, paths = cid_of(request), path_policy(request, caller)
    try:
        document = await json_object(request, what="the preview request", named="a preview")
        payload = payload_value(document.get("payload"))
        link_id = _link_id(document.get("linkId"))

        def dry_run(client: Client) -> tuple[dict[str, Any], str]:
            agenda = fill_template(
                client, caller, template_id, payload, link_id=link_id, dry_run=True,
                paths=paths, cid=cid,
            )  # fmt: skip
            return agenda.to_wire(), picture(agenda)

        agenda, svg = await client_thread(request).call(dry_run)
    except PopError as error:
        refusal = pop_error_response(error, cid)
        # a refused payload is the page's everyday flow, not a failed request: HTTP 200 keeps
        # it out of the browser's console; the envelope's responseCode says what the API says
        refusal.status_code = 200
        return refusal
    return JSONResponse({"agenda": agenda, "svg": svg, "cid": cid})


@router.post("/templates/{template_id}/run")
async def run(template_id: str, request: Request) -> Response:
    """Fill and submit as the session's token, then go to the agenda's page (303); a refusal
    shows the template page again with the server's message and the payload as typed."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    posted = await checked_form(request)
    if isinstance(posted, Response):
        return posted
    form = posted.fields
    template = await client_thread(request).call(
        lambda client: _readable(client, caller, template_id)
    )
    if template is None:
        return not_found(request, f"template {template_id}")
    payload_text = form.get("payload", "")
    link_text = form.get("linkId", "")
    cid, paths = cid_of(request), path_policy(request, caller)
    full_id = template.id or template_id
    try:
        payload = payload_value(payload_text)
        link_id = _link_id(link_text)
        agenda = await client_thread(request).call(
            lambda client: fill_template(
                client, caller, full_id, payload, link_id=link_id, dry_run=False, paths=paths,
                cid=cid,
            )
        )  # fmt: skip
    except PopError as error:
        return _show(request, template, payload_text=payload_text, link_id=link_text, error=error)
    return RedirectResponse(f"/agendas/{agenda.id}", status_code=303)
