"""Batches (``pop batch``): one agenda per input file from a template, run N at a time.

Layer: services. :func:`plan_batch` decides what each input needs by looking at the agendas
already in the batch's link (succeeded with the same file and template: skip; stopped or failed:
resume, keeping the ops that succeeded; otherwise: a new agenda). :class:`BatchRunner` runs the
agendas in this process, at most ``concurrency`` at once, all sharing one CPU budget, and keeps a
:class:`BatchItem` per input that observers (the CLI's live view) read.

Each agenda of a batch carries ``params.externalId`` = the input's absolute path and
``params.batch`` = ``{"input", "size", "mtimeNs", "template"}`` (the template's fingerprint), which
is how a later run of the same batch recognises it.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pop.config import Settings
from pop.engine.budget import CpuBudget
from pop.engine.executor import AgendaRunner, RunEvent, RunOptions
from pop.engine.outputs import OperationOutputs, agenda_outputs
from pop.errors import PopError
from pop.models import AgendaProgress
from pop.models.causes import agenda_cause
from pop.registry import Registry
from pop.runtimes.base import Launcher
from pop.store import Store

SKIPPED, WAITING, RUNNING, SUCCEEDED, FAILED = (
    "skipped",
    "waiting",
    "running",
    "succeeded",
    "failed",
)
NEW, RESUME = "new", "resume"


@dataclass
class BatchItem:
    """One input of a batch and how it is doing."""

    input: str
    identity: dict[str, Any]
    action: str = NEW  # new | resume | skip
    agenda_id: str | None = None
    state: str = WAITING
    percent: float = 0.0
    started: float | None = None
    ended: float | None = None
    message: str | None = None
    operations: int = 0
    done_ops: int = 0
    op_percents: dict[str, float] = field(default_factory=dict)
    outputs: list[OperationOutputs] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in (SKIPPED, SUCCEEDED, FAILED)

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    def to_json(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "agendaId": self.agenda_id,
            "state": self.state,
            "percent": round(self.percent, 1),
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "message": self.message,
            "outputs": [item.to_json() for item in self.outputs if item.files or item.folder],
        }


@dataclass
class BatchReport:
    """Every item of a batch, with counts the live view and the summary use."""

    link_id: str
    items: list[BatchItem]
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None

    def count(self, state: str) -> int:
        return sum(1 for item in self.items if item.state == state)

    @property
    def failed(self) -> list[BatchItem]:
        return [item for item in self.items if item.state == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left, from the work done so far (None until some is done)."""
        work = [item for item in self.items if item.state != SKIPPED]
        if not work:
            return 0.0
        done = sum(1.0 if item.finished else item.percent / 100 for item in work)
        elapsed = (now or time.monotonic()) - self.started
        if done <= 0 or elapsed <= 0:
            return None
        return max(0.0, elapsed * (len(work) - done) / done)

    def to_json(self) -> dict[str, Any]:
        return {
            "linkId": self.link_id,
            "succeeded": self.count(SUCCEEDED),
            "failed": self.count(FAILED),
            "skipped": self.count(SKIPPED),
            "seconds": None if self.ended is None else round(self.ended - self.started, 3),
            "items": [item.to_json() for item in self.items],
        }


class BatchRunner:
    """Runs the agendas of a batch in this process, ``concurrency`` at a time, one CPU budget."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        launcher: Launcher,
        settings: Settings,
        options: RunOptions,
        *,
        concurrency: int,
        on_change: Callable[[BatchReport], None] | None = None,
        external_launcher: Launcher | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.launcher = launcher
        self.external_launcher = external_launcher
        self.settings = settings
        self.options = options
        self.concurrency = max(1, concurrency)
        self.on_change = on_change
        self.budget = CpuBudget(options.cpus)
        self._runners: list[AgendaRunner] = []

    def cancel(self, reason: str = "cancelled") -> None:
        for runner in self._runners:
            runner.cancel(reason)

    async def run(self, report: BatchReport) -> BatchReport:
        await self.launcher.check()
        if self.external_launcher is not None:
            await self.external_launcher.check()
        report.started = time.monotonic()
        todo = [item for item in report.items if not item.finished and item.agenda_id]
        for item in todo:
            if item.action == RESUME:
                await self._take_back(item)
        slots = asyncio.Semaphore(self.concurrency)

        async def one(item: BatchItem) -> None:
            async with slots:
                await self._run_item(item, report)

        tasks = [asyncio.ensure_future(one(item)) for item in todo]
        try:
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            report.ended = time.monotonic()
            self._changed(report)
        for item in report.items:  # what an earlier run made is where it was
            if item.state == SKIPPED and item.agenda_id:
                progress = self.store.progress.get(item.agenda_id)
                if progress is not None:
                    item.outputs = agenda_outputs(
                        self.store.agendas,
                        self.store.attempts,
                        str(self.settings.work_root),
                        progress,
                    )
        return report

    async def _take_back(self, item: BatchItem) -> None:
        """An agenda whose earlier batch process died (``kill -9``, a reboot) still holds that
        process's lease: reclaim it now (stop its launches, end its attempts ``lost``, queue it
        again) instead of waiting for the lease to lapse."""
        from pop.services.reclaimer import owner_is_dead, reclaim_agenda_async

        owner, _ = self.store.progress.lease_of(item.agenda_id or "")
        if owner_is_dead(owner):
            await reclaim_agenda_async(self.store, self.settings, item.agenda_id or "")

    async def _run_item(self, item: BatchItem, report: BatchReport) -> None:
        def observe(event: RunEvent) -> None:
            _follow(item, event)
            self._changed(report)

        runner = AgendaRunner(
            self.store,
            self.registry,
            self.launcher,
            self.settings,
            self.options,
            observer=observe,
            budget=self.budget,
            external_launcher=self.external_launcher,
        )
        self._runners.append(runner)
        item.state, item.started = RUNNING, time.monotonic()
        self._changed(report)
        try:
            final = await runner.run(item.agenda_id or "")
        except PopError as exc:
            item.state, item.message = FAILED, exc.message
        else:
            item.state = SUCCEEDED if final.succeeded else FAILED
            item.percent = 100.0 if final.succeeded else item.percent
            if not final.succeeded:
                item.message = runner.stop_reason or _failure_message(final)
            item.outputs = agenda_outputs(
                self.store.agendas, self.store.attempts, str(self.settings.work_root), final
            )
        finally:
            item.ended = time.monotonic()
            self._runners.remove(runner)
            self._changed(report)

    def _changed(self, report: BatchReport) -> None:
        if self.on_change is not None:
            self.on_change(report)


def default_concurrency(cpus: float | None) -> int:
    """Agendas a batch runs at once by default: twice the CPU budget (``--cpus``, else the
    cores), so the next files are probed and checked while the current ones encode."""
    return max(2, 2 * math.ceil(cpus or os.cpu_count() or 1))


async def run_batch(
    store: Store,
    registry: Registry,
    settings: Settings,
    report: BatchReport,
    options: RunOptions,
    concurrency: int | None = None,
    on_change: Callable[[BatchReport], None] | None = None,
    on_runner: Callable[[BatchRunner], None] | None = None,
) -> BatchReport:
    """Run a planned batch on the ``options.launch`` runtime, ``concurrency`` agendas at once
    (default :func:`default_concurrency`); ``on_runner`` gets the runner first (to cancel it)."""
    from pop.services.launchers import close_launchers, launchers

    launcher, external = launchers(options)
    runner = BatchRunner(
        store,
        registry,
        launcher,
        settings,
        options,
        concurrency=concurrency or default_concurrency(options.cpus),
        on_change=on_change,
        external_launcher=external,
    )
    if on_runner is not None:
        on_runner(runner)
    try:
        return await runner.run(report)
    finally:
        await close_launchers(launcher, external)


def _follow(item: BatchItem, event: RunEvent) -> None:
    """Keep the item's percent as the agenda's: (done ops * 100 + running percents) / ops."""
    if event.kind == "agenda_started":
        item.operations = event.total
        item.done_ops, item.op_percents = 0, {}
    elif event.kind == "op_started" and event.total:
        item.operations = event.total
    elif event.kind == "op_progress" and event.operation:
        item.op_percents[event.operation] = event.percent
    elif event.kind == "op_finished" and event.operation:
        item.op_percents.pop(event.operation, None)
        if event.succeeded:
            item.done_ops += 1
    if item.operations:
        running = sum(item.op_percents.values())
        item.percent = min(100.0, (item.done_ops * 100 + running) / item.operations)


def _failure_message(progress: AgendaProgress) -> str:
    """Why an agenda failed, on one line: its first failed op and that op's real cause."""
    cause = agenda_cause(progress)
    if cause is not None:
        return cause.one_line(with_operation=True)
    return progress.processing_state_message or "failed"
