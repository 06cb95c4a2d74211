"""The driver of one attempt of one op, and the run context every attempt of a run shares.

Layer: engine. The DAG walk (:mod:`pop.engine.executor`) decides which op runs next and what its
outcome means for the agenda; this module runs one attempt: its start and launch records (through
the run's progress sink), its folder and log, the resident or launched run, and the translation
of whatever went wrong into an :class:`Outcome`. It never asks which runtime it holds (DESIGN §8):
the launcher's capabilities and the run's :class:`LaunchContext` say everything it needs.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pop.config import Settings
from pop.engine.attempts import external_recorder, run_resident_attempt
from pop.engine.budget import CpuBudget
from pop.engine.launched import LaunchedAttempt
from pop.engine.launching import (
    AttemptPlace,
    LaunchContext,
    build_spec,
    log_file,
    op_folder,
    resident_env,
)
from pop.engine.policy import op_timeout, silence_timeout
from pop.engine.sink import ProgressSink
from pop.engine.state import OpState, Outcome, OutcomeKind, RunEvent
from pop.errors import InputError, LaunchError, PopError
from pop.handlers import load_handler
from pop.models import Agenda, DiagnosticEvent, OperationProgress
from pop.registry import HandlerEntry, Registry
from pop.runtimes.base import Handle, Launcher


@dataclass
class RunContext:
    """What every attempt of one agenda's run shares: where to write, how to launch, the clock
    and the CPU budget. Made once by :meth:`pop.engine.executor.AgendaRunner.run`."""

    sink: ProgressSink
    registry: Registry
    launcher: Launcher
    settings: Settings
    executor_id: str
    agenda: Agenda
    progress_id: str
    work_dir: Path
    launch: LaunchContext
    budget: CpuBudget
    clock: Callable[[], float]
    emit: Callable[[RunEvent], None]
    stopping: Callable[[], bool]
    op_count: Callable[[], int]  # ops in the agenda now (generators add some)
    handlers: dict[str, Any] = field(default_factory=dict)
    resident_record: dict[str, Any] = field(
        default_factory=lambda: {"runtime": "resident", "ref": f"pid:{os.getpid()}", "details": {}}
    )

    @property
    def agenda_id(self) -> str:
        return self.agenda.id or ""


@dataclass
class AttemptResult:
    """How one attempt ended, its attempt row, and the launch handle still to clean up (after
    the outcome is recorded: DESIGN §8)."""

    outcome: Outcome
    attempt_id: int
    handle: Handle | None = None


class AttemptDriver:
    """Runs one attempt of an op to its outcome; never raises for anything the attempt does."""

    def __init__(
        self, context: RunContext, on_progress: Callable[[OpState, OperationProgress], None]
    ) -> None:
        self.context = context
        self.on_progress = on_progress

    async def run(self, state: OpState, entry: HandlerEntry, payload: Any) -> AttemptResult:
        context = self.context
        state.attempts += 1
        state.tries += 1
        attempt = state.attempts
        place = AttemptPlace(
            work_dir=context.work_dir, op_dir=op_folder(context.work_dir, state.name, attempt)
        )
        log_path = log_file(context.settings.logs_dir, context.agenda_id, state.name, attempt)
        attempt_id = self._start(state, entry, attempt, log_path)
        context.emit(RunEvent("op_started", state.name, total=context.op_count()))
        launched: LaunchedAttempt | None = None
        try:
            if entry.resident:
                outcome = await self._run_resident(
                    state, entry, payload, place, log_path, attempt, attempt_id
                )
            else:
                launched = self._launched(state, attempt_id)
                outcome = await self._run_launched(
                    launched, state, entry, payload, place, attempt, log_path
                )
        except PopError as exc:
            permanent = isinstance(exc, InputError) or (
                isinstance(exc, LaunchError) and exc.permanent
            )
            outcome = Outcome(
                False,
                diagnostics=[DiagnosticEvent.of(exc.message)],
                outcome=OutcomeKind.PERMANENT if permanent else OutcomeKind.ERROR,
            )
        except Exception as exc:  # a bug, an I/O or backend fault: the op fails, the agenda goes on
            outcome = internal_error(exc, log_path)
        return AttemptResult(outcome, attempt_id, launched.handle if launched else None)

    def _start(self, state: OpState, entry: HandlerEntry, attempt: int, log_path: Path) -> int:
        context = self.context
        return context.sink.start_attempt(
            context.agenda_id,
            context.progress_id,
            state.name,
            attempt,
            executor=context.executor_id,
            runtime="resident" if entry.resident else context.launcher.name,
            log_path=str(log_path),
            launch_record=context.resident_record if entry.resident else None,
        )

    async def _run_resident(
        self,
        state: OpState,
        entry: HandlerEntry,
        payload: Any,
        place: AttemptPlace,
        log_path: Path,
        attempt: int,
        attempt_id: int,
    ) -> Outcome:
        context = self.context
        handler_ref = entry.handler or ""
        function = context.handlers.get(handler_ref)
        if function is None:
            function = context.handlers[handler_ref] = load_handler(handler_ref)
        # externals take CPUs from this host's budget only on a runtime that uses this host's CPUs
        external_host = context.launch.external_capabilities.host_cpus
        return await run_resident_attempt(
            function,
            payload,
            state,
            place,
            external_launch=context.launch.external_launch,
            on_progress=lambda progress: self.on_progress(state, progress),
            env=resident_env(
                context.agenda,
                context.progress_id,
                state.name,
                entry,
                attempt=attempt,
                context=context.launch,
            ),
            timeout=op_timeout(entry, state.operation),
            log_path=log_path,
            budget=context.budget if external_host else None,
            on_external=external_recorder(context.sink, attempt_id, context.resident_record),
        )

    def _launched(self, state: OpState, attempt_id: int) -> LaunchedAttempt:
        context = self.context
        return LaunchedAttempt(
            context.launcher,
            context.settings,
            clock=context.clock,
            on_progress=lambda progress: self.on_progress(state, progress),
            record_launch=lambda record: context.sink.record_launch(attempt_id, record),
            stopping=context.stopping,
        )

    async def _run_launched(
        self,
        launched: LaunchedAttempt,
        state: OpState,
        entry: HandlerEntry,
        payload: Any,
        place: AttemptPlace,
        attempt: int,
        log_path: Path,
    ) -> Outcome:
        context = self.context
        spec = build_spec(
            agenda=context.agenda,
            operation=state.operation,
            entry=entry,
            payload=payload,
            attempt=attempt,
            last_progress=state.prior,
            place=place,
            context=context.launch,
            timeout_seconds=op_timeout(entry, state.operation),
        )
        # Launched programs start in their attempt folder; resident handlers create it on use.
        place.op_dir.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return await launched.run(
                state, entry, spec, log_path, silence=silence_timeout(entry, state.operation)
            )
        except LaunchError as exc:
            kind = OutcomeKind.PERMANENT if exc.permanent else OutcomeKind.LAUNCH
            return Outcome(False, diagnostics=[DiagnosticEvent.of(exc.message)], outcome=kind)


def internal_error(exc: BaseException, log_path: Path | None) -> Outcome:
    """The outcome of an attempt that raised something pop did not expect: failed with
    ``internal error: <type>: <message>``, the traceback appended to the op's log."""
    message = f"internal error: {type(exc).__name__}: {exc}"
    if log_path is not None:
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(message + "\n")
                log.write("".join(traceback.format_exception(exc)))
        except OSError:
            pass  # the outcome still says what happened
    return Outcome(False, diagnostics=[DiagnosticEvent.of(message)], outcome=OutcomeKind.ERROR)
