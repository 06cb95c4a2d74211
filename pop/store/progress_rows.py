"""AgendaProgress and OperationProgress rows: writing, reading and resetting them.

Layer: store. Called through ``store.progress`` (:class:`pop.store.progress.ProgressStore`) by
the engine (as an agenda runs), the api (status, list) and the rerun. Hot columns (state,
percent, times) are real columns; the rest of each wire object is kept in a JSON ``doc`` column
so unknown fields survive.
"""

from __future__ import annotations

import sqlite3

from pop.models.states import ProcessingState, now_ms
from pop.models.wire import AGENDA_PROGRESS_FIELDS, OPERATION_PROGRESS_FIELDS, ordered
from pop.store.db import dumps, loads

TYPE_CHECKING = False  # models are built only by the methods that return them (not *_wire)
if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

    from pop.models import AgendaProgress, DiagnosticEvent, OperationProgress
    from pop.store.db import Database

_AGENDA_COLUMNS = {
    "agendaId": "agenda_id",
    "customerId": "customer_id",
    "linkId": "link_id",
    "processingState": "state",
    "processingStateMessage": "message",
    "percentComplete": "percent",
    "attemptsCompleted": "attempts_completed",
    "maximumAttempts": "maximum_attempts",
    "startedTime": "started_time",
    "completedTime": "completed_time",
    "addedTime": "added_time",
    "updatedTime": "updated_time",
}
_OPERATION_COLUMNS = {
    "agendaProgressId": "agenda_progress_id",
    "operation": "operation",
    "processingState": "state",
    "processingStateMessage": "message",
    "percentComplete": "percent",
    "attemptCount": "attempt_count",
    "attemptTime": "attempt_time",
    "startedTime": "started_time",
    "completedTime": "completed_time",
}
# Keyword names accepted by update_operation / update_agenda, mapped to columns.
_OPERATION_UPDATABLE = {
    "state": "state",
    "message": "message",
    "percent": "percent",
    "attempt_count": "attempt_count",
    "attempt_time": "attempt_time",
    "started_time": "started_time",
    "completed_time": "completed_time",
}
_AGENDA_UPDATABLE = {
    "state": "state",
    "message": "message",
    "percent": "percent",
    "started_time": "started_time",
    "completed_time": "completed_time",
}


def operation_progress_id(progress_id: str, operation_name: str) -> str:
    """POP's OperationProgress id: ``<progressId>-<opName>``."""
    return f"{progress_id}-{operation_name}"


def agenda_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An agenda_progress row as POP's AgendaProgress JSON (without its operations), with the
    store's own facts: ``lease`` while an executor holds it, ``cancelRequested``."""
    data: dict[str, Any] = dict(loads(row["doc"], {}))
    data["id"] = row["id"]
    for key, column in _AGENDA_COLUMNS.items():
        if row[column] is not None:
            data[key] = row[column]
    data["diagnosticEvents"] = loads(row["diagnostics"], [])
    if row["lease_owner"]:
        data["lease"] = {"owner": row["lease_owner"], "expiresTime": row["lease_expires"]}
    if row["cancel_requested"]:
        data["cancelRequested"] = True
    return ordered(data, AGENDA_PROGRESS_FIELDS)


def operation_wire(row: sqlite3.Row) -> dict[str, Any]:
    """An operation_progress row as POP's OperationProgress JSON."""
    data: dict[str, Any] = dict(loads(row["doc"], {}))
    data["id"] = row["id"]
    for key, column in _OPERATION_COLUMNS.items():
        if row[column] is not None:
            data[key] = row[column]
    if row["result_payload"] is not None:
        data["resultPayload"] = loads(row["result_payload"])
    data["diagnosticEvents"] = loads(row["diagnostics"], [])
    data["params"] = loads(row["params"], {})
    return ordered(data, OPERATION_PROGRESS_FIELDS)


def _agenda_model(wire: dict[str, Any]) -> AgendaProgress:
    from pop.models import AgendaProgress

    return AgendaProgress.model_validate(wire)


def _state(value: Any) -> str:
    return str(value.value if isinstance(value, ProcessingState) else value)


class ProgressRows:
    """Progress rows of agendas and their operations, as pop's models."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writing -------------------------------------------------------------------------

    def insert(self, progress: AgendaProgress, operations: Sequence[OperationProgress]) -> None:
        """Store a new AgendaProgress and its OperationProgress rows (inside a transaction)."""
        self.insert_wire(progress.to_wire(), [operation.to_wire() for operation in operations])

    def insert_wire(
        self, progress: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]
    ) -> None:
        """:meth:`insert` of POP's JSON (``to_wire()`` of the models)."""
        wire = dict(progress)
        wire.pop("operationProgress", None)
        diagnostics = wire.pop("diagnosticEvents", None) or []
        columns = {column: wire.pop(key, None) for key, column in _AGENDA_COLUMNS.items()}
        columns["state"] = _state(columns["state"] or ProcessingState.WAITING)
        columns["percent"] = columns["percent"] or 0.0
        columns["attempts_completed"] = columns["attempts_completed"] or 0
        progress_id = wire.pop("id")
        self.db.execute(
            """INSERT INTO agenda_progress (id, agenda_id, customer_id, link_id, state, message,
                 percent, attempts_completed, maximum_attempts, started_time, completed_time,
                 added_time, updated_time, diagnostics, doc)
               VALUES (:id, :agenda_id, :customer_id, :link_id, :state, :message, :percent,
                 :attempts_completed, :maximum_attempts, :started_time, :completed_time,
                 :added_time, :updated_time, :diagnostics, :doc)""",
            {**columns, "id": progress_id, "diagnostics": dumps(diagnostics), "doc": dumps(wire)},
        )
        self.insert_operations_wire(progress_id, operations, first_seq=0)

    def insert_operations(
        self, progress_id: str, operations: Sequence[OperationProgress], *, first_seq: int
    ) -> None:
        wires = [operation.to_wire() for operation in operations]
        self.insert_operations_wire(progress_id, wires, first_seq=first_seq)

    def insert_operations_wire(
        self, progress_id: str, operations: Sequence[Mapping[str, Any]], *, first_seq: int
    ) -> None:
        rows = []
        for seq, operation in enumerate(operations, start=first_seq):
            wire = dict(operation)
            diagnostics = wire.pop("diagnosticEvents", None) or []
            result = wire.pop("resultPayload", None)
            params = wire.pop("params", None) or {}
            columns = {column: wire.pop(key, None) for key, column in _OPERATION_COLUMNS.items()}
            op_id = wire.pop("id", None) or operation_progress_id(progress_id, columns["operation"])
            columns["agenda_progress_id"] = progress_id
            columns["state"] = _state(columns["state"] or ProcessingState.WAITING)
            rows.append(
                {
                    **columns,
                    "percent": columns["percent"] or 0.0,
                    "attempt_count": columns["attempt_count"] or 0,
                    "id": op_id,
                    "seq": seq,
                    "result_payload": None if result is None else dumps(result),
                    "diagnostics": dumps(diagnostics),
                    "params": dumps(params),
                    "doc": dumps(wire),
                    "updated_time": now_ms(),
                }
            )
        try:
            self.db.connection.executemany(
                """INSERT INTO operation_progress (id, agenda_progress_id, operation, seq, state,
                     message, percent, result_payload, diagnostics, attempt_count, attempt_time,
                     started_time, completed_time, params, doc, updated_time)
                   VALUES (:id, :agenda_progress_id, :operation, :seq, :state, :message, :percent,
                     :result_payload, :diagnostics, :attempt_count, :attempt_time, :started_time,
                     :completed_time, :params, :doc, :updated_time)""",
                rows,
            )
        except sqlite3.IntegrityError as exc:
            from pop.errors import StoreError

            raise StoreError(f"cannot store operation progress: {exc}") from exc
        except UnicodeEncodeError as exc:
            from pop.store.db import not_unicode

            raise not_unicode(exc) from None

    def update_agenda(
        self,
        progress_id: str,
        *,
        add_diagnostics: Iterable[DiagnosticEvent] = (),
        **fields: Any,
    ) -> None:
        """Change columns of an AgendaProgress; moving to COMPLETE counts a completed attempt."""
        assignments = ["updated_time = :now"]
        values: dict[str, Any] = {"id": progress_id, "now": now_ms()}
        for name, value in fields.items():
            column = _AGENDA_UPDATABLE[name]
            if name == "state":
                value = _state(value)
                assignments.append(
                    "attempts_completed = attempts_completed + "
                    "(CASE WHEN state != 'COMPLETE' AND :state = 'COMPLETE' THEN 1 ELSE 0 END)"
                )
            assignments.append(f"{column} = :{name}")
            values[name] = value
        events = [event.to_wire() for event in add_diagnostics]
        if events:
            # json_insert applies its edits left to right, so each '$[#]' appends after the last.
            edits = ", ".join(f"'$[#]', json(:diag{index})" for index in range(len(events)))
            assignments.append(f"diagnostics = json_insert(diagnostics, {edits})")
            values.update({f"diag{index}": dumps(event) for index, event in enumerate(events)})
        self.db.execute(
            f"UPDATE agenda_progress SET {', '.join(assignments)} WHERE id = :id", values
        )

    def set_agenda_diagnostics(self, progress_id: str, events: Sequence[DiagnosticEvent]) -> None:
        """Replace an AgendaProgress's diagnostics (a remote executor's report sends the whole
        list, as POP's partial update replaces a list given)."""
        self.db.execute(
            "UPDATE agenda_progress SET diagnostics = ?, updated_time = ? WHERE id = ?",
            (dumps([event.to_wire() for event in events]), now_ms(), progress_id),
        )

    def update_operation(
        self,
        operation_id: str,
        *,
        result_payload: Any = None,
        set_result: bool = False,
        diagnostics: Sequence[DiagnosticEvent] | None = None,
        params: Mapping[str, Any] | None = None,
        output_tail: Sequence[str] | None = None,
        **fields: Any,
    ) -> None:
        """Change columns of an OperationProgress (diagnostics and params are replaced)."""
        assignments = ["updated_time = :now"]
        values: dict[str, Any] = {"id": operation_id, "now": now_ms()}
        for name, value in fields.items():
            assignments.append(f"{_OPERATION_UPDATABLE[name]} = :{name}")
            values[name] = _state(value) if name == "state" else value
        if set_result:
            assignments.append("result_payload = :result_payload")
            values["result_payload"] = None if result_payload is None else dumps(result_payload)
        if diagnostics is not None:
            assignments.append("diagnostics = :diagnostics")
            values["diagnostics"] = dumps([event.to_wire() for event in diagnostics])
        if params is not None:
            assignments.append("params = :params")
            values["params"] = dumps(dict(params))
        if output_tail is not None:
            assignments.append("output_tail = :output_tail")
            values["output_tail"] = dumps(list(output_tail))
        self.db.execute(
            f"UPDATE operation_progress SET {', '.join(assignments)} WHERE id = :id", values
        )

    def delete_operations(self, progress_id: str, names: Iterable[str]) -> None:
        for name in names:
            self.db.execute(
                "DELETE FROM operation_progress WHERE id = ?",
                (operation_progress_id(progress_id, name),),
            )

    # -- reading ---------------------------------------------------------------------------

    def get(self, agenda_id: str, *, with_operations: bool = True) -> AgendaProgress | None:
        wire = self.get_wire(agenda_id, with_operations=with_operations)
        return None if wire is None else _agenda_model(wire)

    def get_wire(self, agenda_id: str, *, with_operations: bool = True) -> dict[str, Any] | None:
        """:meth:`get` as POP's JSON (no model built): what ``pop status`` shows."""
        row = self.db.query_one("SELECT * FROM agenda_progress WHERE agenda_id = ?", (agenda_id,))
        if row is None:
            return None
        wire = agenda_wire(row)
        if with_operations:
            wire["operationProgress"] = self.operations_wire(str(row["id"]))
            wire = ordered(wire, AGENDA_PROGRESS_FIELDS)
        return wire

    def operations(self, progress_id: str) -> list[OperationProgress]:
        from pop.models import OperationProgress

        return [OperationProgress.model_validate(op) for op in self.operations_wire(progress_id)]

    def operations_wire(self, progress_id: str) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT * FROM operation_progress WHERE agenda_progress_id = ? ORDER BY seq",
            (progress_id,),
        )
        return [operation_wire(row) for row in rows]

    def output_tail(self, progress_id: str, operation_name: str) -> list[str]:
        row = self.db.query_one(
            "SELECT output_tail FROM operation_progress WHERE id = ?",
            (operation_progress_id(progress_id, operation_name),),
        )
        return list(loads(row["output_tail"], [])) if row else []

    def list(
        self,
        *,
        state: str | None = None,
        customer_id: str | None = None,
        link_id: str | None = None,
        limit: int | None = None,
        with_operations: bool = True,
    ) -> list[AgendaProgress]:
        found = self.list_wire(
            state=state,
            customer_id=customer_id,
            link_id=link_id,
            limit=limit,
            with_operations=with_operations,
        )
        return [_agenda_model(wire) for wire in found]

    def list_wire(
        self,
        *,
        state: str | None = None,
        customer_id: str | None = None,
        link_id: str | None = None,
        limit: int | None = None,
        with_operations: bool = True,
    ) -> builtins.list[dict[str, Any]]:
        """:meth:`list` as POP's JSON (no models built): what ``pop list`` shows."""
        clauses, values = [], []
        for column, value in (("state", state), ("customer_id", customer_id), ("link_id", link_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM agenda_progress {where} ORDER BY added_time, rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        result = [agenda_wire(row) for row in self.db.query(sql, values)]
        if with_operations:
            for wire in result:
                wire["operationProgress"] = self.operations_wire(str(wire["id"]))
        return (
            [ordered(wire, AGENDA_PROGRESS_FIELDS) for wire in result]
            if with_operations
            else result
        )

    # -- rerun -----------------------------------------------------------------------------

    def reset_agenda(self, progress_id: str, *, percent: float) -> None:
        """Set an AgendaProgress back to WAITING/pending for a rerun: completedTime, its
        diagnostics, a cancel request and an (expired) lease are cleared; attemptsCompleted and
        startedTime are kept (the attempt rows hold the history)."""
        self.db.execute(
            """UPDATE agenda_progress SET state = :state, message = :message, percent = :percent,
                 completed_time = NULL, diagnostics = '[]', cancel_requested = 0,
                 lease_owner = NULL, lease_expires = NULL, updated_time = :now
               WHERE id = :id""",
            {
                "id": progress_id,
                "state": ProcessingState.WAITING.value,
                "message": "pending",
                "percent": percent,
                "now": now_ms(),
            },
        )
