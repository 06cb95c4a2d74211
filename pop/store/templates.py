"""Template rows: stored AgendaTemplates (``pop template add|list|show|delete|run``).

Layer: store. Called by the api. A template is kept as its whole JSON document (unknown fields
included) plus the columns ``customer_id`` and ``title`` for lookups.
"""

from __future__ import annotations

from pop.errors import InputError, NotFoundError
from pop.models import AgendaTemplate, now_ms
from pop.store.db import Database, loads

_LIST_HINT = "`pop template list` shows templates"


def _not_found(given: str) -> NotFoundError:
    return NotFoundError(f"no template with id {given}", hint=_LIST_HINT)


class TemplateStore:
    """The ``templates`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(self, template: AgendaTemplate) -> None:
        """Store a new template; its id must be set and not taken (InputError otherwise)."""
        if self.exists(template.id or ""):
            raise InputError(
                f"a template with id {template.id} already exists",
                hint=f"drop the id from the file, or `pop template delete {template.id}` first",
            )
        now = now_ms()
        self.db.execute(
            """INSERT INTO templates (id, customer_id, title, doc, added_time, updated_time)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (
                template.id,
                template.customer_id,
                template.title,
                template.to_json(),
                template.added_time or now,
                template.updated_time or now,
            ),
        )

    def exists(self, template_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM templates WHERE id = ?", (template_id,)) is not None

    def get(self, template_id: str) -> AgendaTemplate:
        row = self.db.query_one("SELECT doc FROM templates WHERE id = ?", (template_id,))
        if row is None:
            raise _not_found(template_id)
        return AgendaTemplate.model_validate(loads(row["doc"]))

    def list(self) -> list[AgendaTemplate]:
        """Every template, oldest first."""
        rows = self.db.query("SELECT doc FROM templates ORDER BY added_time, id")
        return [AgendaTemplate.model_validate(loads(row["doc"])) for row in rows]

    def delete(self, template_id: str) -> AgendaTemplate:
        """Remove a template and return what was stored."""
        template = self.get(template_id)
        self.db.execute("DELETE FROM templates WHERE id = ?", (template_id,))
        return template

    def resolve_id(self, given: str) -> str:
        """The id of the template whose id is ``given``, whose title is exactly ``given`` (when
        only one has it), or whose id starts with ``given`` (a unique prefix of 4+ characters)."""
        if self.exists(given):
            return given
        titled = self.db.query("SELECT id FROM templates WHERE title = ? LIMIT 2", (given,))
        if len(titled) == 1:
            return str(titled[0]["id"])
        if len(titled) > 1:
            raise InputError(
                f"several templates have the title '{given}'", hint="give the template id"
            )
        if len(given) >= 4:
            rows = self.db.query(
                "SELECT id FROM templates WHERE id >= ? AND id < ? LIMIT 2",
                (given, given + "\uffff"),
            )
            if len(rows) == 1:
                return str(rows[0]["id"])
            if len(rows) > 1:
                raise InputError(f"template id prefix {given} is ambiguous", hint="give more of it")
        raise _not_found(given)
