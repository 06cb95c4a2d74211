"""``pop status``, ``pop list`` and ``pop logs`` on this machine's store, without models.

Layer: cli. The typer commands (:mod:`pop.cli.agendas`) call these for a local store, and so
does the fast front end (:mod:`pop.cli.quick`) before typer is even imported: the store's wire
JSON is read (:mod:`pop.store.views`) and shown through read-only views
(:mod:`pop.models.views`), so neither pydantic, typer nor rich loads. A remote client
(``--server``) goes through the typer commands and its models instead; both print the same.
"""

from __future__ import annotations

import os

from pop.cli import render
from pop.config import STORE_FILE, WORK_DIR, home_dir
from pop.models.views import AgendaProgressView
from pop.store.db import Database

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def open_store() -> Database:
    """The store of ``POP_HOME`` (made when missing, as every command does)."""
    return Database(os.path.join(home_dir(), STORE_FILE))


def agenda_changes(db: Database, agenda_id: str) -> list[dict[str, Any]]:
    """The agenda's change records as JSON, oldest first."""
    from pop.store.changes import AGENDA, ChangeStore

    return [record.to_wire() for record in ChangeStore(db).of(AGENDA, agenda_id)]


def show_status(agenda_id: str, *, json_output: bool) -> None:
    """``pop status ID [--json]``: the progress, the cause of a failure, the outputs and who
    changed the agenda (``--json``: the AgendaProgress with its ``changes``)."""
    from pop.store import views

    db = open_store()
    wire = views.progress_wire(db, agenda_id)
    changes = agenda_changes(db, wire["agendaId"])
    if json_output:
        render.print_json({**wire, "changes": changes})
        return
    from pop.engine.outputs import agenda_outputs
    from pop.store.agendas import AgendaStore
    from pop.store.attempts import AttemptStore

    progress = AgendaProgressView(wire)
    work_root = os.path.join(home_dir(), WORK_DIR)
    outputs = agenda_outputs(AgendaStore(db), AttemptStore(db), work_root, progress)
    render.print_progress(progress, outputs=outputs, changes=changes)


def show_list(
    *,
    state: str | None,
    customer: str | None,
    link_id: str | None,
    limit: int | None,
    wide: bool,
    json_output: bool,
) -> None:
    """``pop list``: one line per agenda, oldest first (``--json``: their AgendaProgress)."""
    from pop.models.states import parse_state
    from pop.store.progress_rows import ProgressRows

    if state is not None:
        state = parse_state(state)
    db = open_store()
    items = ProgressRows(db).list_wire(
        state=state, customer_id=customer, link_id=link_id, limit=limit
    )
    if json_output:
        render.print_json(items)
        return
    ids = [str(item.get("agendaId") or "") for item in items]
    if not wide:
        from pop.store.agendas import AgendaStore

        ids = AgendaStore(db).short_ids(ids)
    render.print_list([AgendaProgressView(item) for item in items], ids=ids, wide=wide)


def show_logs(agenda_id: str, operation: str | None, *, json_output: bool) -> None:
    """``pop logs ID [OP]``: each attempt's log, verbatim (``--json``: paths and tails)."""
    from pop.store import views

    found = views.logs(open_store(), agenda_id, operation)
    if json_output:
        render.print_json([item.to_json() for item in found])
    else:
        render.print_logs(found)
