"""Insight selection on submit: which insight (queue) of which pool an agenda goes to.

Layer: scheduling. :func:`select_insight` is called by the api for ``pop submit`` and
``pop template run``; everything above it is a pure function over models (DESIGN §10, POP §9.4).

- Single-user mode (no customer stored): every agenda goes to the built-in ``default`` insight.
- Otherwise the agenda's customer (absent: ``default``) must be stored. Candidates are the insights
  of its pool, then the insights of other pools that list it in ``allowedCustomerIds`` or are
  ``isGlobal``, each group oldest first.
- An insight matches when one of its mappers matches (names and values case-insensitive):
  ``operationName`` / ``operationType`` (any op's name / type is a value), ``paramMap``
  (``key=value``: the agenda's params or any op's params hold that pair). Insights without
  mappers, and mappers without values, never match.
- Without ``params.defaultInsight`` the first matching candidate wins; with it, the first match
  whose id or title equals it (case-insensitive), else the first match.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pop.errors import InputError
from pop.models import Agenda, AgendaInsight, Customer, Insight
from pop.store import DEFAULT_INSIGHT_ID, Store

DEFAULT_POOL_ID = "default"
MAPPER_NAMES = ("operationName", "operationType", "paramMap")
_CANONICAL_MAPPER = {name.lower(): name for name in MAPPER_NAMES}


def default_insight() -> AgendaInsight:
    """The built-in insight of single-user mode (FIFO, unbounded)."""
    return AgendaInsight(resource_pool_id=DEFAULT_POOL_ID, insight_id=DEFAULT_INSIGHT_ID)


def canonical_mapper_name(name: str) -> str | None:
    """``operationName``, ``operationType`` or ``paramMap`` for any spelling; None if unknown."""
    return _CANONICAL_MAPPER.get(name.lower())


def param_pair(value: str) -> tuple[str, str] | None:
    """The lower-cased ``(key, value)`` of a ``paramMap`` entry: the text before the first ``=``
    and the text between the first and the second. None without ``=`` or with an empty key."""
    parts = value.split("=")
    if len(parts) < 2 or not parts[0]:
        return None
    return parts[0].lower(), parts[1].lower()


def _text(value: Any) -> str:
    """A param value as text, as POP's ``toString()`` shows it (lower-cased by the caller)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"))


def _has_pair(params: Mapping[str, Any], key: str, value: str) -> bool:
    return any(
        name.lower() == key and _text(given).lower() == value for name, given in params.items()
    )


def mapper_matches(name: str, values: Iterable[str], agenda: Agenda) -> bool:
    """Whether one mapper entry of an insight matches the agenda."""
    wanted = [str(value).lower() for value in values]
    kind = canonical_mapper_name(name)
    if not wanted or kind is None:
        return False
    if kind == "operationName":
        return any((op.name or "").lower() in wanted for op in agenda.operations)
    if kind == "operationType":
        return any((op.type or "").lower() in wanted for op in agenda.operations)
    for entry in wanted:
        pair = param_pair(entry)
        if pair is None:
            continue
        if _has_pair(agenda.params, *pair) or any(
            _has_pair(op.params, *pair) for op in agenda.operations
        ):
            return True
    return False


def insight_matches(insight: Insight, agenda: Agenda) -> bool:
    return any(
        mapper_matches(name, values or [], agenda)
        for name, values in (insight.mappers or {}).items()
    )


def candidate_insights(customer: Customer, insights: Sequence[Insight]) -> list[Insight]:
    """The insights visible to a customer: its pool's, then allowed and global ones elsewhere."""
    customer_id = (customer.id or "").lower()
    pool_id = customer.resource_pool_id
    own = [item for item in insights if pool_id is not None and item.resource_pool_id == pool_id]
    others = [
        item
        for item in insights
        if (pool_id is None or item.resource_pool_id != pool_id)
        and (
            item.is_global
            or customer_id in {str(allowed).lower() for allowed in item.allowed_customer_ids or []}
        )
    ]
    return own + others


def choose_insight(candidates: Sequence[Insight], agenda: Agenda) -> Insight | None:
    """POP's walk (§9.4 step 3): the first matching candidate, or with ``params.defaultInsight``
    the first match whose id or title is it, falling back to the first match."""
    preferred = agenda.params.get("defaultInsight")
    wanted = str(preferred).lower() if preferred is not None else None
    first: Insight | None = None
    for insight in candidates:
        if not insight_matches(insight, agenda):
            continue
        if wanted is None or wanted in {(insight.id or "").lower(), (insight.title or "").lower()}:
            return insight
        first = first or insight
    return first


def select_insight(store: Store, agenda: Agenda) -> AgendaInsight:
    """The insight a submitted agenda goes to; InputError when its customer is not stored or no
    insight matches (nothing is stored then)."""
    customers = store.facility.customers
    if not customers.any():
        return default_insight()
    customer_id = agenda.effective_customer_id
    if not customer_id.strip():
        raise InputError("the agenda's customer id is blank", hint="give --customer C")
    customer = customers.find(customer_id)
    if customer is None:
        raise InputError(
            f"customer {customer_id} not found",
            hint="`pop customer list` shows customers; give one with --customer or customerId",
        )
    chosen = choose_insight(candidate_insights(customer, store.facility.insights.list()), agenda)
    if chosen is None:
        raise InputError(
            f"no insight matches this agenda (customer {customer_id})",
            hint="`pop insight list` shows insights and their mappers; an insight needs a mapper "
            "(--mapper operationType=TYPE) to receive agendas",
        )
    return AgendaInsight(resource_pool_id=chosen.resource_pool_id, insight_id=chosen.id)
