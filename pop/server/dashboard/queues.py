"""The queues page: ``/queues``, per insight its scheduling algorithm, queue depth, running
agendas, resource pool and each customer's share of the last hour's hand-outs; pools, customers
and insights edited by a global session.

Layer: server. The facts come from the store through the server's client thread: the insights
``GET /pop/insight`` would answer the session's token (the same ``readable`` rule) plus the
built-in ``default`` insight, ``queue.size`` (depth), ``queue.handed_out`` (handed out, not
finished) and ``queue.handout_shares`` (the ``handouts`` records of the last hour). A customer
session sees only its own customers' shares (their count and their percent of the insight's
hand-outs), never another customer's name or count; depth and running are totals. Asked with
``Accept: application/json`` it answers the same facts in POP's envelope (``all`` = one object
per insight). Edits (``POST /queues/edit``) call the very ``Client.facility_*`` methods of the
API's facility routes (same checks, same change records); see
:mod:`pop.server.dashboard.queue_forms`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pop.api import Client
from pop.errors import ForbiddenError, PopError
from pop.models import Customer, Insight, ResourcePool, now_ms
from pop.scheduling.facility import Kind
from pop.scheduling.selection import ALGORITHMS, FIRST_IN_FIRST_OUT, canonical_algorithm
from pop.server.auth import Caller, actor_of, can_see, client_thread
from pop.server.dashboard.pages import (
    caller_or_none,
    checked_form,
    not_signed_in,
    render,
    wants_json,
)
from pop.server.dashboard.queue_forms import KIND_NAMES, form_document, mapper_lines
from pop.server.envelope import cid_of, data_response
from pop.server.facility import readable
from pop.store import DEFAULT_INSIGHT_ID

router = APIRouter(include_in_schema=False)

SHARE_WINDOW_MS = 3600 * 1000  # the hand-outs the chart counts: the last hour
ACTIONS = {"add": "added", "update": "updated", "delete": "deleted"}


def _shares(counts: dict[str, int], caller: Caller) -> dict[str, Any]:
    """The hand-outs of one insight as the session may see them: its customers' counts and
    their percent of all the insight's hand-outs (other customers are left out)."""
    total = sum(counts.values())
    customers = [
        {
            "customerId": customer,
            "count": count,
            "percent": round(100 * count / total, 1) if total else 0.0,
        }
        for customer, count in sorted(counts.items())
        if can_see(caller, customer)
    ]
    return {"total": total, "customers": customers}


def _insight_facts(
    client: Client, caller: Caller, insight: Insight | None, insight_id: str, since: int
) -> dict[str, Any]:
    queue = client.store.queue
    algorithm = (insight.scheduling_algorithm if insight else None) or FIRST_IN_FIRST_OUT
    return {
        "insightId": insight_id,
        "title": (insight.title if insight else None) or "built-in default insight",
        "schedulingAlgorithm": canonical_algorithm(algorithm) or algorithm,
        "queueSize": insight.queue_size if insight else None,
        "resourcePoolId": insight.resource_pool_id if insight else None,
        "queueDepth": queue.size(insight_id),
        "running": queue.handed_out(insight_id),
        "handouts": {
            "sinceTime": since,
            **_shares(queue.handout_shares(insight_id, since), caller),
        },
    }


def queue_facts(client: Client, caller: Caller) -> list[dict[str, Any]]:
    """One object per insight the caller may read (the built-in ``default`` first)."""
    since = now_ms() - SHARE_WINDOW_MS
    insights = [
        item
        for item in client.facility_list("insight")
        if isinstance(item, Insight) and readable(caller, item)
    ]
    facts = [_insight_facts(client, caller, None, DEFAULT_INSIGHT_ID, since)]
    for insight in sorted(insights, key=lambda item: item.id or ""):
        facts.append(_insight_facts(client, caller, insight, insight.id or "", since))
    return facts


def _facility(client: Client) -> dict[str, list[Any]]:
    """Pools and customers for a global session's forms (every one)."""
    pools = [item for item in client.facility_list("pool") if isinstance(item, ResourcePool)]
    customers = [item for item in client.facility_list("customer") if isinstance(item, Customer)]
    insights = [item for item in client.facility_list("insight") if isinstance(item, Insight)]
    return {
        "pools": sorted(pools, key=lambda item: item.id or ""),
        "customers": sorted(customers, key=lambda item: item.id or ""),
        "insights": sorted(insights, key=lambda item: item.id or ""),
    }


def _chart(shares: dict[str, Any]) -> dict[str, Any]:
    """The bar chart's geometry (server-rendered SVG): one bar per customer shown."""
    rows = shares["customers"]
    most = max([row["count"] for row in rows] or [1])
    bar_area = 260
    bars = [
        {**row, "y": 6 + index * 26, "width": max(2, round(bar_area * row["count"] / most))}
        for index, row in enumerate(rows)
    ]
    return {"bars": bars, "height": 12 + 26 * len(bars), "bar_x": 130}


async def _page(
    request: Request,
    caller: Caller,
    *,
    status: int = 200,
    error: PopError | None = None,
) -> Response:
    is_global = caller.is_global

    def read(client: Client) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
        facts = queue_facts(client, caller)
        return facts, (_facility(client) if is_global else {})

    facts, facility = await client_thread(request).call(read)
    if wants_json(request) and error is None:
        return data_response(facts, cid_of(request))
    notice = _notice(request)
    return render(
        request,
        "queues.html",
        status=status,
        active="queues",
        insights=[{**fact, "chart": _chart(fact["handouts"])} for fact in facts],
        facility=facility,
        can_edit=is_global,
        algorithms=ALGORITHMS,
        mapper_lines=mapper_lines,
        notice=notice,
        error=error,
    )


def _notice(request: Request) -> str:
    """What the last edit did (the 303 after it names the action, kind and id)."""
    action = ACTIONS.get(request.query_params.get("done", ""))
    kind = KIND_NAMES.get(request.query_params.get("kind", ""))
    object_id = request.query_params.get("id", "")
    if not action or not kind:
        return ""
    return f"{kind.capitalize()} {object_id} {action}.".replace("  ", " ")


@router.get("/queues")
async def queues(request: Request) -> Response:
    """Per insight: algorithm, depth, running, pool and the last hour's shares."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    return await _page(request, caller)


@router.post("/queues/edit")
async def edit(request: Request) -> Response:
    """Add, update or delete a pool, customer or insight (global sessions only)."""
    caller = await caller_or_none(request)
    if caller is None:
        return not_signed_in(request)
    posted = await checked_form(request)
    if isinstance(posted, Response):
        return posted
    form, lists = posted.fields, posted.lists
    if not caller.is_global:
        error = ForbiddenError(
            "only a global session may change pools, customers and insights",
            hint="sign in with a global token",
        )
        return await _page(request, caller, status=403, error=error)
    action = form.get("action", "")
    kind_text = form.get("kind", "")
    if action not in ACTIONS or kind_text not in KIND_NAMES:
        return await _page(request, caller, error=_bad_form(action, kind_text))
    kind: Kind = kind_text  # type: ignore[assignment]
    object_id = form.get("id", "").strip()
    actor, cid = actor_of(caller), cid_of(request)

    def change(client: Client) -> str:
        if action == "delete":
            item = client.facility_delete(kind, object_id, actor=actor, cid=cid)
        elif action == "add":
            item = client.facility_add(kind, form_document(kind, lists), actor=actor, cid=cid)
        else:
            document = form_document(kind, lists)
            document.pop("id", None)
            item = client.facility_update(kind, object_id, document, actor=actor, cid=cid)
        return str(getattr(item, "id", None) or object_id)

    try:
        changed = await client_thread(request).call(change)
    except PopError as error:
        # the page again with POP's reason, as the sign-in page answers a wrong token (200: a
        # browser logs a 4xx page load as a console error)
        return await _page(request, caller, error=error)
    query = urlencode({"done": action, "kind": kind, "id": changed})
    return RedirectResponse(f"/queues?{query}", status_code=303)


def _bad_form(action: str, kind: str) -> PopError:
    from pop.errors import InputError

    return InputError(
        f"unknown change '{action}' of '{kind}'",
        hint="action is add, update or delete; kind is insight, pool or customer",
    )
