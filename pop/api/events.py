"""What ``pop serve``'s read-side extensions ask of the store: progress changed since a time
(the event stream), an agenda's work directory and routed insight (files, createAgenda), and the
numbers ``/metrics`` shows.

Layer: api. Functions of a :class:`pop.api.Client` (the server calls them on its client thread).
The reads are small aggregate queries: the event stream asks only for the progress rows whose
``updated_time`` (or one of whose ops' ``updated_time``) is at or after a cursor, not the table.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.models import Agenda, AgendaInsight, AgendaProgress

if TYPE_CHECKING:
    from pop.api import Client

# An agenda's progress changes when its row or one of its ops' rows is written; the change's
# time is the later of the two.
_CHANGED_SQL = """
SELECT p.agenda_id AS agenda_id,
       max(p.updated_time, coalesce((SELECT max(o.updated_time) FROM operation_progress o
                                     WHERE o.agenda_progress_id = p.id), 0)) AS changed
  FROM agenda_progress p
 WHERE (p.updated_time >= :since
        OR EXISTS (SELECT 1 FROM operation_progress o
                    WHERE o.agenda_progress_id = p.id AND o.updated_time >= :since))
"""


@dataclass(frozen=True)
class ProgressChange:
    """One agenda's progress as it is now, and when it last changed (ms)."""

    changed: int
    progress: AgendaProgress


def progress_changes(
    client: Client,
    since_ms: int,
    *,
    agenda_id: str | None = None,
    link_id: str | None = None,
    limit: int = 500,
) -> builtins.list[ProgressChange]:
    """The progress of every agenda whose progress or op progress was written at or after
    ``since_ms`` (only ``agenda_id``'s, a full id, or those with ``link_id``, when given),
    oldest change first, at most ``limit``."""
    sql = _CHANGED_SQL
    values: dict[str, Any] = {"since": since_ms}
    if agenda_id is not None:
        sql += " AND p.agenda_id = :agenda"
        values["agenda"] = agenda_id
    if link_id is not None:
        sql += " AND p.link_id = :link"
        values["link"] = link_id
    sql += f" ORDER BY changed, p.rowid LIMIT {int(limit)}"
    found = []
    for row in client.store.db.query(sql, values):
        progress = client.store.progress.get(str(row["agenda_id"]))
        if progress is not None:
            found.append(ProgressChange(int(row["changed"]), progress))
    return found


def agenda_work_dir(client: Client, agenda: Agenda) -> Path:
    """Where the agenda's ops run and write: its ``params.workDir``, else
    ``$POP_HOME/work/<agenda id>`` (as the executors compute it)."""
    from pop.engine.launching import agenda_work_dir as work_dir

    return work_dir(agenda, client.settings.work_root)


def routed_insight(client: Client, document: Any, customer_id: str | None) -> AgendaInsight:
    """The insight an agenda would be routed to if submitted now for ``customer_id`` (the
    checks of a submission first: every problem of the agenda, or InputError when no insight
    matches); nothing is stored."""
    from pop.scheduling.mapping import select_insight

    agenda = client.load_agenda(document)
    if customer_id is not None:
        agenda = agenda.model_copy(update={"customer_id": customer_id})
    return select_insight(client.store, agenda)


@dataclass
class StoreNumbers:
    """What ``/metrics`` reads from the store at each scrape."""

    agendas_by_state: dict[str, int] = field(default_factory=dict)
    queue_by_insight: dict[str, int] = field(default_factory=dict)
    # (operation type, outcome, duration in seconds) of every ended attempt
    attempts: builtins.list[tuple[str, str, float]] = field(default_factory=list)


_ATTEMPTS_SQL = """
SELECT coalesce(json_extract(op.value, '$.type'), '') AS type,
       coalesce(a.outcome, '') AS outcome,
       (a.ended_time - a.started_time) / 1000.0 AS seconds
  FROM attempts a
  JOIN agendas g ON g.id = a.agenda_id
  JOIN json_each(g.doc, '$.operations') op ON json_extract(op.value, '$.name') = a.operation
 WHERE a.ended_time IS NOT NULL AND a.started_time IS NOT NULL
"""


def store_numbers(client: Client) -> StoreNumbers:
    """Agendas by state, queued agendas by insight, and every ended attempt (three queries)."""
    db = client.store.db
    numbers = StoreNumbers()
    for row in db.query("SELECT state, count(*) AS n FROM agenda_progress GROUP BY state"):
        numbers.agendas_by_state[str(row["state"])] = int(row["n"])
    for row in db.query("SELECT insight_id, count(*) AS n FROM ready_queue GROUP BY insight_id"):
        numbers.queue_by_insight[str(row["insight_id"])] = int(row["n"])
    numbers.attempts = [
        (str(row["type"]), str(row["outcome"]), max(0.0, float(row["seconds"])))
        for row in db.query(_ATTEMPTS_SQL)
    ]
    return numbers
