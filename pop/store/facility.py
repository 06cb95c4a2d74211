"""Facility rows: customers, resource pools and insights (``pop customer|pool|insight ...``).

Layer: store. Called by :mod:`pop.scheduling.facility` (add, update, delete with POP's checks) and
:mod:`pop.scheduling.mapping` (insight selection on submit). Each object is kept as its whole JSON
document (unknown fields included) plus the columns used for lookups. A pool's ``insightIds`` is
derived from the insights on read and never stored.
"""

from __future__ import annotations

import builtins
from typing import Generic, TypeVar

from pop.errors import InputError, NotFoundError
from pop.models import Customer, Insight, ResourcePool, WireModel, now_ms
from pop.store.db import Database, dumps, loads

Model = TypeVar("Model", Customer, ResourcePool, Insight)


class FacilityTable(Generic[Model]):
    """One table of facility objects: ``customers``, ``pools`` or ``insights``."""

    def __init__(
        self, db: Database, *, table: str, model: type[Model], noun: str, column: str
    ) -> None:
        self.db = db
        self.table = table
        self.model: type[Model] = model
        self.noun = noun
        self.column = column  # the lookup column besides id: resource_pool_id or title

    def _column_value(self, item: WireModel) -> str | None:
        value = getattr(item, "title" if self.column == "title" else "resource_pool_id", None)
        return None if value is None else str(value)

    def _document(self, item: Model) -> str:
        wire = item.to_wire()
        wire.pop("insightIds", None)  # derived from the insights on read
        return dumps(wire)

    def insert(self, item: Model) -> None:
        """Store a new object; its id must be set and free (InputError otherwise)."""
        if self.exists(item.id or ""):
            raise InputError(
                f"a {self.noun} with id {item.id} already exists",
                hint=f"`pop {self.noun} update {item.id}` changes it",
            )
        now = now_ms()
        self.db.execute(
            f"""INSERT INTO {self.table} (id, {self.column}, doc, added_time, updated_time)
                VALUES (?, ?, ?, ?, ?)""",
            (
                item.id,
                self._column_value(item),
                self._document(item),
                item.added_time or now,
                item.updated_time or now,
            ),
        )

    def replace(self, item: Model) -> None:
        """Overwrite a stored object with ``item`` (same id)."""
        self.db.execute(
            f"UPDATE {self.table} SET {self.column} = ?, doc = ?, updated_time = ? WHERE id = ?",
            (
                self._column_value(item),
                self._document(item),
                item.updated_time or now_ms(),
                item.id,
            ),
        )

    def exists(self, item_id: str) -> bool:
        row = self.db.query_one(f"SELECT 1 FROM {self.table} WHERE id = ?", (item_id,))
        return row is not None

    def find(self, item_id: str) -> Model | None:
        row = self.db.query_one(f"SELECT doc FROM {self.table} WHERE id = ?", (item_id,))
        return None if row is None else self.model.model_validate(loads(row["doc"]))

    def get(self, item_id: str) -> Model:
        item = self.find(item_id)
        if item is None:
            raise NotFoundError(
                f"no {self.noun} with id {item_id}", hint=f"`pop {self.noun} list` shows them"
            )
        return item

    def list(self) -> builtins.list[Model]:
        """Every object, oldest first."""
        rows = self.db.query(f"SELECT doc FROM {self.table} ORDER BY added_time, id")
        return [self.model.model_validate(loads(row["doc"])) for row in rows]

    def ids_in_pool(self, pool_id: str) -> builtins.list[str]:
        """Ids of the objects that belong to a pool, oldest first (customers, insights)."""
        rows = self.db.query(
            f"SELECT id FROM {self.table} WHERE resource_pool_id = ? ORDER BY added_time, id",
            (pool_id,),
        )
        return [str(row["id"]) for row in rows]

    def delete(self, item_id: str) -> Model:
        """Remove an object and return what was stored."""
        item = self.get(item_id)
        self.db.execute(f"DELETE FROM {self.table} WHERE id = ?", (item_id,))
        return item

    def count(self) -> int:
        row = self.db.query_one(f"SELECT count(*) AS n FROM {self.table}")
        return int(row["n"]) if row else 0

    def any(self) -> bool:
        return self.db.any_row(self.table)


class FacilityStore:
    """The tables ``customers``, ``pools`` and ``insights``."""

    def __init__(self, db: Database) -> None:
        self.customers = FacilityTable(
            db, table="customers", model=Customer, noun="customer", column="resource_pool_id"
        )
        self.pools = FacilityTable(
            db, table="pools", model=ResourcePool, noun="pool", column="title"
        )
        self.insights = FacilityTable(
            db, table="insights", model=Insight, noun="insight", column="resource_pool_id"
        )
