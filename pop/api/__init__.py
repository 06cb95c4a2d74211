"""The library facade: what the CLI (and scripts) call to submit, run and inspect agendas.

Layer: api (above services and engine; below cli). Every CLI command is one call here. Errors are
``pop.errors`` classes; nothing here prints.

    client = Client()                       # POP_HOME / POP_REGISTRY from the environment
    submission = client.submit("examples/hello.json")
    progress = client.run_local("examples/hello.json")
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.api.catalog import CatalogMixin
from pop.api.k8s import K8sMixin
from pop.api.launches import LaunchesMixin
from pop.api.pool import PoolMixin
from pop.api.tokens import TokensMixin
from pop.config import Settings, registry_places
from pop.engine.dag import validate_agenda
from pop.engine.documents import parse_agenda, read_document
from pop.engine.submission import Submission, check_priority, prepare, store_submission
from pop.errors import InputError, PopError, RuntimeUnavailableError
from pop.models import (
    FAILED,
    Agenda,
    AgendaProgress,
    AgendaTemplate,
    DiagnosticEvent,
    ProcessingState,
    ProgressSummary,
    now_ms,
)
from pop.models.states import parse_state
from pop.store import Store, views
from pop.store.changes import AGENDA, Change, ChangeRecord
from pop.store.views import OperationLog

if TYPE_CHECKING:
    from pop.engine.executor import AgendaRunner, RunEvent, RunOptions
    from pop.engine.input_paths import PathPolicy
    from pop.engine.outputs import OperationOutputs
    from pop.registry import Registry  # imported when first used: yaml and the loader
    from pop.services.batch import BatchReport, BatchRunner
    from pop.services.daemon import DaemonOptions, DaemonReport, ExecutorDaemon, ServiceResult


class Client(CatalogMixin, LaunchesMixin, K8sMixin, PoolMixin, TokensMixin):
    """pop as a library: one store, one registry, the operations the CLI offers."""

    def __new__(
        cls,
        settings: Settings | None = None,
        *,
        registry_path: Path | None = None,
        server: str | None = None,
        token: str | None = None,
    ) -> Client:
        """``Client(server=URL, token=T)`` is the same API answered by a ``pop serve``
        (:class:`pop.api.remote.RemoteClient`; the token defaults to ``POP_TOKEN``)."""
        if server is not None:
            from pop.api.remote import RemoteClient, read_token

            token = read_token() if token is None else token
            remote = RemoteClient(server, token, registry_path=registry_path)
            return remote  # type: ignore[return-value]  # duck-typed: the same methods
        return super().__new__(cls)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry_path: Path | None = None,
        server: str | None = None,
        token: str | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.registry_path = registry_path
        self._store: Store | None = None
        self._registry: Registry | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.settings.store_path)
        return self._store

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from pop.registry import Registry

            self._registry = Registry.load(self.registry_path, settings=self.settings)
        return self._registry

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- agendas ----------------------------------------------------------------------------

    def load_agenda(
        self,
        source: str | Path | Mapping[str, Any] | Agenda,
        *,
        paths: PathPolicy | None = None,
    ) -> Agenda:
        """An Agenda from a file path, a dict or an Agenda, validated (every problem listed).
        Relative input paths resolve against ``params.submitDir`` (else here); with ``paths``
        (a server's caller) they are refused instead, as is what the policy does not allow."""
        if isinstance(source, Agenda):
            agenda = source
        elif isinstance(source, Mapping):
            agenda = parse_agenda(dict(source))
        else:
            agenda = parse_agenda(read_document(source), source=str(source))
        from pop.engine.input_paths import check_paths, resolve_input_paths
        from pop.engine.payloads import payload_checker

        if paths is not None:
            check_paths(agenda, self.registry, paths)
        agenda = resolve_input_paths(agenda, self.registry)
        validate_agenda(
            agenda,
            known_types=self.registry.types(),
            check_payload=payload_checker(self.registry),
        )
        return agenda

    def submit(
        self,
        source: str | Path | Mapping[str, Any] | Agenda,
        *,
        customer_id: str | None = None,
        link_id: str | None = None,
        priority: int | None = None,
        actor: str | None = None,
        cid: str | None = None,
        paths: PathPolicy | None = None,
    ) -> Submission:
        """Validate and store an agenda and queue it for ``pop executor`` on the insight that
        insight selection picks (DESIGN §10); InputError when none matches (nothing stored).
        A ``submit`` change record names ``actor`` (default: this machine's user); ``paths``:
        see :meth:`load_agenda`."""
        return self._submit(
            self.load_agenda(source, paths=paths),
            customer_id=customer_id,
            link_id=link_id,
            priority=priority,
            change=Change("submit", actor, cid),
        )

    def _submit(
        self,
        agenda: Agenda,
        *,
        customer_id: str | None,
        link_id: str | None,
        priority: int | None,
        change: Change,
    ) -> Submission:
        """Store and queue a validated agenda with its change record, in one transaction."""
        from pop.scheduling.mapping import select_insight

        check_priority(agenda.params.get("priority") if priority is None else priority)
        routed = agenda
        if customer_id is not None or priority is not None:
            changes: dict[str, Any] = {}
            if customer_id is not None:
                changes["customer_id"] = customer_id
            if priority is not None:
                changes["params"] = {**agenda.params, "priority": priority}
            routed = agenda.model_copy(update=changes)
        prepared, progress, operations = prepare(
            agenda,
            customer_id=customer_id,
            link_id=link_id,
            priority=priority,
            insight=select_insight(self.store, routed),
        )
        with self.store.transaction():
            submission = store_submission(self.store, prepared, progress, operations, queue=True)
            change.record(self.store.changes, AGENDA, prepared.id or "", default_cid=prepared.cid)
        return submission

    def run_local(
        self,
        source: str | Path | Mapping[str, Any] | Agenda | None = None,
        *,
        resume_id: str | None = None,
        options: RunOptions | None = None,
        observer: Callable[[RunEvent], None] | None = None,
        on_runner: Callable[[AgendaRunner], None] | None = None,
        launch_options: Mapping[str, Any] | None = None,
    ) -> AgendaProgress:
        """Store the agenda (or take a stored one with ``resume_id``) and run it in this process.

        ``options`` gives every launch setting; ``launch_options`` only some (the keys of
        ``RunOptions.to_json``: ``launch``, ``externalLaunch``, ``concurrency``, ``cpus``,
        ``keep``), each replacing the stored value on resume (the defaults otherwise) while the
        others keep it. The settings used are stored with the agenda for the next resume."""
        import asyncio  # only the commands that run agendas use it

        return asyncio.run(
            self.run_local_async(
                source,
                resume_id=resume_id,
                options=options,
                observer=observer,
                on_runner=on_runner,
                launch_options=launch_options,
            )
        )

    async def run_local_async(
        self,
        source: str | Path | Mapping[str, Any] | Agenda | None = None,
        *,
        resume_id: str | None = None,
        options: RunOptions | None = None,
        observer: Callable[[RunEvent], None] | None = None,
        on_runner: Callable[[AgendaRunner], None] | None = None,
        launch_options: Mapping[str, Any] | None = None,
    ) -> AgendaProgress:
        from pop.engine.executor import AgendaRunner, RunOptions
        from pop.services.launchers import check_names, close_launchers, launchers

        given = {key: value for key, value in (launch_options or {}).items() if value is not None}
        if resume_id is not None:
            agenda_id = self.store.agendas.resolve_id(resume_id)
            if options is None:
                # each option given replaces its stored value; each one not given keeps it
                merged = {**self.store.agendas.launch_settings(agenda_id), **given}
                options = RunOptions.from_json(
                    merged, default_concurrency=self.settings.default_concurrency
                )
            check_names(options)  # before the rerun below changes anything
            current = self.store.progress.get(agenda_id, with_operations=False)
            if current is not None and current.processing_state == ProcessingState.COMPLETE:
                self.rerun(agenda_id, keep=True, skip_execution=True)  # resume = continue
        else:
            if source is None:
                raise InputError("give an agenda file or --resume ID")
            options = options or RunOptions.from_json(
                given, default_concurrency=self.settings.default_concurrency
            )
            check_names(options)  # unknown runtime names: exit 2 before anything is stored
            agenda = self.load_agenda(source)
            prepared, progress, operations = prepare(agenda)
            with self.store.transaction():
                store_submission(
                    self.store,
                    prepared,
                    progress,
                    operations,
                    queue=False,
                    launch=options.to_json(),
                )
                Change("run-local").record(self.store.changes, AGENDA, prepared.id or "")
            agenda_id = prepared.id or ""
        try:
            launcher, external = launchers(options)
            runner = AgendaRunner(
                self.store,
                self.registry,
                launcher,
                self.settings,
                options,
                observer=observer,
                external_launcher=external,
            )
            if on_runner is not None:
                on_runner(runner)
            try:
                return await runner.run(agenda_id)
            finally:
                await close_launchers(launcher, external)
        except RuntimeUnavailableError as exc:
            exc.agenda_id = agenda_id  # left WAITING: `run-local --json` still prints it
            raise

    def run_executor(
        self,
        options: DaemonOptions,
        *,
        on_daemon: Callable[[ExecutorDaemon], None] | None = None,
        on_finished: Callable[[AgendaProgress], None] | None = None,
        on_service: Callable[[ServiceResult], None] | None = None,
    ) -> DaemonReport:
        """Claim queued agendas and run them (``pop executor``) until stopped or out of work.
        ``on_finished`` sees each agenda it ran when it ends; ``on_service`` each agenda the
        retrier reran or the reclaimer took back (unless ``options.services`` is off)."""
        import asyncio

        return asyncio.run(self._run_executor(options, on_daemon, on_finished, on_service))

    async def _run_executor(
        self,
        options: DaemonOptions,
        on_daemon: Callable[[ExecutorDaemon], None] | None,
        on_finished: Callable[[AgendaProgress], None] | None,
        on_service: Callable[[ServiceResult], None] | None = None,
    ) -> DaemonReport:
        from pop.services.daemon import ExecutorDaemon
        from pop.services.launchers import close_launchers, launchers

        launcher, external = launchers(options.run)
        daemon = ExecutorDaemon(
            self.store,
            self.registry,
            launcher,
            self.settings,
            options,
            on_finished=on_finished,
            on_service=on_service,
            external_launcher=external,
        )
        if on_daemon is not None:
            on_daemon(daemon)
        try:
            return await daemon.run()
        finally:
            await daemon.close()
            await close_launchers(launcher, external)

    def resolve_id(self, agenda_id: str) -> str:
        """The full agenda id of an agenda id, a progress id or a unique prefix of either."""
        return self.store.agendas.resolve_id(agenda_id)

    def short_ids(self, agenda_ids: builtins.list[str]) -> builtins.list[str]:
        """The shortest prefix (8 characters or more) of each id that still resolves to it."""
        return self.store.agendas.short_ids(agenda_ids)

    def queued(self, agenda_id: str) -> bool:
        """True while the agenda waits in a queue for ``pop executor``."""
        return self.store.queue.contains(self.resolve_id(agenda_id))

    def status(self, agenda_id: str) -> AgendaProgress:
        """The agenda's progress (its id, progress id, or a unique prefix of either)."""
        return AgendaProgress.model_validate(views.progress_wire(self.store.db, agenda_id))

    def agenda(self, agenda_id: str) -> Agenda:
        return self.store.agendas.get(self.resolve_id(agenda_id))

    def list(
        self,
        *,
        state: str | None = None,
        customer_id: str | None = None,
        link_id: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[AgendaProgress]:
        if state is not None:
            state = parse_state(state)
        return self.store.progress.list(
            state=state, customer_id=customer_id, link_id=link_id, limit=limit
        )

    def _status_with(self, agenda_id: str, operation: str | None) -> AgendaProgress:
        """The agenda's progress; NotFoundError when ``operation`` is given and not one of its
        ops (the hint lists them)."""
        wire = views.progress_wire(self.store.db, agenda_id)
        views.check_operation(wire, operation)
        return AgendaProgress.model_validate(wire)

    def logs(self, agenda_id: str, operation: str | None = None) -> builtins.list[OperationLog]:
        """What each attempt of the agenda's ops logged (:func:`pop.store.views.logs`)."""
        return views.logs(self.store.db, agenda_id, operation)

    def outputs(
        self, agenda_id: str, operation: str | None = None
    ) -> builtins.list[OperationOutputs]:
        """Where each op's outputs are: its folder and the files its result names."""
        return self.outputs_of(self._status_with(agenda_id, operation), operation)

    def outputs_of(
        self, progress: AgendaProgress, operation: str | None = None
    ) -> builtins.list[OperationOutputs]:
        """:meth:`outputs` of a progress already read (no second read of it)."""
        from pop.engine.outputs import agenda_outputs

        store = self.store
        work_root = str(self.settings.work_root)
        return agenda_outputs(store.agendas, store.attempts, work_root, progress, operation)

    def progress_summary(self, link_id: str) -> ProgressSummary:
        """POP's summary over every agenda with this ``linkId``."""
        from pop.engine.summary import summarize

        if not link_id.strip():
            raise InputError("a link id is required for a progress summary")
        return summarize(self.store.progress.list(link_id=link_id))

    def attempts(self, agenda_id: str) -> builtins.list[dict[str, Any]]:
        return self.store.attempts.list(self.resolve_id(agenda_id))

    def cancel(
        self, agenda_id: str, *, actor: str | None = None, cid: str | None = None
    ) -> AgendaProgress:
        """Ask the executor running the agenda to stop it; a waiting agenda ends at once. A
        ``cancel`` change record names ``actor`` (default: this machine's user)."""
        full_id = self.resolve_id(agenda_id)
        progress = self.status(full_id)
        if progress.processing_state == ProcessingState.COMPLETE:
            raise InputError(
                f"agenda {full_id} is already COMPLETE/{progress.processing_state_message}"
            )
        with self.store.transaction():
            self.store.progress.request_cancel(full_id)
            if progress.processing_state == ProcessingState.WAITING:
                self.store.queue.remove(full_id)
                self.store.progress.update_agenda(
                    progress.id or "",
                    state=ProcessingState.COMPLETE,
                    message=FAILED,
                    completed_time=now_ms(),
                    add_diagnostics=[DiagnosticEvent.of("cancelled by `pop cancel`")],
                )
            Change("cancel", actor, cid).record(self.store.changes, AGENDA, full_id)
        return self.status(full_id)

    # -- batches (pop batch) ----------------------------------------------------------------

    def batch_plan(
        self,
        template: str | Path | Mapping[str, Any],
        inputs: builtins.list[str | Path],
        *,
        glob: str | None = None,
        link_id: str | None = None,
        options: RunOptions | None = None,
    ) -> BatchReport:
        """Store what a batch needs: per input file (``glob`` picks files inside directories) a
        new agenda from ``template`` with payload ``{"input": path, "name": stem}``, linked by
        ``link_id`` (default ``batch-<template fingerprint>``). An input whose agenda in the link
        already succeeded (same file size and time, same template) is skipped; one whose agenda
        failed or stopped is resumed. Every agenda is checked before any is stored, and the
        runtime names of ``options`` (the run to come) before that."""
        from pop.services.batch_plan import plan_batch

        if options is not None:
            from pop.services.launchers import check_names

            check_names(options)

        return plan_batch(
            self.store,
            self._batch_template(template),
            inputs,
            glob=glob,
            link_id=link_id,
            check=self.load_agenda,
        )

    def batch(
        self,
        template: str | Path | Mapping[str, Any],
        inputs: builtins.list[str | Path],
        *,
        glob: str | None = None,
        link_id: str | None = None,
        concurrency: int | None = None,
        options: RunOptions | None = None,
        on_change: Callable[[BatchReport], None] | None = None,
        on_runner: Callable[[BatchRunner], None] | None = None,
    ) -> BatchReport:
        """:meth:`batch_plan`, then run the batch's agendas here, ``concurrency`` at once
        (default: twice the CPU budget) within one CPU budget. ``on_change`` sees the report
        whenever an item moves."""
        report = self.batch_plan(template, inputs, glob=glob, link_id=link_id, options=options)
        import asyncio

        return asyncio.run(self.batch_run(report, concurrency, options, on_change, on_runner))

    async def batch_run(
        self,
        report: BatchReport,
        concurrency: int | None = None,
        options: RunOptions | None = None,
        on_change: Callable[[BatchReport], None] | None = None,
        on_runner: Callable[[BatchRunner], None] | None = None,
    ) -> BatchReport:
        """Run a planned batch in this event loop (see :meth:`batch`)."""
        from pop.engine.executor import RunOptions
        from pop.services.batch import run_batch

        options = options or RunOptions(concurrency=self.settings.default_concurrency)
        return await run_batch(
            self.store,
            self.registry,
            self.settings,
            report,
            options,
            concurrency,
            on_change,
            on_runner,
        )

    def _batch_template(self, template: str | Path | Mapping[str, Any]) -> AgendaTemplate:
        """A template from a dict, a file, or the store (id, id prefix or title)."""
        from pop.engine.templates import parse_template

        if isinstance(template, Mapping):
            return parse_template(dict(template))
        if Path(template).is_file():
            return parse_template(read_document(template, what="template"), source=str(template))
        return self.template_get(str(template))

    # -- rerun (pop rerun) ------------------------------------------------------------------

    def rerun(
        self,
        agenda_id: str,
        *,
        reset: builtins.list[str] | None = None,
        reset_all: bool = False,
        keep: bool = False,
        skip_execution: bool = False,
        actor: str | None = None,
        cid: str | None = None,
    ) -> AgendaProgress:
        """Reset a stored agenda (all ops by default, ``reset`` and their dependents, or none
        with ``keep``) to WAITING/pending and queue it again unless ``skip_execution``. A
        ``rerun`` change record names ``actor`` (default: this machine's user)."""
        from pop.engine.rerun import apply_rerun, check_mode, plan_rerun

        check_mode(reset=reset, reset_all=reset_all, keep=keep)
        full_id = self.resolve_id(agenda_id)
        plan = plan_rerun(
            self.store.agendas.get(full_id), reset=reset, reset_all=reset_all, keep=keep
        )
        with self.store.transaction():
            progress = apply_rerun(self.store, full_id, plan, skip_execution=skip_execution)
            Change("rerun", actor, cid).record(self.store.changes, AGENDA, full_id)
        return progress

    # -- change records ---------------------------------------------------------------------

    def changes(self, agenda_id: str) -> builtins.list[ChangeRecord]:
        """Who changed the agenda and how (submit, cancel, rerun, ...), oldest first."""
        return self.store.changes.of(AGENDA, self.resolve_id(agenda_id))

    # -- registry ---------------------------------------------------------------------------

    def registry_problems(self, path: Path | None = None) -> tuple[str, builtins.list[str]]:
        """(the file checked, every problem in it); the built-in registry when none is found."""
        from pop.registry import Registry, validate_file

        target = path or self.registry_path or self.settings.registry_path
        if target is None:
            # "" for the current directory: the file is named as it was found
            for place in registry_places("", str(self.settings.home)):
                if Path(place).exists():
                    target = Path(place)
                    break
        if target is None:
            try:
                Registry.load(None, settings=self.settings)
            except PopError as exc:
                return "built-in", [exc.message]
            return "built-in", []
        return str(target), validate_file(Path(target))

    def registry_document(self) -> dict[str, Any]:
        return self.registry.to_document()


__all__ = ["Change", "ChangeRecord", "Client", "OperationLog", "parse_agenda", "read_document"]
