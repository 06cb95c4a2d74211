"""Change records: who changed what, appended in the transaction of the change itself.

Layer: store. Called by the api (:class:`pop.api.Client`): every submit, cancel, rerun,
template run and every write of a template, a facility object (customer, pool, insight) or a
stored agenda (PUT, DELETE) appends one row here inside the same ``BEGIN IMMEDIATE`` as the
change, so a change without its record (or a record without its change) cannot be stored. Rows
are never updated or deleted (deleting an agenda keeps its records: they say who deleted it).

An actor is ``token:<name>/<token id>`` for a server request (never the secret), ``no-auth`` for
``pop serve --no-auth``, ``local:<unix user>`` for a command run on the store's machine (also
``pop batch``, whose services record ``batch`` and ``batch.resume``), ``pop:retrier`` for the
retrier's ``retry``.
"""

from __future__ import annotations

import os

from pop.errors import StoreError
from pop.models.states import now_ms
from pop.records import Record

TYPE_CHECKING = False  # no typing or dataclasses at run time: `pop status` reads records fast
if TYPE_CHECKING:
    from typing import Any

    from pop.store.db import Database

# object kinds a record names (facility objects: customer, pool, insight)
AGENDA = "agenda"
TEMPLATE = "template"


def local_actor() -> str:
    """``local:<unix user>``: the actor of a command run on the store's machine."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a bare container)
        user = str(os.getuid())
    return f"local:{user}"


class ChangeRecord(Record):
    """One change: when (epoch ms), who, what (``submit``, ``cancel``, ``template.put``, ...),
    on which object, and the request's correlation id when there was one (a value: equal when
    every field is)."""

    __slots__ = ("action", "actor", "cid", "kind", "object_id", "time")

    def __init__(
        self,
        time: int,
        actor: str,
        action: str,
        kind: str,
        object_id: str,
        cid: str | None = None,
    ) -> None:
        self.time = time
        self.actor = actor
        self.action = action
        self.kind = kind
        self.object_id = object_id
        self.cid = cid

    def to_wire(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "objectKind": self.kind,
            "objectId": self.object_id,
            "cid": self.cid,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ChangeRecord:
        """A record from :meth:`to_wire`'s JSON (``GET /pop/agenda/{id}/changes``)."""
        return cls(
            time=int(data["time"]),
            actor=str(data["actor"]),
            action=str(data["action"]),
            kind=str(data["objectKind"]),
            object_id=str(data["objectId"]),
            cid=data.get("cid"),
        )


class ChangeStore:
    """The ``changes`` table (append-only)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        action: str,
        kind: str,
        object_id: str,
        *,
        actor: str,
        cid: str | None = None,
        time: int | None = None,
    ) -> ChangeRecord:
        """Append a record; call it inside the transaction that makes the change."""
        if not self.db.connection.in_transaction:
            raise StoreError("a change record is written inside the transaction of its change")
        record = ChangeRecord(
            time=now_ms() if time is None else time,
            actor=actor,
            action=action,
            kind=kind,
            object_id=object_id,
            cid=cid,
        )
        self.db.execute(
            """INSERT INTO changes (time, actor, action, kind, object_id, cid)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (record.time, record.actor, record.action, record.kind, record.object_id, record.cid),
        )
        return record

    def of(self, kind: str, object_id: str) -> list[ChangeRecord]:
        """The records of one object, oldest first."""
        rows = self.db.query(
            """SELECT time, actor, action, kind, object_id, cid FROM changes
               WHERE kind = ? AND object_id = ? ORDER BY id""",
            (kind, object_id),
        )
        return [
            ChangeRecord(
                time=int(row["time"]),
                actor=str(row["actor"]),
                action=str(row["action"]),
                kind=str(row["kind"]),
                object_id=str(row["object_id"]),
                cid=row["cid"],
            )
            for row in rows
        ]


class Change(Record):
    """A change about to be made: its action, who makes it (None: :func:`local_actor`) and the
    request's correlation id; :meth:`record` appends it once the object's id is known."""

    __slots__ = ("action", "actor", "cid")

    def __init__(self, action: str, actor: str | None = None, cid: str | None = None) -> None:
        self.action = action
        self.actor = actor
        self.cid = cid

    def record(
        self, changes: ChangeStore, kind: str, object_id: str, *, default_cid: str | None = None
    ) -> ChangeRecord:
        return changes.record(
            self.action,
            kind,
            object_id,
            actor=self.actor or local_actor(),
            cid=self.cid or default_cid,
        )
