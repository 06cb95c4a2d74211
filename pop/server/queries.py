"""POP's ``by<field>`` queries of data GETs (POP-REFERENCE §2.3) over ``pop.api.Client``.

Layer: server. ``GET /pop/x?by<field>=<value>&...``: each ``by`` parameter is a condition on the
field named by the rest of its name, verbatim and case-sensitive (``bylinkId``,
``bycustomerId``); all conditions hold at once. Special ones: ``bylimit`` (default 100),
``bycount=true`` (only the number of matches), ``byfields=a,b`` (only those fields of each
object). A field no object has matches nothing. ``processingState``, ``customerId`` and
``linkId`` are asked of the store; other fields are compared on each object's JSON (strings
exactly, numbers and booleans by their JSON text). Results are filtered by what the caller may
see, silently, before the limit applies. The functions here run on the client thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pop.api import Client
from pop.engine.summary import summarize
from pop.errors import InputError, NotFoundError
from pop.models import AgendaProgress, ProcessingState
from pop.server.auth import Caller, can_see
from pop.store.progress import PageQuery

DEFAULT_LIMIT = 100
SPECIAL = ("limit", "count", "fields")
# conditions the store answers itself: query field -> Client.list keyword
PROGRESS_STORE_FIELDS = {
    "processingState": "state",
    "customerId": "customer_id",
    "linkId": "link_id",
}
AGENDA_STORE_FIELDS = {"customerId": "customer_id", "linkId": "link_id"}


@dataclass(frozen=True)
class ByQuery:
    """The ``by`` parameters of one request."""

    conditions: dict[str, str] = field(default_factory=dict)
    limit: int = DEFAULT_LIMIT
    count_only: bool = False
    fields: tuple[str, ...] = ()

    @classmethod
    def parse(cls, parameters: Iterable[tuple[str, str]]) -> ByQuery:
        """Every ``by`` parameter (others are ignored, as POP does); InputError for a
        ``bylimit`` that is not a positive integer."""
        conditions: dict[str, str] = {}
        limit, count_only = DEFAULT_LIMIT, False
        fields: tuple[str, ...] = ()
        for name, value in parameters:
            if not name.startswith("by") or len(name) == 2:
                continue
            key = name[2:]
            if key == "limit":
                try:
                    limit = int(value)
                except ValueError:
                    limit = 0
                if limit < 1:
                    raise InputError(f"bylimit must be a positive integer, not '{value}'")
            elif key == "count":
                count_only = value.strip().lower() == "true"
            elif key == "fields":
                fields = tuple(part.strip() for part in value.split(",") if part.strip())
            else:
                conditions[key] = value
        return cls(conditions=conditions, limit=limit, count_only=count_only, fields=fields)

    def project(self, item: dict[str, Any]) -> dict[str, Any]:
        """``byfields``: only the fields named (every field without it)."""
        if not self.fields:
            return item
        return {key: value for key, value in item.items() if key in self.fields}


@dataclass(frozen=True)
class Selection:
    """What a query found: the objects (up to the limit, projected) and their number, or with
    ``bycount=true`` no objects and the number of every match."""

    items: list[dict[str, Any]]
    count: int


def matches(item: Mapping[str, Any], conditions: Mapping[str, str]) -> bool:
    return all(_text(item.get(name)) == value for name, value in conditions.items())


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def visible_progress(
    client: Client, caller: Caller, query: ByQuery, store_fields: Mapping[str, str]
) -> list[AgendaProgress]:
    """The AgendaProgress records the caller may see that match the conditions on
    ``store_fields`` (asked of the store), oldest first (``Client.list``'s order). The limit is
    left to the store only when no other condition remains to be checked."""
    asked = {
        keyword: query.conditions[name]
        for name, keyword in store_fields.items()
        if name in query.conditions
    }
    state = asked.get("state")
    if state is not None and state not in ProcessingState.__members__:
        return []  # POP: a value no object has matches nothing
    others = [name for name in query.conditions if name not in store_fields]
    limit = None if others or query.count_only else query.limit
    customers = visible_customers(caller, asked.get("customer_id"))
    found: list[AgendaProgress] = []
    for customer_id in customers:
        found.extend(
            client.list(
                state=state, customer_id=customer_id, link_id=asked.get("link_id"), limit=limit
            )
        )
    if len(customers) > 1:
        found.sort(key=lambda progress: progress.added_time or 0)
    return [progress for progress in found if can_see(caller, progress.customer_id)]


def visible_customers(caller: Caller, customer: str | None) -> list[str | None]:
    """The customers to ask the store for: the one asked (None: any, for a global caller),
    else each of the caller's customers; none when the caller may not see the one asked."""
    if caller.is_global:
        return [customer]
    if customer is not None:
        return [customer] if can_see(caller, customer) else []
    return list(dict.fromkeys(caller.customers))


@dataclass(frozen=True)
class Page:
    """One page of the progress a caller may see: the AgendaProgress wire objects and the
    number of every match."""

    items: list[dict[str, Any]]
    total: int


def progress_page(
    client: Client,
    caller: Caller,
    conditions: Mapping[str, str],
    *,
    op_type: str | None = None,
    text: str | None = None,
    agenda_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page:
    """The dashboard's page of progress, newest first: ``conditions`` on the store fields of
    :data:`PROGRESS_STORE_FIELDS` (``processingState``, ``customerId``, ``linkId``), an op type,
    a text searched in ids, titles and op names. The store pages and counts (LIMIT/OFFSET and
    COUNT in SQL); visibility is :func:`visible_customers`, as for the API's selections."""
    state = conditions.get("processingState")
    if state is not None and state not in ProcessingState.__members__:
        return Page(items=[], total=0)  # POP: a value no object has matches nothing
    asked = visible_customers(caller, conditions.get("customerId"))
    customers = [c for c in asked if c is None or can_see(caller, c)]
    if not customers:
        return Page(items=[], total=0)
    query = PageQuery(
        state=state,
        customer_ids=None if customers == [None] else [c for c in customers if c is not None],
        link_id=conditions.get("linkId"),
        agenda_id=agenda_id,
        op_type=op_type,
        text=text,
        limit=limit,
        offset=offset,
    )
    found, total = client.store.progress.page(query)
    items = [progress.to_wire() for progress in found if can_see(caller, progress.customer_id)]
    return Page(items=items, total=total)


def select(items: Iterable[dict[str, Any]], query: ByQuery, asked: Iterable[str]) -> Selection:
    """Apply the conditions not already ``asked`` of the store, then the limit and the
    projection."""
    done = set(asked)
    rest = {name: value for name, value in query.conditions.items() if name not in done}
    matched = [item for item in items if matches(item, rest)]
    if query.count_only:
        return Selection(items=[], count=len(matched))
    kept = [query.project(item) for item in matched[: query.limit]]
    return Selection(items=kept, count=len(kept))


def progress_selection(client: Client, caller: Caller, query: ByQuery) -> Selection:
    """``GET /pop/progress/agenda?by...``: AgendaProgress objects with their
    ``operationProgress``, as ``pop list --json`` prints them."""
    found = visible_progress(client, caller, query, PROGRESS_STORE_FIELDS)
    return select((progress.to_wire() for progress in found), query, PROGRESS_STORE_FIELDS)


def agenda_selection(client: Client, caller: Caller, query: ByQuery) -> Selection:
    """``GET /pop/agenda?by...``: the stored agendas (found through their progress records,
    which carry the same ``customerId`` and ``linkId``)."""
    found = visible_progress(client, caller, query, AGENDA_STORE_FIELDS)
    agendas = (_agenda_wire(client, progress.agenda_id or "") for progress in found)
    return select((agenda for agenda in agendas if agenda is not None), query, AGENDA_STORE_FIELDS)


def _agenda_wire(client: Client, agenda_id: str) -> dict[str, Any] | None:
    try:
        return client.agenda(agenda_id).to_wire()
    except NotFoundError:  # deleted between the two reads
        return None


def link_summary(client: Client, caller: Caller, link_id: str) -> dict[str, Any]:
    """POP's progress summary (wire JSON) over the link's agendas the caller may see."""
    visible = [
        progress
        for progress in client.list(link_id=link_id)
        if can_see(caller, progress.customer_id)
    ]
    wire = summarize(visible).to_wire()
    if wire.get("processingPercent") is None:
        wire.pop("processingPercent", None)  # POP leaves it out when a member failed
    return wire
