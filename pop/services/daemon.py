"""The executor daemon (``pop executor``): claims queued agendas and runs them, several at once.

Layer: services. It claims agendas atomically from the ready queue (``pop.scheduling.claim``),
runs each with an :class:`pop.engine.executor.AgendaRunner` under the daemon's lease owner id,
and runs the reclaimer and the retrier on their intervals (not at all with
``DaemonOptions.services`` off). What those passes did to an agenda (retried, reclaimed) is in
the report and goes to ``on_service`` as it happens, so ``pop executor`` never reruns an old
failed agenda silently. SIGTERM stops claiming and lets the running agendas finish; a second
SIGTERM stops them (they end ``lost`` and are retried later). With ``DaemonOptions.alive_file``
each turn of the claim loop that asked the store for work and got an answer (or had no free slot
to ask for, or is stopping) sets that file's modification time (:class:`AliveFile`), which
``pop alive`` checks: POP's alive check, for a liveness probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from pop.config import Settings
from pop.engine.budget import CpuBudget
from pop.engine.executor import AgendaRunner, RunOptions, new_executor_id
from pop.engine.state import StopKind
from pop.engine.submission import queue_agenda
from pop.errors import PopError, RuntimeUnavailableError
from pop.models import AgendaProgress, ProcessingState
from pop.registry import Registry
from pop.runtimes.base import Launcher, ListingLauncher
from pop.services.launch_reaper import ReapedLaunch, reap_orphans
from pop.services.reclaimer import SKIPPED as RECLAIM_SKIPPED
from pop.services.reclaimer import ReclaimResult
from pop.services.retrier import REQUEUED, RESET, RetryResult
from pop.store import Store

ServiceResult: TypeAlias = RetryResult | ReclaimResult | ReapedLaunch
"""What a retrier or reclaimer pass did to one agenda."""


@dataclass(frozen=True)
class DaemonOptions:
    """How the daemon works: which insights, how many agendas at once, when to stop."""

    run: RunOptions = field(default_factory=RunOptions)
    insight_ids: Sequence[str] | None = None
    max_running: int = 4
    max_agendas: int | None = None
    once: bool = False
    poll_seconds: float = 1.0
    services: bool = True
    """Run the reclaimer and the retrier on their intervals (off: claims only)."""
    alive_file: Path | None = None
    """Touched after each answered ask for work (:class:`AliveFile`); None: nothing written."""


class AliveFile:
    """The file whose modification time tells when the claim loop last asked for work and got an
    answer (``pop executor --alive-file``; ``pop alive`` checks it). :meth:`reset` at start
    removes a file left by an earlier process (no ask made yet: alive, POP's rule);
    :meth:`touch` sets its time to now, creating it if missing: one ``utime`` call."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.failure: str | None = None

    def reset(self) -> None:
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def touch(self) -> str | None:
        """Set the time; on the first failure, its message (later ones: None)."""
        if self.path is None:
            return None
        try:
            try:
                os.utime(self.path)
            except FileNotFoundError:
                self.path.touch()
        except OSError as exc:
            if self.failure is None:
                self.failure = f"alive file {self.path}: {exc.strerror or exc}"
                return self.failure
        return None


@dataclass
class DaemonReport:
    """What one daemon run did: the agendas it ran and how they ended, the agendas the retrier
    reran (``retried``) and the reclaimer took back (``reclaimed``), and errors."""

    agendas: list[str] = field(default_factory=list)
    succeeded: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    retried: list[RetryResult] = field(default_factory=list)
    reclaimed: list[ReclaimResult] = field(default_factory=list)
    orphans: list[ReapedLaunch] = field(default_factory=list)

    def count(self, progress: AgendaProgress | None, error: PopError | None = None) -> None:
        """Count one agenda that ended: failed when its run raised ``error``."""
        if error is not None:
            self.errors.append(error.message)
        if progress is not None and error is None and progress.succeeded:
            self.succeeded += 1
        else:
            self.failed += 1


class ExecutorDaemon:
    """Claims and runs agendas until told to stop (or, with ``once``, until out of work)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        launcher: Launcher,
        settings: Settings,
        options: DaemonOptions,
        *,
        owner: str | None = None,
        on_finished: Callable[[AgendaProgress], None] | None = None,
        on_service: Callable[[ServiceResult], None] | None = None,
        external_launcher: Launcher | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.launcher = launcher
        self.external_launcher = external_launcher
        self.settings = settings
        self.options = options
        self.owner = owner or new_executor_id()
        self.on_finished = on_finished
        self.on_service = on_service
        self.report = DaemonReport()
        self._running: dict[asyncio.Task[AgendaProgress], AgendaRunner] = {}
        self._agenda_of: dict[asyncio.Task[AgendaProgress], str] = {}
        self._stopping = False
        self._unreachable: RuntimeUnavailableError | None = None
        self._wake = asyncio.Event()
        self.alive = AliveFile(options.alive_file)
        # one budget for every agenda this daemon runs: N agendas never oversubscribe the cores
        self.budget = CpuBudget(options.run.cpus)

    def stop(self) -> None:
        """First call: claim nothing more, let running agendas finish. Second: stop them too."""
        if self._stopping:
            for runner in self._running.values():
                runner.cancel("lease lost: the executor was stopped", StopKind.LOST)
        self._stopping = True
        self._wake.set()

    async def _check_runtimes(self) -> None:
        """RuntimeUnavailableError (exit 3) when the launcher or the handlers' runtime is down."""
        await self.launcher.check()
        if self.external_launcher is not None:
            await self.external_launcher.check()

    async def run(self) -> DaemonReport:
        self.alive.reset()
        await self._check_runtimes()
        last_reclaim = last_retry = last_orphans = 0.0
        while True:
            now = time.monotonic()
            services = self.options.services and not self._stopping
            if services and now - last_reclaim >= self.settings.reclaim_every_seconds:
                last_reclaim = now
                await self._service("reclaim")
            if services and now - last_retry >= self.settings.retry_every_seconds:
                last_retry = now
                await self._service("retry")
            if services and now - last_orphans >= self.settings.reclaim_every_seconds:
                last_orphans = now
                await self._reap_orphans()
            if self._unreachable is not None and not self._stopping:
                # a runtime went away: claim again only once it answers (--once: exit 3 now)
                try:
                    await self._check_runtimes()
                    self._unreachable = None
                except RuntimeUnavailableError:
                    if self.options.once:
                        raise
            claimed = [] if self._stopping or self._unreachable else self._claim()
            if self._unreachable is None:
                # the store answered (or no slot was free, or stopping): the loop turns
                self._note_alive()
            for agenda_id in claimed:
                self._start(agenda_id)
            if not self._running:
                if self._stopping or self._quota_spent():
                    break
                if self.options.once and not claimed:
                    break
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            done, _ = await asyncio.wait(
                [*self._running, waker],
                timeout=self.options.poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waker.cancel()
            for task in list(self._running):
                if task in done:
                    self._collect(task)
        return self.report

    # -- internals --------------------------------------------------------------------------

    def _note_alive(self) -> None:
        problem = self.alive.touch()
        if problem is not None:
            self.report.errors.append(problem)

    def _quota_spent(self) -> bool:
        limit = self.options.max_agendas
        return limit is not None and len(self.report.agendas) >= limit

    def _claim(self) -> list[str]:
        free = self.options.max_running - len(self._running)
        if self.options.max_agendas is not None:
            free = min(free, self.options.max_agendas - len(self.report.agendas))
        if free <= 0:
            return []
        from pop.scheduling.claim import claim_next

        return claim_next(
            self.store,
            owner=self.owner,
            lease_seconds=self.settings.lease_seconds,
            limit=free,
            insight_ids=self.options.insight_ids,
            aging_seconds=self.settings.priority_aging_seconds,
        )

    def _start(self, agenda_id: str) -> None:
        runner = AgendaRunner(
            self.store,
            self.registry,
            self.launcher,
            self.settings,
            self.options.run,
            executor_id=self.owner,
            budget=self.budget,
            external_launcher=self.external_launcher,
        )
        task = asyncio.get_running_loop().create_task(runner.run(agenda_id))
        self._running[task] = runner
        self._agenda_of[task] = agenda_id
        self.report.agendas.append(agenda_id)

    def _collect(self, task: asyncio.Task[AgendaProgress]) -> None:
        self._running.pop(task)
        agenda_id = self._agenda_of.pop(task)
        try:
            progress = task.result()
        except RuntimeUnavailableError as exc:
            # checked before the run took anything: the agenda goes back, no attempt counted
            put_back(self.store, agenda_id, self.owner, f"waiting: {exc.message}")
            self.report.agendas.remove(agenda_id)
            self.report.errors.append(exc.message)
            self._unreachable = exc
            return
        except PopError as exc:
            self.report.count(None, exc)
            return
        self.report.count(progress)
        if self.on_finished is not None:
            self.on_finished(progress)

    async def _service(self, name: str) -> None:
        """Run one pass of the reclaimer or the retrier; their errors never stop the daemon.
        Each agenda the pass reran or took back is reported (one waiting for its backoff, or
        left alone because it changed meanwhile, is not)."""
        results: list[ServiceResult]
        try:
            if name == "reclaim":
                from pop.services.reclaimer import reclaim_once_async

                reclaimed = await reclaim_once_async(self.store, self.settings)
                done = [result for result in reclaimed if result.action != RECLAIM_SKIPPED]
                self.report.reclaimed.extend(done)
                results = list(done)
            else:
                from pop.services.retrier import retry_once

                retried = retry_once(self.store, self.settings)
                rerun = [result for result in retried if result.action in (REQUEUED, RESET)]
                self.report.retried.extend(rerun)
                results = list(rerun)
        except PopError as exc:
            self.report.errors.append(f"{name}: {exc.message}")
            return
        if self.on_service is not None:
            for result in results:
                self.on_service(result)

    async def _reap_orphans(self) -> None:
        """Remove the running containers or pods of this executor's runtime that the store no
        longer needs (pop.services.launch_reaper); its errors never stop the daemon."""
        if not isinstance(self.launcher, ListingLauncher):
            return  # local processes die with their executor or are reclaimed
        try:
            found = await reap_orphans(self.launcher, self.store)
        except PopError as exc:
            self.report.errors.append(f"orphans: {exc.message}")
            return
        self.report.orphans.extend(found)
        if self.on_service is not None:
            for reaped in found:
                self.on_service(reaped)

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, PopError):
                await task


def put_back(store: Store, agenda_id: str, owner: str, message: str) -> None:
    """Return a claimed agenda that could not start (its runtime is unreachable) to the ready
    queue, WAITING with ``message``, its lease released: as if it had never been claimed."""
    agenda = store.agendas.get(agenda_id)
    progress = store.progress.get(agenda_id, with_operations=False)
    with store.transaction():
        if progress is not None and progress.processing_state != ProcessingState.COMPLETE:
            store.progress.update_agenda(
                progress.id or "", state=ProcessingState.WAITING, message=message
            )
            queue_agenda(store, agenda)
        store.progress.release_lease(agenda_id, owner)
