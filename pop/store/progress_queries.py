"""Queries over AgendaProgress rows: the retrier's and the data reaper's candidates, deleting
reaped progress, and the dashboard's pages of agendas.

Layer: store. Called through ``store.progress`` (:class:`pop.store.progress.ProgressStore`) by
pop.services (retrier, data reaper) and pop.server (the agendas page, through
:func:`pop.server.queries.progress_page`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pop.models import now_ms
from pop.store.db import Database


@dataclass(frozen=True)
class PageQuery:
    """What one page of agendas asks: conditions that all hold, newest first, ``limit`` rows
    after ``offset``. ``customer_ids`` None: any customer; ``[]``: none. ``op_type``: agendas
    with at least one op of that type (their stored doc's ``operations``). ``text``: a
    case-insensitive substring of the agenda id, its title or one of its op names."""

    state: str | None = None
    customer_ids: Sequence[str] | None = None
    link_id: str | None = None
    agenda_id: str | None = None
    op_type: str | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


def _page_where(query: PageQuery) -> tuple[str, dict[str, Any]]:
    """The WHERE clause over ``agenda_progress p`` of a page query, and its values."""
    clauses: list[str] = []
    values: dict[str, Any] = {}
    for column, value in (
        ("state", query.state),
        ("link_id", query.link_id),
        ("agenda_id", query.agenda_id),
    ):
        if value is not None:
            clauses.append(f"p.{column} = :{column}")
            values[column] = value
    if query.customer_ids is not None:
        marks = ", ".join(f":customer{index}" for index in range(len(query.customer_ids)))
        clauses.append(f"p.customer_id IN ({marks or 'NULL'})")
        values.update({f"customer{i}": c for i, c in enumerate(query.customer_ids)})
    if query.op_type is not None:
        # the agendas with such an op, found once (not per progress row); a type that any JSON
        # encoder writes verbatim must occur in the document's text, a cheap test that spares
        # parsing the documents that do not hold it
        verbatim = "instr(a.doc, :op_type) AND " if _verbatim_in_json(query.op_type) else ""
        clauses.append(
            f"""p.agenda_id IN (SELECT a.id FROM agendas a WHERE {verbatim}EXISTS (
                  SELECT 1 FROM json_each(a.doc, '$.operations') o
                   WHERE json_extract(o.value, '$.type') = :op_type))"""
        )
        values["op_type"] = query.op_type
    if query.text:
        # SQLite's lower() folds ASCII only: a non-ASCII search folds in Python
        ascii_text = query.text.isascii()
        fold = "lower" if ascii_text else "pop_casefold"
        title = f"instr({fold}(coalesce(json_extract(p.doc, '$.title'), '')), :text)"
        if _verbatim_in_json(query.text):  # in the title: in the progress document's text
            title = f"(instr(lower(p.doc), :text) AND {title})"
        clauses.append(
            f"""(instr({fold}(p.agenda_id), :text) OR {title}
                 OR p.id IN (SELECT o.agenda_progress_id FROM operation_progress o
                              WHERE instr({fold}(o.operation), :text)))"""
        )
        values["text"] = query.text.lower() if ascii_text else query.text.casefold()
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), values


def _verbatim_in_json(text: str) -> bool:
    """Whether every JSON encoder writes ``text`` as it is inside a string (printable ASCII
    without quotes or backslashes)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


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

    def page_ids(self, query: PageQuery) -> tuple[list[str], int]:
        """The agenda ids of one page (newest first: ``added_time``, then insertion order) and
        the number of every agenda that matches. SQLite does the paging (LIMIT/OFFSET) and the
        count (a window function over the same scan): no row outside the page is read into
        Python."""
        if query.text and not query.text.isascii():
            self.db.connection.create_function("pop_casefold", 1, _casefold, deterministic=True)
        where, values = _page_where(query)
        # one scan answers the page and the count (a search reads every row's doc once)
        rows = self.db.query(
            f"""SELECT p.agenda_id, count(*) OVER () AS total FROM agenda_progress p {where}
                ORDER BY p.added_time DESC, p.rowid DESC LIMIT :limit OFFSET :offset""",
            {**values, "limit": max(0, int(query.limit)), "offset": max(0, int(query.offset))},
        )
        if rows or query.offset <= 0:
            total = rows[0]["total"] if rows else 0
        else:  # past the last page: the count alone
            counted = self.db.query_one(f"SELECT count(*) FROM agenda_progress p {where}", values)
            total = counted[0] if counted is not None else 0
        return [row["agenda_id"] for row in rows], int(total)


def _casefold(text: str | None) -> str | None:
    return None if text is None else text.casefold()
