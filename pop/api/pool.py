"""POP's ResourcePool service for executors that pull work from a server: ``getAgenda``,
``updateAgendaProgress``, ``updateAgenda`` and pop's heartbeat (POP-REFERENCE §§7, 9.8-9.10).

Layer: api. :class:`pop.api.Client` takes these methods from :class:`PoolMixin`; ``pop serve``
calls them for remote executors (:mod:`pop.server.pool`), which decides beforehand whether the
caller owns the agenda's insight (:meth:`PoolMixin.pool_insight_of`).

A claim is a lease, never POP's pop-and-forget: :meth:`PoolMixin.get_agenda` claims through
:func:`pop.scheduling.claim.claim_next`, the very code ``pop executor`` claims with (same
fairness, same ``queueSize`` capacity, one atomic transaction), so each agenda leaves the queue
EXECUTING/``claimed`` under the lease of ``owner`` (the executor's id). Every report and
heartbeat of that owner renews the lease; a report from an executor that no longer holds it is
refused (``ConflictError``, 409) and changes nothing. An executor that dies stops renewing, and
the reclaimer takes the agenda back once the lease lapses (``pop reclaim``, or an executor
daemon's pass on the same store), so nothing is lost.

Reports apply POP's whitelist (§9.8): only ``percentComplete``, ``diagnosticEvents``,
``operationProgress``, ``processingStateMessage``, ``processingState``, ``startedTime`` and
``completedTime`` are taken from a reported AgendaProgress; each OperationProgress is a partial
update of the stored one (fields absent or null keep their values, §9.7). Unlike POP, an
OperationProgress naming an op the agenda does not have is refused (POP would create it), and
``cid`` keeps the agenda's own. A report that completes the agenda releases the lease, as the
local executor does at its end.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from pop.api.pool_attempts import PoolAttemptsMixin
from pop.api.pool_lease import LeaseStatus, PoolAgenda, check_owner
from pop.errors import InputError, NotFoundError
from pop.models import Agenda, AgendaProgress, Operation, OperationProgress, ProcessingState
from pop.models.validation import json_kind, problems

# POP-REFERENCE §9.8: the AgendaProgress fields an executor's report may change
REPORTED_FIELDS = (
    "percentComplete",
    "diagnosticEvents",
    "operationProgress",
    "processingStateMessage",
    "processingState",
    "startedTime",
    "completedTime",
)
MAX_COUNT = 1000  # agendas one getAgenda may claim
# OperationProgress field -> ProgressStore.update_operation keyword
_OPERATION_UPDATES = {
    "processing_state": "state",
    "processing_state_message": "message",
    "percent_complete": "percent",
    "attempt_count": "attempt_count",
    "attempt_time": "attempt_time",
    "started_time": "started_time",
    "completed_time": "completed_time",
}
_AGENDA_UPDATES = {
    "processing_state": "state",
    "processing_state_message": "message",
    "percent_complete": "percent",
    "started_time": "started_time",
    "completed_time": "completed_time",
}


def progress_goes_with(progress: AgendaProgress | None) -> bool:
    """POP's attachment rule (§9.10): a claimed agenda carries its AgendaProgress only when at
    least one OperationProgress is not WAITING (some op ran before: the executor resumes)."""
    if progress is None:
        return False
    return any(
        operation.processing_state != ProcessingState.WAITING
        for operation in progress.operation_progress or []
    )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what} is required" + ("" if value is None else " (a string)"))
    return value.strip()


class PoolMixin(PoolAttemptsMixin):
    """getAgenda, updateAgendaProgress, updateAgenda and the heartbeat of remote executors; the
    attempt, launch and log writes come from :class:`pop.api.pool_attempts.PoolAttemptsMixin`."""

    # -- claiming ---------------------------------------------------------------------------

    def get_agenda(
        self,
        *,
        insight_id: str,
        count: int,
        owner: str,
        lease_seconds: float | None = None,
    ) -> builtins.list[tuple[Agenda, AgendaProgress | None]]:
        """Claim up to ``count`` queued agendas of ``insight_id`` for ``owner`` (POP's
        getAgenda), in the order the local executor would get them. Each holds ``owner``'s
        lease for ``lease_seconds`` (default ``Settings.lease_seconds``), has left the queue and
        is EXECUTING/``claimed``; it comes with its AgendaProgress when
        :func:`progress_goes_with` says so. InputError for a blank insight, a count below 1
        (or above 1000) or a bad owner; NotFoundError for an insight that is not stored."""
        from pop.scheduling.claim import claim_next
        from pop.store import DEFAULT_INSIGHT_ID

        insight_id = _text(insight_id, "insightId")
        if isinstance(count, bool) or not isinstance(count, int):
            raise InputError(f"count must be an integer, not {json_kind(count)}")
        if count < 1:
            raise InputError(f"count must be greater than 0 for getAgenda, not {count}")
        if count > MAX_COUNT:
            raise InputError(f"count may be at most {MAX_COUNT} for getAgenda, not {count}")
        owner = check_owner(owner)
        if (
            insight_id != DEFAULT_INSIGHT_ID
            and self.store.facility.insights.find(insight_id) is None
        ):
            raise NotFoundError(f"no insight {insight_id}", hint="`pop insight list` shows them")
        claimed = claim_next(
            self.store,
            owner=owner,
            lease_seconds=self.settings.lease_seconds if lease_seconds is None else lease_seconds,
            limit=count,
            insight_ids=[insight_id],
            aging_seconds=self.settings.priority_aging_seconds,
        )
        handed: builtins.list[tuple[Agenda, AgendaProgress | None]] = []
        for agenda_id in claimed:
            progress = self.store.progress.get(agenda_id)
            attached = progress if progress_goes_with(progress) else None
            handed.append((self.store.agendas.get(agenda_id), attached))
        return handed

    def pool_insight_of(self, agenda_id: str) -> str:
        """The insight of the agenda whose id or progress id is exactly ``agenda_id`` (what a
        caller must own to report for it); NotFoundError when there is none."""
        return self._pool_agenda(agenda_id).agenda_insight_id

    # -- reports ----------------------------------------------------------------------------

    def heartbeat(self, agenda_id: str, *, owner: str) -> LeaseStatus:
        """Renew ``owner``'s lease of the agenda (pop's extension): ConflictError when it no
        longer holds it; the answer says whether cancel was requested."""
        owner = check_owner(owner)
        found = self._pool_agenda(_text(agenda_id, "agendaId"))
        with self.store.transaction():
            return self._renew(found, owner)

    def update_agenda_progress(self, progress: Mapping[str, Any], *, owner: str) -> LeaseStatus:
        """Apply an executor's AgendaProgress report (POP's updateAgendaProgress; the fields of
        :data:`REPORTED_FIELDS` only) and renew ``owner``'s lease, all or nothing. ``id`` names
        the progress (or its agenda). InputError for a malformed report or an op the agenda
        does not have; ConflictError when ``owner`` no longer holds the lease."""
        if not isinstance(progress, Mapping):
            raise InputError(f"agendaProgress must be a JSON object, not {json_kind(progress)}")
        owner = check_owner(owner)
        found = self._pool_agenda(_text(progress.get("id"), "agendaProgress.id"))
        report = _parse_report(progress)
        with self.store.transaction():
            status = self._renew(found, owner)
            stored = self.store.progress.get(found.agenda_id)
            assert stored is not None  # _renew found its lease row
            self._apply_operations(found, stored, report.operation_progress or [])
            self._apply_agenda(found.progress_id, report)
            if report.processing_state == ProcessingState.COMPLETE:
                self.store.progress.release_lease(found.agenda_id, owner)
                status = LeaseStatus(
                    found.agenda_id, found.progress_id, owner, None, status.cancel_requested
                )
        return status

    def update_agenda(self, agenda: Mapping[str, Any], *, owner: str) -> Agenda:
        """Append generated operations to a running agenda (POP's updateAgenda:
        ``{agendaId, operations, params}``) with a WAITING OperationProgress each, merge
        ``params`` into the agenda's, and renew ``owner``'s lease, all or nothing. Ops already
        appended with the same content are skipped (a resend); a name the agenda already uses
        otherwise, an op without name or type, or a cycle is an InputError."""
        from pop.engine.submission import new_operation_progress

        if not isinstance(agenda, Mapping):
            raise InputError(f"the request must be a JSON object, not {json_kind(agenda)}")
        owner = check_owner(owner)
        found = self._pool_agenda(_text(agenda.get("agendaId"), "agendaId"))
        operations = _parse_operations(agenda.get("operations"))
        params = agenda.get("params")
        if params is not None and not isinstance(params, Mapping):
            raise InputError(f"params must be a JSON object, not {json_kind(params)}")
        with self.store.transaction():
            self._renew(found, owner)
            stored = self.store.agendas.get(found.agenda_id)
            added = _new_operations(stored, operations)
            first_seq = len(stored.operations)
            stored.operations.extend(added)
            merged = {**stored.params, **(params or {})}
            if added or merged != stored.params:
                stored.params = merged
                self.store.agendas.update(stored)
            self.store.progress.insert_operations(
                found.progress_id,
                [new_operation_progress(found.progress_id, operation) for operation in added],
                first_seq=first_seq,
            )
        return stored

    # -- internals --------------------------------------------------------------------------

    def _apply_operations(
        self, found: PoolAgenda, stored: AgendaProgress, reported: Sequence[OperationProgress]
    ) -> None:
        from pop.store import operation_progress_id

        known = {operation.operation for operation in stored.operation_progress or []}
        unknown = [
            operation.operation or "" for operation in reported if operation.operation not in known
        ]
        if unknown:
            raise InputError(
                f"agenda {found.agenda_id} has no operation "
                + ", ".join(f"'{name}'" for name in unknown),
                hint="updateAgenda adds generated operations before their progress is reported",
            )
        for operation in reported:
            given = {
                name: getattr(operation, name)
                for name in operation.model_fields_set
                if getattr(operation, name) is not None
            }
            updates: dict[str, Any] = {
                keyword: given[name]
                for name, keyword in _OPERATION_UPDATES.items()
                if name in given
            }
            if "result_payload" in given:
                updates.update(result_payload=given["result_payload"], set_result=True)
            if "diagnostic_events" in given:
                updates["diagnostics"] = given["diagnostic_events"]
            if "params" in given:
                updates["params"] = given["params"]
            if updates:
                self.store.progress.update_operation(
                    operation_progress_id(found.progress_id, operation.operation or ""), **updates
                )

    def _apply_agenda(self, progress_id: str, report: AgendaProgress) -> None:
        given = {
            name: getattr(report, name)
            for name in report.model_fields_set
            if getattr(report, name) is not None
        }
        updates = {
            keyword: given[name] for name, keyword in _AGENDA_UPDATES.items() if name in given
        }
        if updates:
            self.store.progress.update_agenda(progress_id, **updates)
        if "diagnostic_events" in given:
            self.store.progress.set_agenda_diagnostics(progress_id, given["diagnostic_events"])


def _parse_report(progress: Mapping[str, Any]) -> AgendaProgress:
    """The whitelisted fields of a report as an AgendaProgress (InputError naming each field
    that does not fit); every OperationProgress must name its operation."""
    taken = {name: progress[name] for name in REPORTED_FIELDS if name in progress}
    try:
        report = AgendaProgress.model_validate(taken)
    except ValidationError as exc:
        raise InputError(
            "agendaProgress: " + "; ".join(problems(exc, root="agendaProgress"))
        ) from None
    if any(not operation.operation for operation in report.operation_progress or []):
        raise InputError("All OperationProgress objects must specify the operation field.")
    return report


def _parse_operations(given: object) -> builtins.list[Operation]:
    if not isinstance(given, list) or not given:
        raise InputError("One or more operations must be specified on an updateAgenda request")
    operations: builtins.list[Operation] = []
    found_problems: builtins.list[str] = []
    for index, item in enumerate(given):
        try:
            operation = Operation.model_validate(item)
        except ValidationError as exc:
            found_problems.extend(problems(exc, root=f"operations[{index}]"))
            continue
        if not operation.name or not operation.type:
            found_problems.append(f"operations[{index}] needs a name and a type")
        operations.append(operation)
    if found_problems:
        raise InputError("invalid operations: " + "; ".join(found_problems))
    return operations


def _new_operations(agenda: Agenda, operations: Sequence[Operation]) -> builtins.list[Operation]:
    """The ops to append: those already in the agenda with the same content are left out (a
    resend); InputError for a name used otherwise (case-insensitive) or a cycle."""
    from pop.engine.dag import dependencies_of, find_cycles

    existing = {(operation.name or "").casefold(): operation for operation in agenda.operations}
    added: builtins.list[Operation] = []
    for operation in operations:
        key = (operation.name or "").casefold()
        same = existing.get(key)
        if same is not None and same.to_wire() == operation.to_wire():
            continue
        if same is not None or any((op.name or "").casefold() == key for op in added):
            raise InputError(
                f"agenda {agenda.id} already has an operation named '{operation.name}'"
            )
        added.append(operation)
    graph = {op.name or "": dependencies_of(op) for op in [*agenda.operations, *added]}
    cycles = find_cycles(graph)
    if cycles:
        raise InputError(
            "the operations would form a cycle: " + "; ".join(" -> ".join(c) for c in cycles)
        )
    return added
