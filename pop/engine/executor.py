"""The executor: runs one agenda by walking its DAG and launching each op through a runtime.

Layer: engine. Called by the api (``pop run-local``) and later by the executor daemon. It receives
a Launcher instance and never asks which runtime it is (DESIGN §5, §8).

Semantics: an op is ready when every dependency succeeded; ready ops start in agenda order, at
most ``concurrency`` at once and within the CPU budget; the first failure stops new starts while
running ops finish; nothing running, nothing ready and something pending is a deadlock. Every
transition is written to the store at once (percent at most every ``progress_interval`` per op),
so ``pop status`` in another shell sees the truth. The agenda holds a lease while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pop import refs
from pop.config import Settings
from pop.engine.attempts import run_resident_attempt
from pop.engine.budget import CpuBudget, op_cpus
from pop.engine.dag import deadlock_diagnostic, dependencies_of, unresolved_problem
from pop.engine.generated import store_generated
from pop.engine.launched import LaunchedAttempt
from pop.engine.launching import (
    AttemptPlace,
    agenda_work_dir,
    build_spec,
    op_folder,
    path_segment,
    resident_env,
)
from pop.engine.lease import keep_lease
from pop.engine.policy import (
    agenda_timeout,
    op_timeout,
    retry_delay,
    retry_policy,
    should_retry,
    silence_timeout,
)
from pop.engine.recording import (
    external_recorder,
    write_agenda_end,
    write_op_invalid,
    write_op_outcome,
    write_op_progress,
    write_op_retry,
)
from pop.engine.state import (
    DONE_FAILED,
    DONE_OK,
    PENDING,
    RUNNING,
    OpState,
    Outcome,
    RunEvent,
    RunOptions,
    agenda_diagnostics,
    failure_kind,
    new_executor_id,
)
from pop.errors import InputError, PopError
from pop.handlers import load_handler
from pop.models import (
    FAILED,
    RUNNING_OPERATIONS,
    SUCCEEDED,
    AgendaProgress,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
    now_ms,
)
from pop.models.causes import cause_text
from pop.registry import HandlerEntry, Registry
from pop.runtimes.base import Launcher
from pop.store import Store, operation_progress_id

__all__ = ["AgendaRunner", "RunEvent", "RunOptions", "new_executor_id"]


class AgendaRunner:
    """Runs one stored agenda to COMPLETE (or leaves it WAITING when the runtime is down)."""

    def __init__(
        self,
        store: Store,
        registry: Registry,
        launcher: Launcher,
        settings: Settings,
        options: RunOptions,
        *,
        executor_id: str | None = None,
        observer: Callable[[RunEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: CpuBudget | None = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.launcher = launcher
        self.settings = settings
        self.options = options
        self.executor_id = executor_id or new_executor_id()
        self.observer = observer
        self.clock = clock
        self.budget = budget or CpuBudget(options.cpus)
        self.external_launch = options.external_launch or options.launch
        self._states: list[OpState] = []
        self._tasks: dict[asyncio.Task[None], OpState] = {}
        self._outputs: dict[str, Any] = {}
        self._failed = False
        self._stop_reason: str | None = None
        self._wake = asyncio.Event()
        self._conductor_diagnostics: list[DiagnosticEvent] = []
        self._handlers: dict[str, Any] = {}
        self._entries: dict[str, HandlerEntry] = {}
        self._resident_record = {"runtime": "resident", "ref": f"pid:{os.getpid()}", "details": {}}
        self._succeeded_count = 0
        self._cpu_wait = False
        self._log_dir_ready = False

    # -- public ---------------------------------------------------------------------------

    @property
    def stop_reason(self) -> str | None:
        """Why the run was told to stop (cancel, interrupt, lease lost), None when it was not."""
        return self._stop_reason

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop starting ops and stop the running ones; the agenda ends failed with ``reason``."""
        if self._stop_reason is None:
            self._stop_reason = reason
        for state in self._tasks.values():
            if state.stop_event is not None:  # a resident run: stops its external launches
                state.stop_why = state.stop_why or "cancelled"
                state.stop_event.set()
            if state.handle is not None:
                handle = state.handle
                asyncio.get_running_loop().create_task(
                    handle.cancel(self.settings.cancel_grace_seconds)
                )
        self._wake.set()

    async def run(self, agenda_id: str) -> AgendaProgress:
        self.agenda = self.store.agendas.get(agenda_id)
        progress = self.store.progress.get(agenda_id)
        if progress is None:
            raise InputError(f"agenda {agenda_id} has no progress record")
        if progress.processing_state == ProcessingState.COMPLETE:
            raise InputError(
                f"agenda {agenda_id} is already COMPLETE/{progress.processing_state_message}",
                hint="submit the agenda again to run it anew",
            )
        await self.launcher.check()
        if not self.store.progress.take_lease(
            agenda_id, self.executor_id, self.settings.lease_seconds
        ):
            owner, _ = self.store.progress.lease_of(agenda_id)
            raise InputError(f"agenda {agenda_id} is being run by {owner}")
        self.store.queue.remove(agenda_id)  # running now: the daemon must not pick it up too
        self.progress_id = progress.id or ""
        self.work_dir = agenda_work_dir(self.agenda, self.settings.work_root)
        self._load_states(progress)
        attempt_number = (progress.attempts_completed or 0) + 1
        agenda_attempt = self.store.attempts.start(
            agenda_id, None, attempt_number, executor=self.executor_id, runtime=self.launcher.name
        )
        self.store.progress.update_agenda(
            self.progress_id,
            state=ProcessingState.EXECUTING,
            message=RUNNING_OPERATIONS,
            started_time=now_ms(),
            percent=self._percent(),
        )
        self._emit(RunEvent("agenda_started", total=len(self._states)))
        keeper = asyncio.get_running_loop().create_task(
            keep_lease(self.store, agenda_id, self.executor_id, self.settings, self.cancel)
        )
        deadline = self._agenda_deadline()
        try:
            await self._conduct()
        finally:
            keeper.cancel()
            if deadline is not None:
                deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            for task, state in list(self._tasks.items()):
                task.cancel()
                self.budget.give(state.cpu)
                state.cpu = 0.0
        succeeded = self._finish(agenda_attempt)
        self._emit(RunEvent("agenda_finished", succeeded=succeeded, percent=self._percent()))
        final = self.store.progress.get(agenda_id)
        assert final is not None
        return final

    # -- the DAG walk ---------------------------------------------------------------------

    def _load_states(self, progress: AgendaProgress) -> None:
        prior = {op.operation: op for op in progress.operation_progress or []}
        for operation in self.agenda.operations:
            state = OpState(operation=operation)
            earlier = prior.get(operation.name)
            if earlier is not None:
                state.attempts = earlier.attempt_count or 0
                if earlier.succeeded:
                    self._succeeded_count += 1
                    state.status = DONE_OK
                    state.output = earlier.result_payload
                    state.percent = 100.0
                    self._outputs[f"{state.name}.out"] = (
                        {} if earlier.result_payload is None else earlier.result_payload
                    )
                elif earlier.processing_state not in (None, ProcessingState.WAITING):
                    state.prior = earlier
            self._states.append(state)

    async def _conduct(self) -> None:
        stop_listening = self.budget.listen(self._wake.set)
        try:
            await self._walk()
        finally:
            stop_listening()

    async def _walk(self) -> None:
        while True:
            self._cpu_wait = False
            if self._stop_reason is None and not self._failed:
                self._start_ready()
            active = self._stop_reason is None and not self._failed
            retry_at = min(
                (s.not_before for s in self._states if s.status == PENDING and s.not_before),
                default=None,
            )
            if (
                not self._tasks
                and not (active and self._cpu_wait)
                and (retry_at is None or not active)
            ):
                pending = [s for s in self._states if s.status == PENDING]
                if pending and active:
                    self._deadlock(pending)
                return
            self._wake.clear()
            waker = asyncio.ensure_future(self._wake.wait())
            timeout = None if retry_at is None or not active else max(0.0, retry_at - self.clock())
            done, _ = await asyncio.wait(
                [*self._tasks, waker], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            waker.cancel()
            for task in done:
                state = self._tasks.pop(task, None)  # type: ignore[arg-type]
                if state is not None:
                    self.budget.give(state.cpu)
                    state.cpu = 0.0

    def _start_ready(self) -> None:
        succeeded = {s.name for s in self._states if s.status == DONE_OK}
        for state in self._states:
            if state.status != PENDING:
                continue
            if len(self._tasks) >= self.options.concurrency or self._failed:
                return
            if not all(name in succeeded for name in dependencies_of(state.operation)):
                continue
            if state.not_before and state.not_before > self.clock():
                continue  # a retry still in its backoff
            try:
                entry = self._entry(state.operation.type or "")
            except PopError as exc:  # e.g. a generated op or a resumed agenda of an unknown type
                self._fail_before_launch(state, f"operation '{state.name}': {exc.message}")
                continue
            cpu = op_cpus(entry)
            if not self.budget.try_take(cpu):
                self._cpu_wait = True  # other agendas hold the CPU; their release wakes us
                return  # keep agenda order: later ops wait for the CPU budget too
            payload = self._substitute(state)
            if payload is _FAILED_BEFORE_LAUNCH:
                self.budget.give(cpu)
                continue
            state.status = RUNNING
            state.cpu = cpu
            task = asyncio.get_running_loop().create_task(self._run_op(state, entry, payload))
            self._tasks[task] = state

    def _entry(self, op_type: str) -> HandlerEntry:
        """The registry entry of a type, looked up (and copied) once per run."""
        entry = self._entries.get(op_type)
        if entry is None:
            entry = self._entries[op_type] = self.registry.lookup(op_type)
        return entry

    def _substitute(self, state: OpState) -> Any:
        context = dict(self._outputs)
        context["pop.agendaId"] = self.agenda.id
        context["pop.operationName"] = state.name
        context["pop.workDir"] = str(self.work_dir)
        resolution = refs.substitute(state.operation.payload, context)
        problem = unresolved_problem(state.name, resolution)
        if problem is None:
            return resolution.value
        self._fail_before_launch(state, problem)
        return _FAILED_BEFORE_LAUNCH

    def _fail_before_launch(self, state: OpState, message: str) -> None:
        """Fail an op that cannot be launched (invalid reference, unknown type): permanent."""
        self._failed = True
        write_op_invalid(self.store, self.progress_id, state, message)
        self._emit(RunEvent("op_finished", state.name, succeeded=False, message=message))

    def _deadlock(self, pending: list[OpState]) -> None:
        succeeded = {s.name for s in self._states if s.status == DONE_OK}
        known = {s.name for s in self._states}
        operations = [s.operation for s in pending]
        self._conductor_diagnostics.append(deadlock_diagnostic(operations, succeeded, known))
        self._failed = True

    # -- one op ---------------------------------------------------------------------------

    async def _run_op(self, state: OpState, entry: HandlerEntry, payload: Any) -> None:
        state.attempts += 1
        state.tries += 1
        attempt = state.attempts
        op_id = operation_progress_id(self.progress_id, state.name)
        place = AttemptPlace(
            work_dir=self.work_dir,
            op_dir=op_folder(self.work_dir, state.name, attempt),
        )
        log_path = (
            self.settings.logs_dir
            / (self.agenda.id or "")
            / f"{path_segment(state.name)}.{attempt}.log"
        )
        started = now_ms()
        with self.store.transaction():
            attempt_id = self.store.attempts.start(
                self.agenda.id or "",
                state.name,
                attempt,
                executor=self.executor_id,
                runtime="resident" if entry.resident else self.launcher.name,
                log_path=str(log_path) if log_path else None,
            )
            if entry.resident:
                self.store.attempts.record_launch(attempt_id, self._resident_record)
            self.store.progress.update_operation(
                op_id,
                state=ProcessingState.EXECUTING,
                message="running",
                percent=0.0,
                started_time=started,
                attempt_time=started,
                attempt_count=attempt,
            )
        self._emit(RunEvent("op_started", state.name, total=len(self._states)))
        try:
            if entry.resident:
                outcome = await self._run_resident(
                    state, entry, payload, place, log_path, attempt_id
                )
            else:
                outcome = await self._run_launched(
                    state, entry, payload, place, attempt, attempt_id, log_path
                )
        except PopError as exc:
            outcome = Outcome(
                False,
                diagnostics=[DiagnosticEvent.of(exc.message)],
                outcome="permanent" if isinstance(exc, InputError) else "error",
            )
        except OSError as exc:
            outcome = Outcome(
                False,
                diagnostics=[DiagnosticEvent.of(f"failed to run operation '{state.name}': {exc}")],
                outcome="error",
            )
        if outcome.succeeded and state.operation.generator is not None:
            outcome = self._expand(state, outcome)
        self._record_outcome(state, outcome, attempt_id)

    async def _run_resident(
        self,
        state: OpState,
        entry: HandlerEntry,
        payload: Any,
        place: AttemptPlace,
        log_path: Path,
        attempt_id: int,
    ) -> Outcome:
        handler_ref = entry.handler or ""
        function = self._handlers.get(handler_ref)
        if function is None:
            function = self._handlers[handler_ref] = load_handler(handler_ref)
        return await run_resident_attempt(
            function,
            payload,
            state,
            place,
            external_launch=self.external_launch,
            on_progress=lambda progress: self._on_progress(state, progress),
            env=resident_env(self.agenda, self.progress_id, state.name, entry),
            timeout=op_timeout(entry, state.operation),
            log_path=log_path,
            budget=self.budget,
            on_external=external_recorder(self.store, attempt_id, self._resident_record),
        )

    async def _run_launched(
        self,
        state: OpState,
        entry: HandlerEntry,
        payload: Any,
        place: AttemptPlace,
        attempt: int,
        attempt_id: int,
        log_path: Path | None,
    ) -> Outcome:
        spec = build_spec(
            agenda=self.agenda,
            operation=state.operation,
            entry=entry,
            payload=payload,
            attempt=attempt,
            last_progress=state.prior,
            place=place,
            launch=self.options.launch,
            external_launch=self.external_launch,
            timeout_seconds=op_timeout(entry, state.operation),
        )
        # Launched programs start in their attempt folder; resident handlers create it on use.
        place.op_dir.mkdir(parents=True, exist_ok=True)
        if log_path is not None and not self._log_dir_ready:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_dir_ready = True
        attempt_run = LaunchedAttempt(
            self.launcher,
            self.settings,
            clock=self.clock,
            on_progress=lambda progress: self._on_progress(state, progress),
            record_launch=lambda record: self.store.attempts.record_launch(attempt_id, record),
            stopping=lambda: self._stop_reason is not None,
        )
        return await attempt_run.run(
            state, entry, spec, log_path, silence=silence_timeout(entry, state.operation)
        )

    def _on_progress(self, state: OpState, progress: OperationProgress) -> None:
        if progress.processing_state != ProcessingState.EXECUTING or state.status != RUNNING:
            return
        state.percent = min(100.0, max(0.0, float(progress.percent_complete or 0.0)))
        self._emit(
            RunEvent(
                "op_progress",
                state.name,
                percent=state.percent,
                message=progress.processing_state_message,
            )
        )
        now = self.clock()
        if now - state.last_write < self.settings.progress_interval_seconds:
            return
        state.last_write = now
        write_op_progress(self.store, self.progress_id, state, progress, self._percent())

    def _expand(self, state: OpState, outcome: Outcome) -> Outcome:
        try:
            added = store_generated(
                self.store,
                self.agenda,
                self.progress_id,
                state.operation,
                outcome.result,
                first_seq=len(self._states),
            )
        except PopError as exc:
            return Outcome(False, diagnostics=[DiagnosticEvent.of(exc.message)], outcome=FAILED)
        self._states.extend(OpState(operation=op) for op in added)
        return outcome

    def _record_outcome(self, state: OpState, outcome: Outcome, attempt_id: int) -> None:
        state.handle = None
        if not outcome.succeeded and self._retry_later(state, outcome, attempt_id):
            return
        state.status = DONE_OK if outcome.succeeded else DONE_FAILED
        state.outcome = outcome.outcome or (SUCCEEDED if outcome.succeeded else FAILED)
        state.diagnostics = outcome.diagnostics
        if outcome.succeeded:
            self._succeeded_count += 1
            state.output = {} if outcome.result is None else outcome.result
            state.percent = 100.0
            self._outputs[f"{state.name}.out"] = state.output
        else:
            self._failed = True
        write_op_outcome(self.store, self.progress_id, state, outcome, attempt_id, self._percent())
        self._emit(
            RunEvent(
                "op_finished",
                state.name,
                succeeded=outcome.succeeded,
                percent=state.percent,
                message=cause_text(outcome.diagnostics),
            )
        )

    def _retry_later(self, state: OpState, outcome: Outcome, attempt_id: int) -> bool:
        """Schedule another attempt after the backoff when the policy allows; True if so."""
        if self._stop_reason is not None or self._failed:
            return False
        try:
            policy = retry_policy(self._entry(state.operation.type or ""), state.operation)
        except PopError:
            return False
        if not should_retry(policy, attempts=state.tries, outcome=outcome.outcome or FAILED):
            return False
        delay = retry_delay(policy, state.tries, outcome.diagnostics)
        state.status = PENDING
        state.not_before = self.clock() + delay
        state.percent = 0.0
        first = outcome.diagnostics[0].message if outcome.diagnostics else "failed"
        message = f"attempt {state.attempts} failed; retrying in {delay:g} s"
        write_op_retry(
            self.store,
            self.progress_id,
            state,
            outcome,
            attempt_id,
            message=message,
            percent=self._percent(),
        )
        self._emit(RunEvent("op_retry", state.name, message=f"{message}: {first}"))
        return True

    # -- the agenda as a whole -------------------------------------------------------------

    def _agenda_deadline(self) -> asyncio.TimerHandle | None:
        """Cancel the whole agenda when its ``params.timeoutSeconds`` has passed."""
        try:
            seconds = agenda_timeout(self.agenda.params)
        except InputError as exc:
            self._conductor_diagnostics.append(DiagnosticEvent.of(exc.message))
            self._failed = True
            return None
        if seconds is None:
            return None
        reason = f"agenda timed out after {seconds:g} s (params.timeoutSeconds)"
        return asyncio.get_running_loop().call_later(seconds, self.cancel, reason)

    def _percent(self) -> float:
        """(completed*100 + Σ executing percents) / total, in O(running ops)."""
        total = len(self._states)
        if total == 0:
            return 0.0
        running = sum(s.percent for s in self._tasks.values() if s.status == RUNNING)
        return (self._succeeded_count * 100.0 + running) / total

    def _finish(self, agenda_attempt: int) -> bool:
        diagnostics = agenda_diagnostics(
            self._states, self._conductor_diagnostics, self._stop_reason
        )
        succeeded = not diagnostics and all(s.status == DONE_OK for s in self._states)
        kept = write_agenda_end(
            self.store,
            agenda_id=self.agenda.id or "",
            progress_id=self.progress_id,
            executor_id=self.executor_id,
            agenda_attempt=agenda_attempt,
            succeeded=succeeded,
            diagnostics=diagnostics,
            failure=failure_kind(self._states, self._conductor_diagnostics, self._stop_reason),
            percent=self._percent(),
        )
        return succeeded and kept

    def _emit(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event)


_FAILED_BEFORE_LAUNCH: Any = object()
