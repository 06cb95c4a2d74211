"""Agenda rows: the submitted workflow document and the launch settings it ran with.

Layer: store. Called by the api (submit, show, list) and the engine (generated operations,
stored launch settings for ``run-local --resume``).
"""

from __future__ import annotations

from pop.errors import InputError, NotFoundError
from pop.models.states import now_ms
from pop.models.wire import DEFAULT_CUSTOMER_ID
from pop.store.db import dumps, loads

TYPE_CHECKING = False  # models are loaded when a method returns one: `pop status` needs none
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    from pop.models import Agenda
    from pop.store.db import Database


class AgendaStore:
    """The ``agendas`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, agenda: Agenda, *, launch: Mapping[str, Any] | None = None) -> None:
        """Store a new agenda (inside a transaction); its id and progressId must be set."""
        self.insert_wire(agenda.to_wire(), launch=launch)

    def insert_wire(
        self, document: Mapping[str, Any], *, launch: Mapping[str, Any] | None = None
    ) -> None:
        """:meth:`insert` of an agenda's JSON (``Agenda.to_wire()``)."""
        insight = document.get("agendaInsight") or {}
        self.db.execute(
            """INSERT INTO agendas (id, progress_id, customer_id, link_id, insight_id, doc, launch,
                 added_time, updated_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                document.get("id"),
                document.get("progressId"),
                document.get("customerId") or DEFAULT_CUSTOMER_ID,
                document.get("linkId"),
                insight.get("insightId"),
                dumps(document),
                dumps(dict(launch)) if launch is not None else None,
                document.get("addedTime") or now_ms(),
                document.get("updatedTime") or now_ms(),
            ),
        )

    def get(self, agenda_id: str) -> Agenda:
        from pop.models import Agenda

        return Agenda.model_validate(self.get_wire(agenda_id))

    def get_wire(self, agenda_id: str) -> dict[str, Any]:
        """The stored agenda document (POP's JSON), no model built."""
        row = self.db.query_one("SELECT doc FROM agendas WHERE id = ?", (agenda_id,))
        if row is None:
            raise NotFoundError(f"no agenda with id {agenda_id}", hint="`pop list` shows agendas")
        document: dict[str, Any] = loads(row["doc"])
        return document

    def launch_settings(self, agenda_id: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT launch FROM agendas WHERE id = ?", (agenda_id,))
        return dict(loads(row["launch"], {}) or {}) if row else {}

    def set_launch_settings(self, agenda_id: str, launch: Mapping[str, Any]) -> None:
        self.db.execute(
            "UPDATE agendas SET launch = ?, updated_time = ? WHERE id = ?",
            (dumps(dict(launch)), now_ms(), agenda_id),
        )

    def update(self, agenda: Agenda) -> None:
        """Replace the stored document (e.g. after generated operations were appended)."""
        agenda.updated_time = now_ms()
        self.db.execute(
            "UPDATE agendas SET doc = ?, updated_time = ? WHERE id = ?",
            (agenda.to_json(), agenda.updated_time, agenda.id),
        )

    def resolve_id(self, given: str) -> str:
        """The full id of the agenda whose id or progress id is ``given``, or starts with it
        (a unique prefix of at least 4 characters)."""
        given = given.strip()
        if not given:
            raise InputError("an agenda id is required", hint="`pop list` shows agendas")
        if self.db.query_one("SELECT 1 FROM agendas WHERE id = ?", (given,)):
            return given
        row = self.db.query_one("SELECT agenda_id FROM agenda_progress WHERE id = ?", (given,))
        if row is not None:
            return str(row["agenda_id"])
        if len(given) >= 4:
            upper = given + "\uffff"
            found = {
                str(row["id"])
                for row in self.db.query(
                    "SELECT id FROM agendas WHERE id >= ? AND id < ? LIMIT 2", (given, upper)
                )
            }
            found.update(
                str(row["agenda_id"])
                for row in self.db.query(
                    "SELECT agenda_id FROM agenda_progress WHERE id >= ? AND id < ? LIMIT 2",
                    (given, upper),
                )
            )
            if len(found) == 1:
                return found.pop()
            if len(found) > 1:
                raise InputError(
                    f"agenda id prefix {given} is ambiguous ({len(found)} agendas match)",
                    hint="give more of it",
                )
        raise NotFoundError(
            f"no agenda with id or progress id {given}", hint="`pop list` shows agendas"
        )

    def short_ids(self, agenda_ids: Sequence[str], *, minimum: int = 8) -> list[str]:
        """For each agenda id, its shortest prefix of at least ``minimum`` characters that
        :meth:`resolve_id` resolves to it (no other agenda id or progress id starts with it)."""
        result = []
        for agenda_id in agenda_ids:
            length = min(minimum, len(agenda_id))
            while length < len(agenda_id):
                prefix = agenda_id[:length]
                upper = prefix + "\uffff"
                row = self.db.query_one(
                    """SELECT (SELECT count(*) FROM agendas WHERE id >= ?1 AND id < ?2)
                            + (SELECT count(*) FROM agenda_progress
                               WHERE id >= ?1 AND id < ?2 AND agenda_id != ?3) AS n""",
                    (prefix, upper, agenda_id),
                )
                if row is not None and int(row["n"]) <= 1:
                    break
                length += 2
            result.append(agenda_id[:length])
        return result

    def delete_many(self, agenda_ids: Sequence[str]) -> None:
        """Delete agenda rows (data reaper; their progress, attempts and queue rows first)."""
        for agenda_id in agenda_ids:
            self.db.execute("DELETE FROM agendas WHERE id = ?", (agenda_id,))

    def using_work_dir(self, work_dir: str) -> list[str]:
        """Ids of the stored agendas whose ``params.workDir`` is ``work_dir`` (data reaper)."""
        rows = self.db.query(
            "SELECT id FROM agendas WHERE json_extract(doc, '$.params.workDir') = ?", (work_dir,)
        )
        return [str(row["id"]) for row in rows]
