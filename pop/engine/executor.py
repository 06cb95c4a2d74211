"""The executor: runs one agenda by walking its DAG and launching each op through a runtime.

Layer: engine. Called by the api (``pop run-local``) and later by the executor daemon. It receives
a Launcher instance and never asks which runtime it is (DESIGN §5, §8).

Semantics: an op is ready when every dependency succeeded; ready ops start in agenda order, at
most ``concurrency`` at once and within the CPU budget; the first failure stops new starts while
running ops finish; nothing running, nothing ready and something pending is a deadlock. Every
transition is written at once (percent at most every ``progress_interval`` per op, the latest
report when the interval ends), so ``pop status`` in another shell sees the truth. The agenda
holds a lease while it runs. Everything the run reads or writes goes through one
:class:`pop.engine.sink.ProgressSink` (the local store's by default); this module never asks
which it holds (DESIGN §12).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pop import refs
from pop.config import Settings
from pop.engine.budget import CpuBudget, op_cpus
from pop.engine.dag import deadlock_diagnostic, dependencies_of, unresolved_problem
from pop.engine.driver import AttemptDriver, AttemptResult, RunContext
from pop.engine.generated import add_generated
from pop.engine.launching import LaunchContext, agenda_work_dir
from pop.engine.lease import keep_lease
from pop.engine.policy import agenda_timeout, retry_delay, retry_policy, should_retry
from pop.engine.sink import ProgressSink
from pop.engine.state import (
    DONE_FAILED,
    DONE_OK,
    PENDING,
    RUNNING,
    OpState,
    Outcome,
    OutcomeKind,
    RunEvent,
    RunOptions,
    Stop,
    StopKind,
    agenda_diagnostics,
    failure_kind,
    new_executor_id,
)
from pop.engine.store_sink import StoreSink
from pop.errors import InputError, PopError
from pop.models import (
    AgendaProgress,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
)
from pop.models.causes import cause_text
from pop.registry import HandlerEntry, Registry
from pop.runtimes.base import Capabilities, Launcher

if TYPE_CHECKING:  # the store is only handed to StoreSink
    from pop.store import Store

__all__ = ["AgendaRunner", "RunEvent", "RunOptions", "new_executor_id"]


class AgendaRunner:
    """Runs one stored agenda to COMPLETE (or leaves it WAITING when the runtime is down).

    It reads and writes through ``sink``; without one, through the local store ``store``
    (:class:`pop.engine.store_sink.StoreSink`), which it touches in no other way."""

    def __init__(
        self,
        store: Store | None,
        registry: Registry,
        launcher: Launcher,
        settings: Settings,
        options: RunOptions,
        *,
        executor_id: str | None = None,
        observer: Callable[[RunEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        budget: CpuBudget | None = None,
        external_launcher: Launcher | None = None,
        sink: ProgressSink | None = None,
    ) -> None:
        if sink is None:
            if store is None:
                raise PopError("an AgendaRunner needs a store or a progress sink")
            sink = StoreSink(store)
        self.sink = sink
        self.registry = registry
        self.launcher = launcher
        self.settings = settings
        self.options = options
        self.executor_id = executor_id or new_executor_id()
        self.observer = observer
        self.clock = clock
        self.budget = budget or CpuBudget(options.cpus)
        # The handlers' runtime (--external-launch): checked with the launcher before the run;
        # None when it is the launcher's own runtime.
        self.external_launcher = external_launcher
        self._states: list[OpState] = []
        self._tasks: dict[asyncio.Task[None], OpState] = {}
        self._outputs: dict[str, Any] = {}
        self._failed = False
        self._stop: Stop | None = None
        self._wake = asyncio.Event()
        self._conductor_diagnostics: list[DiagnosticEvent] = []
        self._entries: dict[str, HandlerEntry] = {}
        self._succeeded_count = 0
        self._cpu_wait = False
        # per op: the latest progress report held back by progress_interval, and its write
        self._trailing: dict[str, tuple[OperationProgress, asyncio.TimerHandle]] = {}

    # -- public ---------------------------------------------------------------------------

    @property
    def stop_reason(self) -> str | None:
        """Why the run was told to stop (cancel, interrupt, lease lost), None when it was not."""
        return self._stop.message if self._stop is not None else None

    def cancel(self, reason: str = "cancelled", kind: StopKind = StopKind.CANCELLED) -> None:
        """Stop starting ops and stop the running ones; the agenda ends failed with ``reason``.
        ``kind`` says how the failure counts for the retrier (a lost lease may be retried)."""
        if self._stop is None:
            self._stop = Stop(kind, reason)
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

    def _lease_lost(self, reason: str) -> None:
        self.cancel(reason, StopKind.LOST)

    async def run(self, agenda_id: str) -> AgendaProgress:
        sink = self.sink
        self.agenda = sink.agenda(agenda_id)
        progress = sink.progress(agenda_id)
        if progress is None:
            raise InputError(f"agenda {agenda_id} has no progress record")
        if progress.processing_state == ProcessingState.COMPLETE:
            raise InputError(
                f"agenda {agenda_id} is already COMPLETE/{progress.processing_state_message}",
                hint="submit the agenda again to run it anew",
            )
        await self.launcher.check()
        if self.external_launcher is not None:
            await self.external_launcher.check()
        # once claimed, the agenda leaves the queue (the daemon must not pick it up too) and
        # keeps how it runs now (runtime, engine, keep, ...): --resume and the reclaimer build
        # the same launchers from it; a refused claim leaves the stored settings as they were
        holder = sink.claim(
            agenda_id,
            self.executor_id,
            lease_seconds=self.settings.lease_seconds,
            launch_settings=self.options.to_json(),
        )
        if holder != self.executor_id:
            raise InputError(f"agenda {agenda_id} is being run by {holder}")
        self.progress_id = progress.id or ""
        self.work_dir = agenda_work_dir(self.agenda, self.settings.work_root)
        self.context = self._run_context()
        self._driver = AttemptDriver(self.context, self._on_progress)
        self._load_states(progress)
        attempt_number = (progress.attempts_completed or 0) + 1
        agenda_attempt = sink.begin(
            agenda_id,
            self.progress_id,
            attempt=attempt_number,
            executor=self.executor_id,
            runtime=self.launcher.name,
            percent=self._percent(),
        )
        self._emit(RunEvent("agenda_started", total=len(self._states)))
        keeper = asyncio.get_running_loop().create_task(
            keep_lease(sink, agenda_id, self.executor_id, self.settings, self._lease_lost)
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
        final = sink.progress(agenda_id)
        assert final is not None
        return final

    def _run_context(self) -> RunContext:
        options = self.options
        capabilities = self.launcher.capabilities
        external: Capabilities = (
            self.external_launcher.capabilities if self.external_launcher else capabilities
        )
        launch = LaunchContext(
            launch=options.launch,
            external_launch=options.external_runtime,
            capabilities=capabilities,
            external_capabilities=external,
            runtime_options=dict(options.runtime_options),
            keep=options.keep,
        )
        return RunContext(
            sink=self.sink,
            registry=self.registry,
            launcher=self.launcher,
            settings=self.settings,
            executor_id=self.executor_id,
            agenda=self.agenda,
            progress_id=self.progress_id,
            work_dir=self.work_dir,
            launch=launch,
            budget=self.budget,
            clock=self.clock,
            emit=self._emit,
            stopping=lambda: self._stop is not None,
            op_count=lambda: len(self._states),
        )

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
            if self._stop is None and not self._failed:
                self._start_ready()
            active = self._stop is None and not self._failed
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
            # a launched op holds its CPUs here only where launches use this host's CPUs
            cpu = op_cpus(entry) if self.launcher.capabilities.host_cpus else 0.0
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
        state.status = DONE_FAILED
        state.outcome = OutcomeKind.INVALID
        state.diagnostics = [DiagnosticEvent.of(message)]
        self.sink.op_invalid(self.progress_id, state.name, state.diagnostics)
        self._emit(RunEvent("op_finished", state.name, succeeded=False, message=message))

    def _deadlock(self, pending: list[OpState]) -> None:
        succeeded = {s.name for s in self._states if s.status == DONE_OK}
        known = {s.name for s in self._states}
        operations = [s.operation for s in pending]
        self._conductor_diagnostics.append(deadlock_diagnostic(operations, succeeded, known))
        self._failed = True

    # -- one op ---------------------------------------------------------------------------

    async def _run_op(self, state: OpState, entry: HandlerEntry, payload: Any) -> None:
        """One attempt: run it, expand a generator's output, record the outcome, then release
        what the runtime still holds for it (the container or pod goes after its result is
        recorded: DESIGN §8)."""
        result: AttemptResult | None = None
        try:
            result = await self._driver.run(state, entry, payload)
            outcome = result.outcome
            if outcome.succeeded and state.operation.generator is not None:
                outcome = self._expand(state, outcome)
            self._record_outcome(state, outcome, result.attempt_id)
            if result.handle is not None:
                # the program has ended: its CPUs and its dependents need not wait for the
                # container's removal
                self.budget.give(state.cpu)
                state.cpu = 0.0
                self._wake.set()
        finally:
            if result is not None and result.handle is not None:
                await asyncio.shield(self._release(state, result))

    async def _release(self, state: OpState, result: AttemptResult) -> None:
        assert result.handle is not None
        try:
            await result.handle.cleanup()
        except Exception as exc:
            self._emit(RunEvent("op_cleanup_failed", state.name, message=f"cleanup failed: {exc}"))

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
        wait = self.settings.progress_interval_seconds - (self.clock() - state.last_write)
        if wait <= 0:
            self._write_progress(state, progress)
        elif state.name not in self._trailing:
            # within the interval: the latest report is written when the interval ends, so a
            # handler that reports twice and then goes quiet is not shown behind in the store
            loop = asyncio.get_running_loop()
            self._trailing[state.name] = (progress, loop.call_later(wait, self._flush, state))
        else:
            self._trailing[state.name] = (progress, self._trailing[state.name][1])

    def _flush(self, state: OpState) -> None:
        progress, _ = self._trailing.pop(state.name)
        if state.status == RUNNING:
            self._write_progress(state, progress)

    def _write_progress(self, state: OpState, progress: OperationProgress) -> None:
        state.last_write = self.clock()
        self.sink.op_progress(
            self.progress_id,
            state.name,
            percent=state.percent,
            message=progress.processing_state_message or "running",
            params={**state.operation.params, **progress.params} if progress.params else None,
            agenda_percent=self._percent(),
        )

    def _expand(self, state: OpState, outcome: Outcome) -> Outcome:
        try:
            added = add_generated(
                self.sink,
                self.agenda,
                self.progress_id,
                state.operation,
                outcome.result,
                first_seq=len(self._states),
            )
        except PopError as exc:
            return Outcome(
                False, diagnostics=[DiagnosticEvent.of(exc.message)], outcome=OutcomeKind.FAILED
            )
        self._states.extend(OpState(operation=op) for op in added)
        return outcome

    def _record_outcome(self, state: OpState, outcome: Outcome, attempt_id: int) -> None:
        state.handle = None
        if state.name in self._trailing:  # the outcome supersedes a report not yet written
            self._trailing.pop(state.name)[1].cancel()
        if not outcome.succeeded and self._retry_later(state, outcome, attempt_id):
            return
        state.status = DONE_OK if outcome.succeeded else DONE_FAILED
        state.outcome = outcome.outcome or (
            OutcomeKind.SUCCEEDED if outcome.succeeded else OutcomeKind.FAILED
        )
        state.diagnostics = outcome.diagnostics
        if outcome.succeeded:
            self._succeeded_count += 1
            state.output = {} if outcome.result is None else outcome.result
            state.percent = 100.0
            self._outputs[f"{state.name}.out"] = state.output
        else:
            self._failed = True
        self.sink.op_outcome(
            self.progress_id,
            state.name,
            attempt_id,
            outcome,
            percent=100.0 if outcome.succeeded else state.percent,
            result=state.output,
            params={**state.operation.params, **outcome.params} if outcome.params else None,
            agenda_percent=self._percent(),
        )
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
        if self._stop is not None or self._failed:
            return False
        try:
            policy = retry_policy(self._entry(state.operation.type or ""), state.operation)
        except PopError:
            return False
        kind = outcome.outcome or OutcomeKind.FAILED
        if not should_retry(policy, attempts=state.tries, outcome=kind):
            return False
        delay = retry_delay(policy, state.tries, outcome.diagnostics)
        state.status = PENDING
        state.not_before = self.clock() + delay
        state.percent = 0.0
        first = outcome.diagnostics[0].message if outcome.diagnostics else "failed"
        message = f"attempt {state.attempts} failed; retrying in {delay:g} s"
        self.sink.op_retry(
            self.progress_id,
            state.name,
            attempt_id,
            outcome,
            message=message,
            agenda_percent=self._percent(),
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
        loop = asyncio.get_running_loop()
        return loop.call_later(seconds, self.cancel, reason, StopKind.TIMEOUT)

    def _percent(self) -> float:
        """(completed*100 + Σ executing percents) / total, in O(running ops)."""
        total = len(self._states)
        if total == 0:
            return 0.0
        running = sum(s.percent for s in self._tasks.values() if s.status == RUNNING)
        return (self._succeeded_count * 100.0 + running) / total

    def _finish(self, agenda_attempt: int) -> bool:
        diagnostics = agenda_diagnostics(self._states, self._conductor_diagnostics, self._stop)
        succeeded = not diagnostics and all(s.status == DONE_OK for s in self._states)
        kept = self.sink.finish(
            self.agenda.id or "",
            self.progress_id,
            owner=self.executor_id,
            attempt_id=agenda_attempt,
            succeeded=succeeded,
            failure=failure_kind(self._states, self._conductor_diagnostics, self._stop),
            diagnostics=diagnostics,
            percent=self._percent(),
        )
        return succeeded and kept

    def _emit(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event)


_FAILED_BEFORE_LAUNCH: Any = object()
