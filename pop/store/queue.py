"""The ready queue: agendas submitted for the executor daemon, per insight.

Layer: store. ``pop submit`` enqueues; the executor daemon (a later service) claims. Claiming is
one atomic statement so two executors never take the same agenda.
"""

from __future__ import annotations

from pop.models import now_ms
from pop.store.db import Database

DEFAULT_INSIGHT_ID = "default"


class QueueStore:
    """The ``ready_queue`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self, agenda_id: str, *, insight_id: str, customer_id: str, priority: int = 0
    ) -> None:
        self.db.execute(
            """INSERT OR REPLACE INTO ready_queue (agenda_id, insight_id, customer_id, priority,
                 added) VALUES (?, ?, ?, ?, ?)""",
            (agenda_id, insight_id, customer_id, priority, now_ms()),
        )

    def remove(self, agenda_id: str) -> bool:
        cursor = self.db.execute("DELETE FROM ready_queue WHERE agenda_id = ?", (agenda_id,))
        return cursor.rowcount == 1

    def contains(self, agenda_id: str) -> bool:
        return bool(
            self.db.query_one("SELECT 1 FROM ready_queue WHERE agenda_id = ?", (agenda_id,))
        )

    def size(self, insight_id: str | None = None) -> int:
        if insight_id is None:
            row = self.db.query_one("SELECT count(*) AS n FROM ready_queue")
        else:
            row = self.db.query_one(
                "SELECT count(*) AS n FROM ready_queue WHERE insight_id = ?", (insight_id,)
            )
        return int(row["n"]) if row else 0
