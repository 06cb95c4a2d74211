"""Queries of the services over AgendaProgress rows: the retrier's and the data reaper's
candidates, and deleting reaped progress.

Layer: store. Called through ``store.progress`` (:class:`pop.store.progress.ProgressStore`) by
pop.services (retrier, data reaper).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pop.models import now_ms
from pop.store.db import Database


class ProgressQueries:
    """Service queries over progress rows (dicts of the few fields each service needs)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def retry_candidates(
        self,
        *,
        cap: int,
        default_maximum: int,
        outcomes: Sequence[str],
        agenda_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """COMPLETE/failed agendas, not cancelled, with attempts left (``attemptsCompleted``,
        null counting as 1, below min(``cap``, ``maximumAttempts`` or ``default_maximum``))
        whose last agenda attempt ended with one of ``outcomes``; oldest completion first.
        ``agenda_id`` re-checks a single agenda (inside the transaction that reruns it)."""
        marks = ", ".join(f":outcome{index}" for index in range(len(outcomes))) or "NULL"
        values: dict[str, Any] = {f"outcome{index}": o for index, o in enumerate(outcomes)}
        values.update(cap=cap, default_maximum=default_maximum, agenda_id=agenda_id)
        rows = self.db.query(
            f"""SELECT * FROM (
                 SELECT p.id, p.agenda_id, p.attempts_completed, p.maximum_attempts,
                   p.completed_time, p.rowid AS progress_rowid,
                   (SELECT a.outcome FROM attempts a
                     WHERE a.agenda_id = p.agenda_id AND a.operation IS NULL
                     ORDER BY a.id DESC LIMIT 1) AS last_outcome
                 FROM agenda_progress p
                 WHERE p.state = 'COMPLETE' AND lower(coalesce(p.message, '')) = 'failed'
                   AND coalesce(p.cancel_requested, 0) = 0
                   AND coalesce(p.attempts_completed, 1)
                       < min(:cap, coalesce(p.maximum_attempts, :default_maximum))
                   AND (:agenda_id IS NULL OR p.agenda_id = :agenda_id))
               WHERE last_outcome IN ({marks})
               ORDER BY completed_time, progress_rowid""",
            values,
        )
        return [
            {
                "id": row["id"],
                "agendaId": row["agenda_id"],
                "attemptsCompleted": row["attempts_completed"],
                "maximumAttempts": row["maximum_attempts"],
                "completedTime": row["completed_time"],
                "lastOutcome": row["last_outcome"],
            }
            for row in rows
        ]

    def reap_candidates(
        self, cutoff: int, *, now: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """COMPLETE agendas completed before ``cutoff`` (epoch ms) that nothing holds: no live
        lease, no ready-queue row. Oldest first, with the agenda's ``params.workDir``."""
        sql = """SELECT p.id, p.agenda_id, p.message, p.completed_time,
                   json_extract(a.doc, '$.params.workDir') AS work_dir
                 FROM agenda_progress p JOIN agendas a ON a.id = p.agenda_id
                 WHERE p.state = 'COMPLETE' AND p.completed_time < :cutoff
                   AND (p.lease_owner IS NULL OR p.lease_expires < :now)
                   AND NOT EXISTS (SELECT 1 FROM ready_queue q WHERE q.agenda_id = p.agenda_id)
                 ORDER BY p.completed_time, p.rowid"""
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.db.query(sql, {"cutoff": cutoff, "now": now_ms() if now is None else now})
        return [
            {
                "id": row["id"],
                "agendaId": row["agenda_id"],
                "message": row["message"],
                "completedTime": row["completed_time"],
                "workDir": row["work_dir"],
            }
            for row in rows
        ]

    def delete_agendas_progress(self, progress_ids: Sequence[str]) -> None:
        """Delete AgendaProgress rows and their OperationProgress rows (data reaper)."""
        for progress_id in progress_ids:
            self.db.execute(
                "DELETE FROM operation_progress WHERE agenda_progress_id = ?", (progress_id,)
            )
            self.db.execute("DELETE FROM agenda_progress WHERE id = ?", (progress_id,))
