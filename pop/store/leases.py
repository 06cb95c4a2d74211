"""Leases and cancel requests on AgendaProgress rows, and taking an agenda back from an
executor whose lease expired.

Layer: store. Called through ``store.progress`` (:class:`pop.store.progress.ProgressStore`) by
the scheduling (a claim takes the lease), the engine's store sink (renew, release, cancel), the
api (cancel) and the reclaimer service (expired leases).
"""

from __future__ import annotations

from typing import Any

from pop.models import DiagnosticEvent, ProcessingState, now_ms
from pop.store.db import Database, dumps


class LeaseStore:
    """Who holds an agenda (``lease_owner`` until ``lease_expires``), and its cancel flag."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def take_lease(self, agenda_id: str, owner: str, seconds: float) -> bool:
        """Claim the agenda for ``owner`` unless another live lease holds it (atomic)."""
        now = now_ms()
        cursor = self.db.execute(
            """UPDATE agenda_progress SET lease_owner = ?, lease_expires = ?
               WHERE agenda_id = ? AND (lease_owner IS NULL OR lease_owner = ?
                                        OR lease_expires < ?)""",
            (owner, now + int(seconds * 1000), agenda_id, owner, now),
        )
        return cursor.rowcount == 1

    def renew_lease(self, agenda_id: str, owner: str, seconds: float) -> bool:
        """Extend our lease; False when it is no longer ours (reclaimed)."""
        cursor = self.db.execute(
            "UPDATE agenda_progress SET lease_expires = ? WHERE agenda_id = ? AND lease_owner = ?",
            (now_ms() + int(seconds * 1000), agenda_id, owner),
        )
        return cursor.rowcount == 1

    def release_lease(self, agenda_id: str, owner: str) -> None:
        self.db.execute(
            """UPDATE agenda_progress SET lease_owner = NULL, lease_expires = NULL
               WHERE agenda_id = ? AND lease_owner = ?""",
            (agenda_id, owner),
        )

    def request_cancel(self, agenda_id: str) -> None:
        self.db.execute(
            "UPDATE agenda_progress SET cancel_requested = 1 WHERE agenda_id = ?", (agenda_id,)
        )

    def cancel_requested(self, agenda_id: str) -> bool:
        row = self.db.query_one(
            "SELECT cancel_requested FROM agenda_progress WHERE agenda_id = ?", (agenda_id,)
        )
        return bool(row and row["cancel_requested"])

    def lease_of(self, agenda_id: str) -> tuple[str | None, int | None]:
        row = self.db.query_one(
            "SELECT lease_owner, lease_expires FROM agenda_progress WHERE agenda_id = ?",
            (agenda_id,),
        )
        return (row["lease_owner"], row["lease_expires"]) if row else (None, None)

    # -- expired leases (reclaimer) ----------------------------------------------------------

    def reclaim_candidates(self, cutoff: int) -> list[dict[str, Any]]:
        """Agendas whose executor looks dead at ``cutoff`` (epoch ms): EXECUTING with a lease
        that expired before it, or with no lease and no update since; WAITING with a lease that
        expired before it (claimed, then the executor died before it started the agenda)."""
        rows = self.db.query(
            """SELECT id, agenda_id, state, lease_owner, lease_expires, updated_time
               FROM agenda_progress
               WHERE (state = 'EXECUTING' AND lease_owner IS NOT NULL AND lease_expires < :cutoff)
                  OR (state = 'EXECUTING' AND lease_owner IS NULL AND updated_time < :cutoff)
                  OR (state = 'WAITING' AND lease_owner IS NOT NULL AND lease_expires < :cutoff)
               ORDER BY updated_time, rowid""",
            {"cutoff": cutoff},
        )
        return [
            {
                "id": row["id"],
                "agendaId": row["agenda_id"],
                "state": row["state"],
                "leaseOwner": row["lease_owner"],
                "leaseExpires": row["lease_expires"],
                "updatedTime": row["updated_time"],
            }
            for row in rows
        ]

    def complete_reclaimed(
        self,
        progress_id: str,
        *,
        state: str,
        owner: str | None,
        expires: int | None,
        cutoff: int,
        diagnostic: DiagnosticEvent | None,
    ) -> bool:
        """Take an agenda away from its dead executor, only if nothing changed since it was
        chosen (same state and lease, still expired at ``cutoff``): an EXECUTING agenda becomes
        COMPLETE/failed with one more attempt completed and ``diagnostic``; a WAITING one only
        loses its lease. Returns False (and changes nothing) when a live executor renewed, or a
        completion or another reclaimer got there first. Call inside a transaction."""
        values: dict[str, Any] = {
            "id": progress_id,
            "state": state,
            "owner": owner,
            "expires": expires,
            "cutoff": cutoff,
            "now": now_ms(),
        }
        still_expired = "lease_expires < :cutoff" if owner is not None else "updated_time < :cutoff"
        if state == ProcessingState.EXECUTING.value:
            values.update(complete=ProcessingState.COMPLETE.value, failed="failed")
            assignments = """state = :complete, message = :failed, completed_time = :now,
                 attempts_completed = attempts_completed + 1,"""
            if diagnostic is not None:
                values["diag"] = dumps(diagnostic.to_wire())
                assignments += " diagnostics = json_insert(diagnostics, '$[#]', json(:diag)),"
        else:
            assignments = ""
        cursor = self.db.execute(
            f"""UPDATE agenda_progress SET {assignments}
                 lease_owner = NULL, lease_expires = NULL, updated_time = :now
               WHERE id = :id AND state = :state AND lease_owner IS :owner
                 AND lease_expires IS :expires AND {still_expired}""",
            values,
        )
        return cursor.rowcount == 1
