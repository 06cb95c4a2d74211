"""Attempt rows: one per run of an op (and per run of an agenda), with what was launched.

Layer: store. The engine writes them; reclaim and retry (later services) read them instead of
in-memory timers, so an attempt's launch can be found after its executor died.
"""

from __future__ import annotations

from pop.models.states import now_ms
from pop.store.db import dumps, loads

TYPE_CHECKING = False  # no typing at run time: `pop logs` and `pop status` read attempts
if TYPE_CHECKING:
    import builtins
    import sqlite3
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from pop.store.db import Database


class AttemptStore:
    """The ``attempts`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(
        self,
        agenda_id: str,
        operation: str | None,
        number: int,
        *,
        executor: str,
        runtime: str | None,
        log_path: str | None = None,
    ) -> int:
        cursor = self.db.execute(
            """INSERT INTO attempts (agenda_id, operation, number, executor, runtime, started_time,
                 log_path) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (agenda_id, operation, number, executor, runtime, now_ms(), log_path),
        )
        return int(cursor.lastrowid or 0)

    def get(self, attempt_id: int) -> dict[str, Any] | None:
        """One attempt row by id; None when there is none."""
        rows = self._rows(self.db.query("SELECT * FROM attempts WHERE id = ?", (attempt_id,)))
        return rows[0] if rows else None

    def find_open(
        self, agenda_id: str, operation: str | None, number: int, executor: str
    ) -> dict[str, Any] | None:
        """The open attempt row of this agenda, op (None: the agenda's own), number and executor
        (a remote executor's resent ``startAttempt`` finds the row its first send made)."""
        sql = (
            "SELECT * FROM attempts WHERE agenda_id = ? AND number = ? AND executor = ?"
            " AND ended_time IS NULL AND operation "
            + ("IS NULL" if operation is None else "= ?")
            + " ORDER BY id DESC LIMIT 1"
        )
        values: list[Any] = [agenda_id, number, executor]
        if operation is not None:
            values.append(operation)
        rows = self._rows(self.db.query(sql, values))
        return rows[0] if rows else None

    def lost_launches(self, agenda_id: str) -> builtins.list[dict[str, Any]]:
        """The agenda's op attempt rows with a launch record that never ended or ended ``lost``
        (their executor died): what the next executor of its pool stops before it runs it."""
        return self._rows(
            self.db.query(
                """SELECT * FROM attempts WHERE agenda_id = ? AND operation IS NOT NULL
                     AND launched IS NOT NULL AND (ended_time IS NULL OR outcome = 'lost')
                   ORDER BY id""",
                (agenda_id,),
            )
        )

    def record_launch(self, attempt_id: int, launched: Mapping[str, Any]) -> None:
        self.db.execute(
            "UPDATE attempts SET launched = ? WHERE id = ?", (dumps(dict(launched)), attempt_id)
        )

    def end(
        self, attempt_id: int, outcome: str, *, exit_code: int | None = None, message: str = ""
    ) -> None:
        self.db.execute(
            """UPDATE attempts SET ended_time = ?, outcome = ?, exit_code = ?, message = ?
               WHERE id = ?""",
            (now_ms(), outcome, exit_code, message, attempt_id),
        )

    def list(self, agenda_id: str, operation: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM attempts WHERE agenda_id = ?"
        values: list[Any] = [agenda_id]
        if operation is not None:
            sql += " AND operation = ?"
            values.append(operation)
        return self._rows(self.db.query(sql + " ORDER BY id", values))

    def all_open(self) -> builtins.list[dict[str, Any]]:
        """Every attempt row of every agenda that never ended, in one query (the reapers)."""
        return self._rows(
            self.db.query("SELECT * FROM attempts WHERE ended_time IS NULL ORDER BY id")
        )

    @staticmethod
    def _rows(rows: Iterable[sqlite3.Row]) -> builtins.list[dict[str, Any]]:
        return [
            {
                "id": row["id"],
                "agendaId": row["agenda_id"],
                "operation": row["operation"],
                "number": row["number"],
                "executor": row["executor"],
                "runtime": row["runtime"],
                "launched": loads(row["launched"]),
                "startedTime": row["started_time"],
                "endedTime": row["ended_time"],
                "outcome": row["outcome"],
                "exitCode": row["exit_code"],
                "logPath": row["log_path"],
                "message": row["message"],
            }
            for row in rows
        ]

    def open_attempts(self, agenda_id: str) -> builtins.list[dict[str, Any]]:
        """The agenda's attempt rows that never ended (their executor may have died)."""
        return [row for row in self.list(agenda_id) if row["endedTime"] is None]

    def delete_for(self, agenda_ids: Sequence[str]) -> None:
        """Delete every attempt row of these agendas (data reaper)."""
        for agenda_id in agenda_ids:
            self.db.execute("DELETE FROM attempts WHERE agenda_id = ?", (agenda_id,))
