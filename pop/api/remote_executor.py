"""The remote executor loop (``pop executor --server URL --insight I``): claims agendas from a
``pop serve`` with ``getAgenda`` and runs each with the local engine, reporting through a
:class:`pop.api.remote_sink.RemoteSink`.

Layer: api. Called by :mod:`pop.cli.executor`. The local store is never opened: only work
folders and op logs are written under ``POP_HOME``. Each pass claims as many agendas as there
are free slots (``max_running``), one ``getAgenda`` per insight; ``once`` stops when a pass
claimed nothing and nothing runs. The retrier and the reclaimer do not run here: they are the
server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pop.api.remote import RemoteClient
from pop.api.remote_sink import RemoteSink
from pop.engine.budget import CpuBudget
from pop.engine.executor import AgendaRunner, new_executor_id
from pop.errors import PopError
from pop.models import Agenda, AgendaProgress
from pop.services.daemon import DaemonOptions, DaemonReport

if TYPE_CHECKING:
    from pop.config import Settings
    from pop.registry import Registry
    from pop.runtimes.base import Launcher


class RemoteExecutor:
    """Claims from a server and runs until stopped (or, with ``once``, until out of work)."""

    def __init__(
        self,
        client: RemoteClient,
        registry: Registry,
        settings: Settings,
        options: DaemonOptions,
        insight_ids: Sequence[str],
        *,
        on_finished: Callable[[AgendaProgress], None] | None = None,
    ) -> None:
        self.client = client
        self.registry = registry
        self.settings = settings
        self.options = options
        self.insight_ids = list(insight_ids)
        self.on_finished = on_finished
        self.owner = new_executor_id()
        self.report = DaemonReport()
        self.budget = CpuBudget(options.run.cpus)
        self._running: dict[asyncio.Task[AgendaProgress], str] = {}
        self._stopping = False

    def stop(self) -> None:
        """Claim nothing more; the running agendas finish."""
        self._stopping = True

    async def run(self) -> DaemonReport:
        from pop.services.launchers import close_launchers, launchers

        launcher, external = launchers(self.options.run)
        try:
            await launcher.check()
            while True:
                claimed = [] if self._stopping else self._claim()
                for agenda, progress in claimed:
                    self._start(agenda, progress, launcher, external)
                if not self._running and (self._stopping or (self.options.once and not claimed)):
                    break
                if not self._running:
                    await asyncio.sleep(self.options.poll_seconds)
                    continue
                done, _ = await asyncio.wait(
                    list(self._running),
                    timeout=self.options.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    self._collect(task)
        finally:
            for task in list(self._running):
                task.cancel()
            await close_launchers(launcher, external)
        return self.report

    def _claim(self) -> list[tuple[Agenda, AgendaProgress | None]]:
        claimed: list[tuple[Agenda, AgendaProgress | None]] = []
        for insight_id in self.insight_ids:
            free = self.options.max_running - len(self._running) - len(claimed)
            if free <= 0:
                break
            answer = self.client.service(
                "getAgenda", {"insightId": insight_id, "count": free, "executorId": self.owner}
            )
            progresses = {
                item.get("id"): AgendaProgress.model_validate(item)
                for item in answer.get("agendaProgresses") or []
                if isinstance(item, dict)
            }
            for item in answer.get("agendas") or []:
                agenda = Agenda.model_validate(item)
                claimed.append((agenda, progresses.get(agenda.progress_id)))
        return claimed

    def _start(
        self,
        agenda: Agenda,
        progress: AgendaProgress | None,
        launcher: Launcher,
        external: Launcher | None,
    ) -> None:
        sink = RemoteSink(self.client, agenda, owner=self.owner, progress=progress)
        runner = AgendaRunner(
            None,
            self.registry,
            launcher,
            self.settings,
            self.options.run,
            executor_id=self.owner,
            budget=self.budget,
            external_launcher=external,
            sink=sink,
        )
        agenda_id = agenda.id or ""
        task = asyncio.get_running_loop().create_task(runner.run(agenda_id))
        self._running[task] = agenda_id
        self.report.agendas.append(agenda_id)

    def _collect(self, task: asyncio.Task[AgendaProgress]) -> None:
        self._running.pop(task)
        try:
            progress = task.result()
        except PopError as exc:
            self.report.count(None, exc)
            return
        self.report.count(progress)
        if self.on_finished is not None:
            self.on_finished(progress)


def run_remote_executor(
    client: RemoteClient,
    registry: Registry,
    settings: Settings,
    options: DaemonOptions,
    insight_ids: Sequence[str],
    *,
    on_executor: Callable[[RemoteExecutor], None] | None = None,
    on_finished: Callable[[AgendaProgress], None] | None = None,
) -> DaemonReport:
    """Run a :class:`RemoteExecutor` to its end (``pop executor --server``)."""

    async def main() -> DaemonReport:
        executor = RemoteExecutor(
            client, registry, settings, options, insight_ids, on_finished=on_finished
        )
        if on_executor is not None:
            on_executor(executor)
        return await executor.run()

    try:
        return asyncio.run(main())
    finally:
        client.close()
