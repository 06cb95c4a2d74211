"""Customers, resource pools and insights: POP's checks on add, update (PUT) and delete.

Layer: scheduling. Called by the api for ``pop customer|pool|insight ...``. Every change runs in
one store transaction after every check passed, so bad input leaves the store as it was.

Checks (POP §1.9, §9.1, DESIGN §3): customers and insights need a title; a customer's ``id`` is
its ``customerId`` (either given sets the other; they may not differ); a customer's pool, when
given, and an insight's pool must be stored; ``queueSize`` is absent (unbounded) or at least 1;
``schedulingAlgorithm`` is ``FirstInFirstOut`` (the default), ``RoundRobin`` or ``Priority``;
mapper names are ``operationName``, ``operationType`` or ``paramMap``, and ``paramMap`` values
are ``key=value``; ids given (the object's, its pool's, allowed customers') are not empty. A pool
that customers or insights use, and an insight with queued agendas, cannot be deleted. Messages
name the object by its id, or "the new insight" when none was given (never an empty id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ValidationError

from pop.errors import InputError
from pop.models import Customer, Insight, ResourcePool, WireModel, new_id, now_ms
from pop.models.validation import json_kind, problems
from pop.scheduling.mapping import canonical_mapper_name, param_pair
from pop.scheduling.selection import ALGORITHMS, FIRST_IN_FIRST_OUT, canonical_algorithm
from pop.store import DEFAULT_INSIGHT_ID, Store
from pop.store.facility import FacilityTable

Kind = Literal["customer", "pool", "insight"]
KINDS: tuple[Kind, ...] = ("customer", "pool", "insight")
_MODELS: dict[str, type[WireModel]] = {
    "customer": Customer,
    "pool": ResourcePool,
    "insight": Insight,
}


def _table(store: Store, kind: Kind) -> FacilityTable[Any]:
    tables: dict[str, FacilityTable[Any]] = {
        "customer": store.facility.customers,
        "pool": store.facility.pools,
        "insight": store.facility.insights,
    }
    return tables[kind]


def parse_object(kind: Kind, document: Any, *, source: str | None = None) -> WireModel:
    """A Customer, ResourcePool or Insight from its POP JSON object (InputError naming the
    field that does not fit)."""
    where = f"{source}: " if source else ""
    if not isinstance(document, Mapping):
        raise InputError(f"{where}a {kind} must be a JSON object, not {json_kind(document)}")
    try:
        item = _MODELS[kind].model_validate(dict(document))
    except ValidationError as exc:
        details = "; ".join(problems(exc, root=f"the {kind}"))
        raise InputError(f"{where}{_label(kind, document.get('id'))}: {details}") from None
    _check_ids(kind, item)
    return item


def _label(kind: str, object_id: Any) -> str:
    """How messages name an object: ``insight fast``, or ``the new insight`` without an id."""
    named = isinstance(object_id, str) and object_id.strip()
    return f"{kind} {object_id}" if named else f"the new {kind}"


def _check_ids(kind: str, item: WireModel) -> None:
    """An id given as text must hold some: an empty one would be stored and named as nothing."""
    for name in ("id", "customer_id"):
        value = getattr(item, name, None)
        if isinstance(value, str) and not value.strip():
            generated = (
                "give --id C" if kind == "customer" else "leave --id out for a generated one"
            )
            raise InputError(f"the {kind} id is empty", hint=generated)
    label = _label(kind, getattr(item, "id", None))
    pool_id = getattr(item, "resource_pool_id", None)
    if isinstance(pool_id, str) and not pool_id.strip():
        raise InputError(f"{label}: the pool id is empty", hint="give --pool P")
    allowed = getattr(item, "allowed_customer_ids", None) or []
    if any(not str(customer).strip() for customer in allowed):
        raise InputError(f"{label}: an allowed customer id is empty")


def _check_customer(store: Store, customer: Customer) -> None:
    if customer.id and customer.customer_id and customer.id != customer.customer_id:
        raise InputError(
            f"customer id {customer.id} and customerId {customer.customer_id} differ",
            hint="a customer's id is its customerId; give one of them",
        )
    customer_id = customer.id or customer.customer_id
    if not customer_id:
        raise InputError("a customer needs an id (its customerId)", hint="give --id C")
    customer.set(id=customer_id, customer_id=customer_id)
    if not (customer.title or "").strip():
        raise InputError(
            f"customer {customer_id} has no title", hint="give --title T (the title field)"
        )
    pool_id = customer.resource_pool_id
    if pool_id is not None and not store.facility.pools.exists(pool_id):
        raise InputError(f"pool {pool_id} not found", hint=f"`pop pool add --id {pool_id}` first")


def _check_mappers(label: str, mappers: Mapping[str, Any]) -> dict[str, list[str]]:
    checked: dict[str, list[str]] = {}
    for name, values in mappers.items():
        canonical = canonical_mapper_name(name)
        if canonical is None:
            raise InputError(
                f"{label} has an unknown mapper '{name}'",
                hint="mappers are operationName, operationType and paramMap",
            )
        for value in values:
            if canonical == "paramMap" and param_pair(value) is None:
                raise InputError(
                    f"{label} has a paramMap value '{value}' that is not key=value",
                    hint="for example --mapper paramMap=quality=high",
                )
        checked.setdefault(canonical, []).extend(values)
    return checked


def _check_insight(store: Store, insight: Insight) -> None:
    if insight.id == DEFAULT_INSIGHT_ID:
        raise InputError(
            "the insight id 'default' is reserved for the built-in default insight",
            hint="choose another id",
        )
    label = _label("insight", insight.id)
    if not (insight.title or "").strip():
        raise InputError(f"{label} has no title", hint="give --title T (the title field)")
    if insight.queue_size is not None and insight.queue_size < 1:
        raise InputError(
            f"{label} has queue size {insight.queue_size}; it must be at least 1",
            hint="leave the queue size out for an unbounded insight",
        )
    algorithm = canonical_algorithm(insight.scheduling_algorithm or FIRST_IN_FIRST_OUT)
    if algorithm is None:
        raise InputError(
            f"{label} has an unknown scheduling algorithm '{insight.scheduling_algorithm}'",
            hint="use " + ", ".join(ALGORITHMS),
        )
    insight.set(scheduling_algorithm=algorithm)
    if insight.mappers is not None:
        insight.set(mappers=_check_mappers(label, insight.mappers))
    pool_id = insight.resource_pool_id
    if not pool_id:
        raise InputError(f"{label} needs a pool", hint="give --pool P")
    if not store.facility.pools.exists(pool_id):
        raise InputError(f"pool {pool_id} not found", hint=f"`pop pool add --id {pool_id}` first")


def _check(store: Store, item: WireModel) -> None:
    if isinstance(item, Customer):
        _check_customer(store, item)
    elif isinstance(item, Insight):
        _check_insight(store, item)
    if not getattr(item, "id", None):
        item.set(id=new_id())


def shown(store: Store, item: WireModel) -> WireModel:
    """The object as commands print it: a pool with its derived ``insightIds``."""
    if isinstance(item, ResourcePool):
        item.set(insight_ids=store.facility.insights.ids_in_pool(item.id or ""))
    return item


def add_object(store: Store, kind: Kind, document: Mapping[str, Any]) -> WireModel:
    """Check a new customer, pool or insight and store it; returns the stored object."""
    item = parse_object(kind, document)
    with store.transaction():
        _check(store, item)
        now = now_ms()
        item.set(added_time=now, updated_time=now)
        _table(store, kind).insert(item)
        return shown(store, item)


def update_object(
    store: Store, kind: Kind, object_id: str, changes: Mapping[str, Any]
) -> WireModel:
    """POP's PUT: the given fields replace the stored ones, absent fields keep their values."""
    given_id = changes.get("id")
    if given_id is not None and given_id != object_id:
        to = f"to {given_id}" if str(given_id).strip() else "to an empty one"
        raise InputError(f"the id of {kind} {object_id} cannot change {to}")
    with store.transaction():
        stored = _table(store, kind).get(object_id)
        merged = {**stored.to_wire(), **dict(changes), "id": object_id}
        merged.pop("insightIds", None)
        item = parse_object(kind, merged)
        _check(store, item)
        item.set(updated_time=now_ms())
        _table(store, kind).replace(item)
        return shown(store, item)


def delete_object(store: Store, kind: Kind, object_id: str) -> WireModel:
    """Remove an object; a pool still in use or an insight with queued agendas is refused."""
    with store.transaction():
        item: WireModel = _table(store, kind).get(object_id)
        if kind == "pool":
            customers = store.facility.customers.ids_in_pool(object_id)
            insights = store.facility.insights.ids_in_pool(object_id)
            if customers or insights:
                users = [f"customer {name}" for name in customers]
                users += [f"insight {name}" for name in insights]
                raise InputError(
                    f"pool {object_id} is still used by " + ", ".join(users),
                    hint="delete them or move them to another pool first",
                )
            shown(store, item)
        if kind == "insight" and store.queue.count_up_to(object_id, 1):
            raise InputError(
                f"insight {object_id} has queued agendas",
                hint="let `pop executor` run them (or cancel them) first",
            )
        _table(store, kind).delete(object_id)
        return item


def get_object(store: Store, kind: Kind, object_id: str) -> WireModel:
    return shown(store, _table(store, kind).get(object_id))


def list_objects(store: Store, kind: Kind) -> list[WireModel]:
    return [shown(store, item) for item in _table(store, kind).list()]


def combine(file_document: Any, flags: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """The object given on the command line: the ``--file`` document (if any) with the fields
    set by flags on top."""
    if file_document is None:
        return dict(flags)
    if not isinstance(file_document, Mapping):
        raise InputError(f"{source}: must be a JSON object, not {json_kind(file_document)}")
    return {**dict(file_document), **dict(flags)}
