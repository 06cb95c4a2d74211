"""The ready queue: agendas submitted for the executor daemon, per insight.

Layer: store. ``pop submit`` enqueues; the executor daemon claims through
:mod:`pop.scheduling.claim`, which reads candidates with the methods below and removes and marks
what it hands out inside one ``BEGIN IMMEDIATE`` transaction, so two executors never take the same
agenda. ``insight_schedule`` keeps, per insight, who round robin still owes and when the insight
was last served.
"""

from __future__ import annotations

from pop.models.states import now_ms
from pop.records import Record
from pop.store.db import dumps, loads

TYPE_CHECKING = False  # no typing or dataclasses at import: the fast `pop submit` enqueues
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Sequence

    from pop.store.db import Database

DEFAULT_INSIGHT_ID = "default"


class QueuedRow(Record):
    """One ``ready_queue`` row of an insight: what the schedulers choose among."""

    __slots__ = ("added", "agenda_id", "customer_id", "priority")

    def __init__(self, agenda_id: str, customer_id: str, priority: int = 0, added: int = 0) -> None:
        self.agenda_id = agenda_id
        self.customer_id = customer_id
        self.priority = priority
        self.added = added


def _rows(rows: Iterable[sqlite3.Row]) -> list[QueuedRow]:
    return [
        QueuedRow(row["agenda_id"], row["customer_id"], int(row["priority"] or 0), row["added"])
        for row in rows
    ]


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

    # -- scheduling (pop.scheduling.claim) -------------------------------------------------

    def enqueue_many(self, insight_id: str, rows: Iterable[QueuedRow]) -> None:
        """Queue many agendas at once with their own ``added`` times (tests, benchmarks)."""
        self.db.connection.executemany(
            """INSERT OR REPLACE INTO ready_queue (agenda_id, insight_id, customer_id, priority,
                 added) VALUES (?, ?, ?, ?, ?)""",
            [(row.agenda_id, insight_id, row.customer_id, row.priority, row.added) for row in rows],
        )

    def insights_with_work(self) -> list[str]:
        """Every insight id with queued agendas, sorted (one index seek per insight)."""
        found: list[str] = []
        row = self.db.query_one("SELECT min(insight_id) AS id FROM ready_queue")
        while row is not None and row["id"] is not None:
            found.append(str(row["id"]))
            row = self.db.query_one(
                "SELECT min(insight_id) AS id FROM ready_queue WHERE insight_id > ?", (found[-1],)
            )
        return found

    def count_up_to(self, insight_id: str, cap: int) -> int:
        """How many agendas the insight has queued, counting no further than ``cap``."""
        row = self.db.query_one(
            """SELECT count(*) AS n FROM (SELECT 1 FROM ready_queue WHERE insight_id = ?
                 LIMIT ?)""",
            (insight_id, max(0, cap)),
        )
        return int(row["n"]) if row else 0

    def oldest(
        self, insight_id: str, limit: int, *, customer_id: str | None = None
    ) -> list[QueuedRow]:
        """The ``limit`` oldest queued rows of an insight (of one customer when given)."""
        if customer_id is None:
            rows = self.db.query(
                """SELECT * FROM ready_queue WHERE insight_id = ?
                   ORDER BY added, agenda_id LIMIT ?""",
                (insight_id, limit),
            )
        else:
            rows = self.db.query(
                """SELECT * FROM ready_queue WHERE insight_id = ? AND customer_id = ?
                   ORDER BY added, agenda_id LIMIT ?""",
                (insight_id, customer_id, limit),
            )
        return _rows(rows)

    def priorities(self, insight_id: str) -> list[int]:
        """The distinct priorities queued for an insight, highest first (index seeks)."""
        found: list[int] = []
        row = self.db.query_one(
            """SELECT priority FROM ready_queue WHERE insight_id = ?
               ORDER BY priority DESC LIMIT 1""",
            (insight_id,),
        )
        while row is not None:
            found.append(int(row["priority"] or 0))
            row = self.db.query_one(
                """SELECT priority FROM ready_queue WHERE insight_id = ? AND priority < ?
                   ORDER BY priority DESC LIMIT 1""",
                (insight_id, found[-1]),
            )
        return found

    def oldest_of_priority(self, insight_id: str, priority: int, limit: int) -> list[QueuedRow]:
        rows = self.db.query(
            """SELECT * FROM ready_queue WHERE insight_id = ? AND priority = ?
               ORDER BY added, agenda_id LIMIT ?""",
            (insight_id, priority, limit),
        )
        return _rows(rows)

    def queued_customers(self, insight_id: str) -> list[str]:
        """The customers with agendas queued for an insight, sorted."""
        rows = self.db.query(
            """SELECT DISTINCT customer_id FROM ready_queue WHERE insight_id = ?
               ORDER BY customer_id""",
            (insight_id,),
        )
        return [str(row["customer_id"]) for row in rows]

    def remove_many(self, agenda_ids: Sequence[str]) -> None:
        self.db.connection.executemany(
            "DELETE FROM ready_queue WHERE agenda_id = ?",
            [(agenda_id,) for agenda_id in agenda_ids],
        )

    def handed_out(self, insight_id: str) -> int:
        """Agendas of this insight handed out and not finished (their progress is EXECUTING)."""
        row = self.db.query_one(
            """SELECT count(*) AS n FROM agenda_progress JOIN agendas
                 ON agendas.id = agenda_progress.agenda_id
               WHERE agenda_progress.state = 'EXECUTING' AND agendas.insight_id = ?""",
            (insight_id,),
        )
        return int(row["n"]) if row else 0

    def mark_claimed(self, agenda_id: str) -> bool:
        """Set a claimed agenda's progress EXECUTING/``claimed``; False when it is COMPLETE."""
        cursor = self.db.execute(
            """UPDATE agenda_progress SET state = 'EXECUTING', message = 'claimed',
                 updated_time = ? WHERE agenda_id = ? AND state != 'COMPLETE'""",
            (now_ms(), agenda_id),
        )
        return cursor.rowcount == 1

    def schedule(self, insight_id: str) -> list[str]:
        """The customers round robin still owes on this insight (empty: none stored)."""
        row = self.db.query_one(
            "SELECT pending_customer_ids FROM insight_schedule WHERE insight_id = ?",
            (insight_id,),
        )
        return [str(item) for item in loads(row["pending_customer_ids"], [])] if row else []

    def last_served(self) -> dict[str, int]:
        """When each insight last handed out agendas (epoch ms), by insight id."""
        rows = self.db.query("SELECT insight_id, last_executed FROM insight_schedule")
        return {str(row["insight_id"]): int(row["last_executed"] or 0) for row in rows}

    def save_schedule(
        self, insight_id: str, *, last_executed: int, pending: Sequence[str] | None = None
    ) -> None:
        """Record that the insight was served (and, when given, who round robin still owes)."""
        if pending is None:
            self.db.execute(
                """INSERT INTO insight_schedule (insight_id, last_executed) VALUES (?, ?)
                   ON CONFLICT (insight_id) DO UPDATE SET last_executed = excluded.last_executed""",
                (insight_id, last_executed),
            )
            return
        self.db.execute(
            """INSERT INTO insight_schedule (insight_id, pending_customer_ids, last_executed)
               VALUES (?, ?, ?)
               ON CONFLICT (insight_id) DO UPDATE SET last_executed = excluded.last_executed,
                 pending_customer_ids = excluded.pending_customer_ids""",
            (insight_id, dumps(list(pending)), last_executed),
        )

    # -- hand-outs (the dashboard's queues page) ---------------------------------------------

    def record_handouts(
        self, insight_id: str, handed: Sequence[QueuedRow], *, handed_time: int
    ) -> None:
        """Record agendas handed out to an executor (in the claim's transaction)."""
        self.db.connection.executemany(
            """INSERT INTO handouts (insight_id, customer_id, agenda_id, handed_time)
               VALUES (?, ?, ?, ?)""",
            [(insight_id, row.customer_id, row.agenda_id, handed_time) for row in handed],
        )

    def prune_handouts(self, before: int) -> int:
        """Delete the hand-outs recorded before ``before`` (epoch ms); how many went."""
        cursor = self.db.execute("DELETE FROM handouts WHERE handed_time < ?", (before,))
        return cursor.rowcount

    def handout_shares(self, insight_id: str, since_ms: int) -> dict[str, int]:
        """How many agendas of each customer the insight handed out since ``since_ms``."""
        rows = self.db.query(
            """SELECT customer_id, count(*) AS n FROM handouts
               WHERE insight_id = ? AND handed_time >= ?
               GROUP BY customer_id ORDER BY customer_id""",
            (insight_id, since_ms),
        )
        return {str(row["customer_id"]): int(row["n"]) for row in rows}
