"""The launch reaper: removes finished containers (and, later, pods) that pop left behind.

Layer: services. Called by ``pop reap containers`` (through :mod:`pop.api`); ``pop reap pods``
uses it the same way. It speaks only the :class:`pop.runtimes.base.ListingLauncher` protocol, so
it never knows which runtime it holds.

Launches are kept after they end with ``--keep`` (and stay behind when an executor dies before
its cleanup). A launch goes when it carries ``app.kubernetes.io/managed-by=pop``, has finished,
and finished longer ago than the cutoff (one that never started counts from its creation). It
is never touched while it runs, nor while the attempt that launched it is still open in the
store: the caller passes the refs of every open attempt's launch and externals (``open_refs``)
and, for launches whose ref was not recorded yet, the open attempts' (agenda id, operation,
attempt number) to match the ``pop.agendaId``, ``pop.operation`` and ``pop.attempt`` labels.

Orphans (``pop reap pods --orphans`` and the executor's services): launches still running that
this store no longer needs, because the attempt that started them has ended or their agenda is
complete (an executor that died between recording an outcome and its cleanup, a pod whose
delete was lost). They are removed whatever their age; a running launch of an agenda this store
does not know is never an orphan (it may be another store's). Finished launches are left to the
age rule, so ``--keep`` still keeps them for the cutoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pop.errors import PopError
from pop.models import ProcessingState
from pop.runtimes.base import LaunchInfo, ListingLauncher

if TYPE_CHECKING:
    from pop.store import Store

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "pop"

REMOVED = "removed"
WOULD_REMOVE = "would remove"
KEPT = "kept"

RUNNING = "running"
OPEN_ATTEMPT = "open attempt"
TOO_RECENT = "finished after the cutoff"
NO_TIME = "no finish or creation time"
OUT_OF_TIME = "the reaper's run time was up"
DEFAULT_BATCH_SIZE = 50  # POP's pod.reap.batch.size

AttemptKey = tuple[str, str, str]
# why a running launch is an orphan (None: it is not one)
OrphanCause = Callable[[LaunchInfo], "str | None"]


@dataclass(frozen=True)
class ReapedLaunch:
    """One pop-labelled launch the reaper looked at, and what it did with it.

    ``action`` is ``removed``, ``would remove`` (dry run) or ``kept``; ``reason`` says why one
    was kept (``running``, ``open attempt``, ``finished after the cutoff``, ``cannot remove:
    ...``). Times are epoch seconds; ``age_seconds`` counts from the finish (from the creation
    for a launch that never ran, or one still running)."""

    info: LaunchInfo
    action: str
    reason: str
    age_seconds: float | None
    batch: int | None = None  # which delete batch removed it (1, 2, ...)
    orphan: str | None = None  # why a running launch was not needed any more

    @property
    def ref(self) -> str:
        return self.info.record.ref

    @property
    def name(self) -> str:
        return str(self.info.record.details.get("name") or "")

    @property
    def status(self) -> str:
        """``removed``, ``would remove``, ``kept: <reason>``; ``... (orphan: <why>)``."""
        text = f"{self.action}: {self.reason}" if self.reason else self.action
        return f"{text} (orphan: {self.orphan})" if self.orphan else text

    def to_json(self) -> dict[str, Any]:
        labels = self.info.labels
        return {
            "runtime": self.info.record.runtime,
            "ref": self.ref,
            "name": self.name,
            "image": self.info.record.details.get("image"),
            "agendaId": labels.get("pop.agendaId"),
            "operation": labels.get("pop.operation"),
            "attempt": labels.get("pop.attempt"),
            "role": labels.get("pop.role"),
            "running": self.info.running,
            "createdAt": _ms(self.info.created_at),
            "finishedAt": _ms(self.info.finished_at),
            "ageSeconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "action": self.action,
            "reason": self.reason or None,
            "orphan": self.orphan,
            "labels": dict(labels),
        }


async def reap_launches(
    launcher: ListingLauncher,
    *,
    older_than_seconds: float,
    dry_run: bool,
    open_refs: Collection[str],
    open_attempts: Collection[AttemptKey] = (),
    selector: Mapping[str, str] | None = None,
    listed: list[LaunchInfo] | None = None,
    now: float | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_runtime_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    orphan_cause: OrphanCause | None = None,
    orphans_only: bool = False,
) -> list[ReapedLaunch]:
    """Remove (``dry_run``: only list) every finished pop-labelled launch of ``launcher`` that
    finished more than ``older_than_seconds`` before ``now`` (epoch seconds, default the current
    time; exactly at the cutoff counts as past it); report every pop-labelled launch that matches
    ``selector`` (labels that must all be equal), oldest first, with what was done. Running
    launches and those of open attempts are kept.

    Removals go in batches of ``batch_size``, the launches of a batch at once (POP's pod
    reaper): a launch that cannot be removed is reported as kept, with why, and the next batch
    goes on; once ``max_runtime_seconds`` have passed no further batch starts (the first always
    runs), and what is left is reported as kept.

    With ``orphan_cause`` (:func:`store_orphan_cause`), a running launch of no open attempt for
    which it gives a cause is removed too, whatever its age (``orphans_only``: only those are
    reported and removed).

    ``listed`` is what :func:`list_pop_launches` found (default: listed now). Read the open
    attempts *after* listing: an attempt row exists before its launch does, so a launch in the
    listing whose attempt is not open by then will never be needed again."""
    now = time.time() if now is None else now
    started = clock()
    cutoff = now - older_than_seconds
    found = await list_pop_launches(launcher, selector) if listed is None else listed
    reaped: list[ReapedLaunch] = []
    doomed: list[tuple[LaunchInfo, float | None, str | None]] = []
    for info in found:
        since = _since(info)
        age = None if since is None else max(0.0, now - since)
        reason = _kept_because(info, since, cutoff, open_refs, open_attempts)
        orphan = None
        if (
            orphan_cause is not None
            and reason == RUNNING
            and not _of_open_attempt(info, open_refs, open_attempts)
        ):
            orphan = orphan_cause(info)
            reason = "" if orphan else reason
        if orphans_only and orphan is None:
            continue
        if reason:
            reaped.append(ReapedLaunch(info, KEPT, reason, age))
        elif dry_run:
            reaped.append(ReapedLaunch(info, WOULD_REMOVE, "", age, orphan=orphan))
        else:
            doomed.append((info, age, orphan))
    size = max(1, batch_size)
    for start in range(0, len(doomed), size):
        batch = doomed[start : start + size]
        if start and max_runtime_seconds is not None and clock() - started > max_runtime_seconds:
            reaped.extend(
                ReapedLaunch(info, KEPT, OUT_OF_TIME, age, orphan=orphan)
                for info, age, orphan in doomed[start:]
            )
            break
        number = start // size + 1
        outcomes = await asyncio.gather(
            *(launcher.remove(info.record) for info, _, _ in batch), return_exceptions=True
        )
        for (info, age, orphan), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, PopError):
                why = f"cannot remove: {outcome.message}"
                reaped.append(ReapedLaunch(info, KEPT, why, age, number, orphan))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                reaped.append(ReapedLaunch(info, REMOVED, "", age, number, orphan))
    return reaped


async def reap_orphans(launcher: ListingLauncher, store: Store) -> list[ReapedLaunch]:
    """One orphan pass (the executor's services): remove the running launches of ``launcher``
    that ``store`` no longer needs (:func:`store_orphan_cause`); report those removed, or kept
    because removing them failed."""
    listed = await list_pop_launches(launcher)
    refs, keys = open_launch_keys(store.attempts.all_open())  # read after the listing
    return await reap_launches(
        launcher,
        older_than_seconds=0.0,
        dry_run=False,
        open_refs=refs,
        open_attempts=keys,
        listed=listed,
        orphan_cause=store_orphan_cause(store),
        orphans_only=True,
    )


async def list_pop_launches(
    launcher: ListingLauncher, selector: Mapping[str, str] | None = None
) -> list[LaunchInfo]:
    """The launcher's pop-labelled launches whose labels match ``selector``, oldest first."""
    found = [
        info
        for info in await launcher.list_launches()
        if info.labels.get(MANAGED_BY_LABEL) == MANAGED_BY
        and all(info.labels.get(key) == value for key, value in (selector or {}).items())
    ]
    return sorted(found, key=lambda info: (_since(info) or 0.0, info.record.ref))


def open_launch_keys(
    attempts: Collection[Mapping[str, Any]],
) -> tuple[set[str], set[AttemptKey]]:
    """From open attempt rows (``pop.store`` shape: agendaId, operation, number, launched):
    the refs of their launches and externals, and their (agenda id, operation, number)."""
    refs: set[str] = set()
    keys: set[AttemptKey] = set()
    for attempt in attempts:
        if attempt.get("operation") is not None:
            keys.add((str(attempt["agendaId"]), str(attempt["operation"]), str(attempt["number"])))
        launched = attempt.get("launched")
        if not isinstance(launched, Mapping):
            continue
        if launched.get("ref"):
            refs.add(str(launched["ref"]))
        externals = launched.get("externals")
        for external in externals if isinstance(externals, list) else []:
            if isinstance(external, Mapping) and external.get("ref"):
                refs.add(str(external["ref"]))
    return refs, keys


def store_orphan_cause(store: Store) -> OrphanCause:
    """Why a running launch is not needed by ``store`` any more, from its labels: ``its attempt
    ended (<outcome>)`` or ``its agenda is complete``; None for an agenda the store does not
    know (another store's launch) or one still in need of it. Each agenda is read once."""
    agendas: dict[str, tuple[bool, dict[tuple[str, str], Mapping[str, Any]]] | None] = {}

    def known(agenda_id: str) -> tuple[bool, dict[tuple[str, str], Mapping[str, Any]]] | None:
        if agenda_id not in agendas:
            progress = store.progress.get(agenda_id, with_operations=False)
            if progress is None:
                agendas[agenda_id] = None
            else:
                rows: dict[tuple[str, str], Mapping[str, Any]] = {
                    (str(row["operation"]), str(row["number"])): row
                    for row in store.attempts.list(agenda_id)
                }
                complete = progress.processing_state == ProcessingState.COMPLETE
                agendas[agenda_id] = (complete, rows)
        return agendas[agenda_id]

    def cause(info: LaunchInfo) -> str | None:
        labels = info.labels
        agenda_id = labels.get("pop.agendaId")
        found = known(agenda_id) if agenda_id else None
        if found is None:
            return None
        complete, rows = found
        row = rows.get((labels.get("pop.operation", ""), labels.get("pop.attempt", "")))
        if row is not None and row.get("endedTime") is not None:
            return f"its attempt ended ({row.get('outcome') or 'ended'})"
        return "its agenda is complete" if complete else None

    return cause


def _of_open_attempt(
    info: LaunchInfo, open_refs: Collection[str], open_attempts: Collection[AttemptKey]
) -> bool:
    labels = info.labels
    key = (
        labels.get("pop.agendaId", ""),
        labels.get("pop.operation", ""),
        labels.get("pop.attempt", ""),
    )
    return info.record.ref in open_refs or key in open_attempts


def _kept_because(
    info: LaunchInfo,
    since: float | None,
    cutoff: float,
    open_refs: Collection[str],
    open_attempts: Collection[AttemptKey],
) -> str:
    if info.running:
        return RUNNING
    if _of_open_attempt(info, open_refs, open_attempts):
        return OPEN_ATTEMPT
    if since is None:
        return NO_TIME
    if since > cutoff:
        return TOO_RECENT
    return ""


def _since(info: LaunchInfo) -> float | None:
    """When the launch finished; when it was created, for one still running or never run."""
    if info.finished_at is not None and not info.running:
        return info.finished_at
    return info.created_at


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)
