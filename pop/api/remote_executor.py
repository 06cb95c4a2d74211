"""The remote executor loop (``pop executor --server URL --insight I``): claims agendas from a
``pop serve`` with ``getAgenda`` and runs each with the local engine, reporting through a
:class:`pop.api.remote_sink.RemoteSink`.

Layer: api. Called by :mod:`pop.cli.executor`. The local store is never opened: only work
folders and op logs are written under ``POP_HOME``. Each pass claims as many agendas as there
are free slots (``max_running``), one ``getAgenda`` per insight; ``once`` stops when a pass
claimed nothing and nothing runs. The retrier and the reclaimer do not run here: they are the
server's. An agenda the server took back from a dead executor comes with the attempt rows of its
launches (``getAgenda``'s ``lostLaunches``): they are stopped here, through this machine's
runtimes, before the agenda runs again (the server stops only what it can reach itself). An
agenda is forgotten (counted, ``on_finished``) only once the server took its final report; if
the server took it back meanwhile (409), it counts as failed, as lost. With
``DaemonOptions.alive_file``, each pass in which every ``getAgenda`` it made was answered touches
that file (:class:`pop.services.daemon.AliveFile`; ``pop alive`` checks it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pop.api.remote import RemoteClient
from pop.api.remote_sink import RemoteSink
from pop.engine.budget import CpuBudget
from pop.engine.executor import AgendaRunner, new_executor_id
from pop.errors import ConflictError, PopError, RuntimeUnavailableError
from pop.models import Agenda, AgendaProgress
from pop.services.daemon import AliveFile, DaemonOptions, DaemonReport

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
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.registry = registry
        self.settings = settings
        self.options = options
        self.insight_ids = list(insight_ids)
        self.on_finished = on_finished
        self.on_note = on_note
        """Told one line per lost launch stopped (``stopped ...``) or not (``warning: ...``)."""
        self.owner = new_executor_id()
        self.report = DaemonReport()
        self.budget = CpuBudget(options.run.cpus)
        self._running: dict[asyncio.Task[AgendaProgress], str] = {}
        self._stopping = False
        self._missed = False
        self.alive = AliveFile(options.alive_file)
        self.stopped: list[str] = []
        """The lost launches of reclaimed agendas this executor stopped."""
        self.problems: list[str] = []
        """Those it could not stop."""

    def stop(self) -> None:
        """Claim nothing more; the running agendas finish."""
        self._stopping = True

    async def run(self) -> DaemonReport:
        from pop.services.launchers import close_launchers, launchers

        self.alive.reset()
        launcher, external = launchers(self.options.run)
        try:
            await launcher.check()
            while True:
                claimed = [] if self._stopping else self._claim()
                if not self._missed:  # every getAgenda answered (or none was due): alive
                    problem = self.alive.touch()
                    if problem is not None:
                        self.report.errors.append(problem)
                for agenda, progress, lost in claimed:
                    self._start(agenda, progress, lost, launcher, external)
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

    def _claim(self) -> list[tuple[Agenda, AgendaProgress | None, list[dict[str, Any]]]]:
        claimed: list[tuple[Agenda, AgendaProgress | None, list[dict[str, Any]]]] = []
        self._missed = False
        for insight_id in self.insight_ids:
            free = self.options.max_running - len(self._running) - len(claimed)
            if free <= 0:
                break
            try:
                answer = self.client.service(
                    "getAgenda", {"insightId": insight_id, "count": free, "executorId": self.owner}
                )
            except RuntimeUnavailableError:
                if not self._running:
                    raise  # nothing runs: an unreachable server ends the executor (exit 3)
                self._missed = True
                break  # its agendas run on; claim again once the server is back
            progresses = {
                item.get("id"): AgendaProgress.model_validate(item)
                for item in answer.get("agendaProgresses") or []
                if isinstance(item, dict)
            }
            lost = [row for row in answer.get("lostLaunches") or [] if isinstance(row, dict)]
            for item in answer.get("agendas") or []:
                agenda = Agenda.model_validate(item)
                launches = [row for row in lost if row.get("agendaId") == agenda.id]
                claimed.append((agenda, progresses.get(agenda.progress_id), launches))
        return claimed

    def _start(
        self,
        agenda: Agenda,
        progress: AgendaProgress | None,
        lost: list[dict[str, Any]],
        launcher: Launcher,
        external: Launcher | None,
    ) -> None:
        sink = RemoteSink(
            self.client,
            agenda,
            owner=self.owner,
            progress=progress,
            log_cap_bytes=self.settings.log_cap_bytes,
            heartbeat_seconds=self.settings.lease_renew_seconds,
        )
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
        task = asyncio.get_running_loop().create_task(
            self._run_one(agenda_id, runner, sink, lost, [launcher, external])
        )
        self._running[task] = agenda_id
        self.report.agendas.append(agenda_id)

    async def _run_one(
        self,
        agenda_id: str,
        runner: AgendaRunner,
        sink: RemoteSink,
        lost: list[dict[str, Any]],
        launchers: list[Launcher | None],
    ) -> AgendaProgress:
        """Stop the agenda's lost launches, run it, and wait until the server took all of it."""
        try:
            for row in lost:
                await self._stop_lost(row, launchers)
            progress = await runner.run(agenda_id)
        except PopError:
            sink.close()
            await asyncio.to_thread(sink.delivered)
            raise
        if not await asyncio.to_thread(sink.delivered):
            raise ConflictError(
                f"agenda {agenda_id}: the server took it back before it took its end",
                hint="another executor runs it now (its lease lapsed while the server could "
                "not be reached)",
            )
        return progress

    async def _stop_lost(self, row: dict[str, Any], launchers: list[Launcher | None]) -> None:
        """Stop what an attempt of a dead executor launched: its own launch (unless it ran
        resident, inside that executor) and each external launch that had not ended."""
        from pop.runtimes import LaunchRecord, create_launcher

        launched = row.get("launched")
        if not isinstance(launched, dict):
            return
        records = [] if launched.get("runtime") == "resident" else [launched]
        externals = launched.get("externals")
        records += [
            item
            for item in (externals if isinstance(externals, list) else [])
            if isinstance(item, dict) and item.get("endedTime") is None
        ]
        where = f"{row.get('agendaId')} {row.get('operation')} attempt {row.get('number')}"
        for item in records:
            try:
                record = LaunchRecord.from_json(item)
                launcher = next(
                    (one for one in launchers if one is not None and one.name == record.runtime),
                    None,
                ) or create_launcher(record.runtime, options=dict(self.options.run.runtime_options))
                if await launcher.stop(record, self.settings.cancel_grace_seconds):
                    self.stopped.append(f"{where}: {record.runtime} {record.ref}")
                    self._note(f"stopped   {self.stopped[-1]} (a lost launch)")
            except (PopError, KeyError, TypeError, AttributeError) as exc:
                self.problems.append(f"{where}: cannot stop {item!r}: {exc}")
                self._note(f"warning: {self.problems[-1]}")

    def _note(self, line: str) -> None:
        if self.on_note is not None:
            self.on_note(line)

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
    on_note: Callable[[str], None] | None = None,
) -> DaemonReport:
    """Run a :class:`RemoteExecutor` to its end (``pop executor --server``)."""

    async def main() -> DaemonReport:
        executor = RemoteExecutor(
            client,
            registry,
            settings,
            options,
            insight_ids,
            on_finished=on_finished,
            on_note=on_note,
        )
        if on_executor is not None:
            on_executor(executor)
        return await executor.run()

    try:
        return asyncio.run(main())
    finally:
        client.close()
