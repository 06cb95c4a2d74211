"""Rerun: which ops of a stored agenda to reset or delete, and resetting them in the store.

Layer: engine. Called by the api for ``pop rerun`` (and for ``pop run-local --resume`` of a
COMPLETE agenda, with continue semantics).

Modes (DESIGN §5, POP §9.6): reset-all (the default), ``--reset a,b`` or continue (reset
nothing). The reset set is closed over dependents: an op joins when it depends on an op in the
set (``@<x.out...>`` references or ``dependsOn``) or when its ``generatedOperationParent`` is in
the set. Ops whose generator parent is in the set are deleted instead of reset: the generator
runs again and generates them anew. Succeeded ops that are not reset keep their output and are
not run again; every other op keeps its earlier progress, which the executor hands to its
handler as ``LAST_PROGRESS``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from pop.engine.dag import dependencies_of
from pop.engine.submission import queue_agenda
from pop.errors import InputError
from pop.models import (
    GENERATED_PARENT_PARAM,
    PENDING,
    Agenda,
    AgendaProgress,
    Operation,
    ProcessingState,
    now_ms,
)
from pop.store import Store, operation_progress_id


@dataclass(frozen=True)
class RerunPlan:
    """The ops to reset (to WAITING/pending) and to delete, each in agenda order."""

    reset: list[str]
    delete: list[str]


def split_names(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` → ``["a", "b", "c"]``: split on commas, trimmed, empties dropped."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    return names


def _requested(agenda: Agenda, reset: Collection[str]) -> set[str]:
    """The op names ``--reset`` asks for (matched exactly, else case-insensitively)."""
    names = split_names(reset)
    if not names:
        raise InputError("--reset names no operations", hint="give --reset a,b")
    exact = {op.name for op in agenda.operations if op.name}
    folded = {name.casefold(): name for name in exact}
    chosen: set[str] = set()
    unknown: list[str] = []
    for name in names:
        found = name if name in exact else folded.get(name.casefold())
        if found is None:
            unknown.append(name)
        else:
            chosen.add(found)
    if unknown:
        raise InputError(
            "unknown operations in --reset: " + ", ".join(unknown),
            hint="operations of the agenda: "
            + ", ".join(op.name or "" for op in agenda.operations),
        )
    return chosen


def check_mode(*, reset: Collection[str] | None, reset_all: bool, keep: bool) -> None:
    """InputError unless at most one of reset-all, reset and continue is asked for."""
    given = {"--reset-all": reset_all, "--reset": reset is not None, "--continue": keep}
    modes = [flag for flag, asked in given.items() if asked]
    if len(modes) > 1:
        raise InputError(
            f"give at most one of --reset-all, --reset, --continue (got {', '.join(modes)})"
        )


def plan_rerun(
    agenda: Agenda,
    *,
    reset: Collection[str] | None = None,
    reset_all: bool = False,
    keep: bool = False,
) -> RerunPlan:
    """The ops to reset and delete for one of the modes (none given = reset-all); ``keep`` is
    continue. Raises InputError for several modes at once, or for unknown or no op names."""
    check_mode(reset=reset, reset_all=reset_all, keep=keep)
    operations = [op for op in agenda.operations if op.name]
    if keep:
        return RerunPlan(reset=[], delete=[])
    chosen = (
        _requested(agenda, reset) if reset is not None else {op.name or "" for op in operations}
    )
    # Close the set over dependents and generated children (a walk over the reversed edges).
    followers: dict[str, list[str]] = {}
    for operation in operations:
        parent = _parent_of(operation)
        for name in [*dependencies_of(operation), *([parent] if parent else [])]:
            followers.setdefault(name, []).append(operation.name or "")
    frontier = list(chosen)
    while frontier:
        for follower in followers.get(frontier.pop(), []):
            if follower not in chosen:
                chosen.add(follower)
                frontier.append(follower)
    deleted = {op.name for op in operations if op.name in chosen and _parent_of(op) in chosen}
    reset_names = chosen - deleted
    return RerunPlan(
        reset=[op.name or "" for op in operations if op.name in reset_names],
        delete=[op.name or "" for op in operations if op.name in deleted],
    )


def _parent_of(operation: Operation) -> str | None:
    """The generator that added this op (``params.generatedOperationParent``), if any."""
    parent = operation.params.get(GENERATED_PARENT_PARAM)
    return parent if isinstance(parent, str) and parent else None


def apply_rerun(
    store: Store, agenda_id: str, plan: RerunPlan, *, skip_execution: bool = False
) -> AgendaProgress:
    """Reset and delete the plan's ops, set the agenda WAITING/pending and (unless
    ``skip_execution`` or ``params.doNotRun``) queue it again, all in one transaction.

    Refuses (InputError) an agenda that a live executor holds. ``attemptsCompleted``, each op's
    ``attemptCount`` and the attempt rows are kept: they are the agenda's history."""
    with store.transaction():
        agenda = store.agendas.get(agenda_id)
        progress = store.progress.get(agenda_id)
        if progress is None:
            raise InputError(f"agenda {agenda_id} has no progress record")
        owner, expires = store.progress.lease_of(agenda_id)
        if owner is not None and expires is not None and expires >= now_ms():
            raise InputError(
                f"agenda {agenda_id} is running; cancel it first",
                hint=f"`pop cancel {agenda_id}` (held by {owner})",
            )
        progress_id = progress.id or ""
        for name in plan.reset:
            store.progress.update_operation(
                operation_progress_id(progress_id, name),
                state=ProcessingState.WAITING,
                message=PENDING,
                percent=0.0,
                started_time=None,
                completed_time=None,
                set_result=True,
                result_payload=None,
                diagnostics=[],
            )
        if plan.delete:
            deleted = set(plan.delete)
            agenda.operations = [op for op in agenda.operations if op.name not in deleted]
            store.agendas.update(agenda)
            store.progress.delete_operations(progress_id, plan.delete)
        changed = {*plan.reset, *plan.delete}
        succeeded = sum(
            1
            for op in progress.operation_progress or []
            if op.succeeded and op.operation not in changed
        )
        total = len(agenda.operations)
        store.progress.reset_agenda(
            progress_id, percent=succeeded * 100.0 / total if total else 0.0
        )
        if skip_execution or "doNotRun" in agenda.params:
            store.queue.remove(agenda_id)
        else:
            queue_agenda(store, agenda)
    final = store.progress.get(agenda_id)
    assert final is not None
    return final
