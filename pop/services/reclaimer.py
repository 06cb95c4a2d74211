"""The reclaimer: takes agendas back from executors that died, stops what they launched and
requeues the agendas (continue semantics) or fails them when their attempts are spent.

Layer: services. Called by ``pop reclaim`` (one pass, through :mod:`pop.api`) and by the executor
daemon on an interval (await :func:`reclaim_once_async` there). It reads the store only: leases
and the attempt rows, whose ``launched`` records say what each attempt started (a process group,
a container, a pod), so a process that never met the dead executor can stop its launches.

An agenda is reclaimed when its executor looks dead for longer than the grace period
(``Settings.reclaim_grace_seconds``, ``pop reclaim --older-than``):

- EXECUTING with a lease that expired before ``now - grace``;
- EXECUTING with no lease and no update since ``now - grace`` (an executor that died before it
  took its lease);
- WAITING with a lease that expired before ``now - grace`` (claimed, then the executor died
  before it started the agenda): the lease is dropped and the agenda queued again; no attempt
  is counted, since none ran.

For an EXECUTING agenda, each launch of an attempt that never ended is stopped through its
runtime, built with the agenda's stored runtime options: the handler's own launch (a resident
handler died with its executor) and every external launch recorded in the attempt row that had
not ended (a resident transcode's ffmpeg process or container). A runtime that cannot be
reached is reported in the result and does not stop the pass. The attempt rows end ``lost``, ops
left
EXECUTING become COMPLETE/failed "lost: its executor stopped" (so the rerun hands them their
progress as ``LAST_PROGRESS`` and launches them again) and the agenda completes an attempt. While
``attemptsCompleted`` < min(20, ``maximumAttempts``) it is reset with continue semantics and
queued on its insight (as ``pop rerun --continue``); otherwise it stays COMPLETE/failed with
POP's diagnostic "AgendaProgress timed out. (its executor stopped)".

Races: the state change is one transaction whose UPDATE re-checks the state and the lease
(same owner, same expiry, still expired), so an executor that renewed its lease or completed the
agenda meanwhile, or another reclaimer that got there first, is never overwritten: that agenda
is reported ``skipped``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pop.config import Settings
from pop.engine.rerun import RerunPlan, apply_rerun
from pop.errors import PopError
from pop.models import FAILED, AgendaProgress, DiagnosticEvent, ProcessingState, now_ms
from pop.runtimes import Launcher, LaunchRecord, create_launcher
from pop.runtimes.settings import check_runtime_settings
from pop.services.retrier import retry_allowed
from pop.store import Store

LOST = "lost"
RESIDENT = "resident"  # the launch record of an attempt that ran inside its executor
LOST_MESSAGE = "lost: its executor stopped"
TIMED_OUT_MESSAGE = "AgendaProgress timed out. (its executor stopped)"
REQUEUED, RESET, FAILED_ACTION, RELEASED, SKIPPED = (
    "requeued",
    "reset",
    "failed",
    "released",
    "skipped",
)


@dataclass(frozen=True)
class ReclaimResult:
    """What one pass did with one agenda whose executor looked dead.

    ``action``: ``requeued`` (reset with continue semantics and queued), ``reset`` (the same for
    a ``doNotRun`` agenda: not queued), ``failed`` (attempts spent: COMPLETE/failed),
    ``released`` (a WAITING agenda whose lease lapsed: queued again) or ``skipped`` (it changed
    meanwhile: renewed, completed, or reclaimed by another process). ``stopped`` lists the
    launches that were still running and were stopped; ``problems`` those that could not be.
    """

    agenda_id: str
    action: str
    previous_state: str
    lease_owner: str | None
    attempts_completed: int | None = None
    maximum_attempts: int | None = None
    stopped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "agendaId": self.agenda_id,
            "action": self.action,
            "previousState": self.previous_state,
            "leaseOwner": self.lease_owner,
            "attemptsCompleted": self.attempts_completed,
            "maximumAttempts": self.maximum_attempts,
            "stopped": list(self.stopped),
            "problems": list(self.problems),
            "message": self.message,
        }


def reclaim_once(
    store: Store,
    settings: Settings,
    *,
    now: int | None = None,
    older_than: float | None = None,
    runtime_options: Mapping[str, str] | None = None,
) -> list[ReclaimResult]:
    """One pass (see the module docstring); ``older_than`` (seconds) replaces the grace period,
    ``now`` (epoch ms) the current time, and each of ``runtime_options`` (``pop reclaim
    --kubeconfig``...) the one stored with an agenda; InputError, before anything changes,
    for one mistyped (``--kubeconfig /nope``). For code outside an event loop."""
    if runtime_options:
        check_runtime_settings("kubernetes", runtime_options)
    return asyncio.run(
        reclaim_once_async(
            store, settings, now=now, older_than=older_than, runtime_options=runtime_options
        )
    )


async def reclaim_once_async(
    store: Store,
    settings: Settings,
    *,
    now: int | None = None,
    older_than: float | None = None,
    runtime_options: Mapping[str, str] | None = None,
) -> list[ReclaimResult]:
    """:func:`reclaim_once` for callers that run an event loop (the executor daemon)."""
    now = now_ms() if now is None else now
    grace = settings.reclaim_grace_seconds if older_than is None else older_than
    cutoff = now - int(grace * 1000)
    launchers: dict[str, Launcher] = {}
    results: list[ReclaimResult] = []
    try:
        for candidate in store.progress.reclaim_candidates(cutoff):
            results.append(
                await _reclaim(store, settings, candidate, cutoff, launchers, runtime_options)
            )
    finally:
        for launcher in launchers.values():
            await launcher.close()
    return results


async def reclaim_agenda_async(
    store: Store, settings: Settings, agenda_id: str
) -> ReclaimResult | None:
    """Reclaim one agenda now, however long its lease still runs: for a caller that knows the
    lease owner is dead (``pop batch`` resuming after its earlier run was killed). None when
    the agenda holds no lease and is not EXECUTING."""
    cutoff = now_ms() + FOREVER_MS
    launchers: dict[str, Launcher] = {}
    try:
        for candidate in store.progress.reclaim_candidates(cutoff):
            if candidate["agendaId"] == agenda_id:
                return await _reclaim(store, settings, candidate, cutoff, launchers)
    finally:
        for launcher in launchers.values():
            await launcher.close()
    return None


def owner_is_dead(owner: str | None) -> bool:
    """Whether a lease owner id (``host:pid:random``) names a process of this host that no
    longer exists. Owners on other hosts are never judged dead here."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


FOREVER_MS = 10 * 365 * 24 * 3600 * 1000


async def _reclaim(
    store: Store,
    settings: Settings,
    candidate: dict[str, Any],
    cutoff: int,
    launchers: dict[str, Launcher],
    overrides: Mapping[str, str] | None = None,
) -> ReclaimResult:
    agenda_id, progress_id = candidate["agendaId"], candidate["id"]
    state, owner, expires = candidate["state"], candidate["leaseOwner"], candidate["leaseExpires"]
    stopped: list[str] = []
    problems: list[str] = []

    def result(action: str, message: str, progress: AgendaProgress | None = None) -> ReclaimResult:
        return ReclaimResult(
            agenda_id=agenda_id,
            action=action,
            previous_state=state,
            lease_owner=owner,
            attempts_completed=progress.attempts_completed if progress else None,
            maximum_attempts=progress.maximum_attempts if progress else None,
            stopped=stopped,
            problems=problems,
            message=message,
        )

    # Stop the dead executor's launches first (slow: outside any transaction), unless its lease
    # moved meanwhile: then the executor is alive after all and its launches are its own.
    if store.progress.lease_of(agenda_id) != (owner, expires):
        return result(SKIPPED, "its lease changed: the executor is alive")
    options = {**runtime_options(store, agenda_id), **(overrides or {})}
    stopper = _Stopper(settings, launchers, options, stopped, problems)
    for attempt in store.attempts.open_attempts(agenda_id):
        await stopper.stop_attempt(attempt)
    executing = state == ProcessingState.EXECUTING.value
    with store.transaction():
        if not store.progress.complete_reclaimed(
            progress_id,
            state=state,
            owner=owner,
            expires=expires,
            cutoff=cutoff,
            diagnostic=DiagnosticEvent.of(TIMED_OUT_MESSAGE) if executing else None,
        ):
            return result(SKIPPED, "it changed meanwhile (renewed, completed or reclaimed)")
        _end_lost_work(store, agenda_id, progress_id, owner)
        progress = store.progress.get(agenda_id, with_operations=False)
        assert progress is not None
        if executing and not retry_allowed(progress.attempts_completed, progress.maximum_attempts):
            return result(FAILED_ACTION, TIMED_OUT_MESSAGE, progress)
        do_not_run = "doNotRun" in store.agendas.get(agenda_id).params
        apply_rerun(store, agenda_id, RerunPlan(reset=[], delete=[]))
    if not executing:
        return result(RELEASED, "its lease lapsed before it started; queued again", progress)
    message = (
        f"{LOST_MESSAGE}; attempt {(progress.attempts_completed or 0) + 1} of "
        f"{progress.maximum_attempts} "
        + ("reset (doNotRun: not queued)" if do_not_run else "queued")
    )
    return result(RESET if do_not_run else REQUEUED, message, progress)


def _end_lost_work(store: Store, agenda_id: str, progress_id: str, owner: str | None) -> None:
    """End the agenda's open attempt rows ``lost`` and fail its ops left EXECUTING."""
    ended = f"{LOST_MESSAGE} (the lease of {owner or 'no executor'} lapsed)"
    for attempt in store.attempts.open_attempts(agenda_id):
        store.attempts.end(attempt["id"], LOST, message=ended)
    for operation in store.progress.operations(progress_id):
        if operation.processing_state == ProcessingState.EXECUTING:
            store.progress.update_operation(
                operation.id or "",
                state=ProcessingState.COMPLETE,
                message=FAILED,
                completed_time=now_ms(),
                diagnostics=[
                    *(operation.diagnostic_events or []),
                    DiagnosticEvent.of(LOST_MESSAGE),
                ],
            )


def runtime_options(store: Store, agenda_id: str) -> dict[str, str]:
    """The runtime options the agenda was run with (its stored launch settings; {} if none)."""
    options = store.agendas.launch_settings(agenda_id).get("runtimeOptions")
    if not isinstance(options, dict):
        return {}
    return {str(key): str(value) for key, value in options.items()}


class _Stopper:
    """Stops what the open attempts of one agenda launched, through launchers built with the
    agenda's runtime options (shared by the pass, one per runtime and options); a problem is
    noted in ``problems``, never raised."""

    def __init__(
        self,
        settings: Settings,
        launchers: dict[str, Launcher],
        options: dict[str, str],
        stopped: list[str],
        problems: list[str],
    ) -> None:
        self.settings, self.launchers, self.options = settings, launchers, options
        self.stopped, self.problems = stopped, problems

    async def stop_attempt(self, attempt: dict[str, Any]) -> None:
        """The attempt's own launch (a resident one ran inside the dead executor and died with
        it), then each of its external launches that had not ended, whatever runtime each
        ran on."""
        launched = attempt.get("launched")
        if not launched or attempt.get("operation") is None:
            return
        where = f"{attempt['operation']} attempt {attempt['number']}"
        if not isinstance(launched, dict):
            self.problems.append(f"{where}: unreadable launch record {launched!r}")
            return
        if launched.get("runtime") != RESIDENT:
            await self._stop(launched, where)
        externals = launched.get("externals") or []
        for external in externals if isinstance(externals, list) else []:
            if isinstance(external, dict) and external.get("endedTime") is None:
                name = external.get("name") or "external"
                await self._stop(external, f"{where} ({name})")

    async def _stop(self, launched: Any, where: str) -> None:
        try:
            record = LaunchRecord.from_json(launched)
        except (KeyError, TypeError, AttributeError):
            self.problems.append(f"{where}: unreadable launch record {launched!r}")
            return
        try:
            key = json.dumps([record.runtime, self.options], sort_keys=True)
            launcher = self.launchers.get(key)
            if launcher is None:
                launcher = self.launchers[key] = create_launcher(
                    record.runtime, options=self.options
                )
            if await launcher.stop(record, self.settings.cancel_grace_seconds):
                self.stopped.append(f"{where}: {record.runtime} {record.ref}")
        except PopError as exc:
            self.problems.append(
                f"{where}: cannot stop {record.runtime} {record.ref}: {exc.message}"
            )
