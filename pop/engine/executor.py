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
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pop import refs
from pop.config import Settings
from pop.engine.dag import dependencies_of, describe_blocked
from pop.engine.generated import expand_generated
from pop.engine.launching import AttemptPlace, build_spec, path_segment
from pop.engine.output import OutputCollector
from pop.engine.policy import (
    PERMANENT_OUTCOMES,
    backoff_seconds,
    op_timeout,
    retry_policy,
    should_retry,
    silence_timeout,
)
from pop.errors import InputError, LaunchError, PopError
from pop.handlers import load_handler
from pop.handlers.resident import run_resident
from pop.models import (
    FAILED,
    RUNNING_OPERATIONS,
    SUCCEEDED,
    Agenda,
    AgendaProgress,
    DiagnosticEvent,
    Operation,
    OperationProgress,
    ProcessingState,
    now_ms,
)
from pop.registry import HandlerEntry, Registry
from pop.runtimes.base import CANCELLED, TIMED_OUT, ExitStatus, Handle, Launcher
from pop.store import Store, operation_progress_id

PENDING, RUNNING, DONE_OK, DONE_FAILED = "pending", "running", "succeeded", "failed"


def new_executor_id() -> str:
    """An owner id for leases: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunOptions:
    """How to run: runtime names, op concurrency, CPU budget, keep launches after they end."""

    launch: str = "local"
    external_launch: str | None = None
    concurrency: int = 50
    cpus: float | None = None
    keep: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "launch": self.launch,
            "externalLaunch": self.external_launch,
            "concurrency": self.concurrency,
            "cpus": self.cpus,
            "keep": self.keep,
        }


@dataclass(frozen=True)
class RunEvent:
    """What the executor tells an observer (the CLI's live view)."""

    kind: str  # agenda_started | op_started | op_progress | op_finished | agenda_finished
    operation: str | None = None
    percent: float = 0.0
    message: str | None = None
    succeeded: bool | None = None
    total: int = 0


@dataclass
class OpState:
    operation: Operation
    status: str = PENDING
    output: Any = None
    prior: OperationProgress | None = None
    attempts: int = 0
    percent: float = 0.0
    cpu: float = 0.0
    handle: Handle | None = None
    last_write: float = 0.0
    diagnostics: list[DiagnosticEvent] = field(default_factory=list)
    not_before: float = 0.0  # a retry waits (holding no slot) until this clock time
    outcome: str = ""  # how the last attempt ended (succeeded, failed, permanent, timeout, ...)
    tries: int = 0  # attempts in this run (the retry policy counts these; `attempts` spans reruns)
    last_output: float = 0.0
    silenced: float | None = None  # the silence timeout that stopped the attempt

    @property
    def name(self) -> str:
        return self.operation.name or ""


@dataclass
class Outcome:
    succeeded: bool
    result: Any = None
    diagnostics: list[DiagnosticEvent] = field(default_factory=list)
    outcome: str = ""
    exit_code: int | None = None
    params: dict[str, Any] | None = None
    output_tail: list[str] | None = None


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
    ) -> None:
        self.store = store
        self.registry = registry
        self.launcher = launcher
        self.settings = settings
        self.options = options
        self.executor_id = executor_id or new_executor_id()
        self.observer = observer
        self.clock = clock
        self.cpus = float(options.cpus or os.cpu_count() or 1)
        self.external_launch = options.external_launch or options.launch
        self._states: list[OpState] = []
        self._tasks: dict[asyncio.Task[None], OpState] = {}
        self._outputs: dict[str, Any] = {}
        self._failed = False
        self._stop_reason: str | None = None
        self._wake = asyncio.Event()
        self._conductor_diagnostics: list[DiagnosticEvent] = []
        self._cpu_used = 0.0
        self._handlers: dict[str, Any] = {}
        self._entries: dict[str, HandlerEntry] = {}
        self._resident_record = {"runtime": "resident", "ref": f"pid:{os.getpid()}", "details": {}}
        self._succeeded_count = 0
        self._log_dir_ready = False

    # -- public ---------------------------------------------------------------------------

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop starting ops and stop the running ones; the agenda ends failed with ``reason``."""
        if self._stop_reason is None:
            self._stop_reason = reason
        for state in self._tasks.values():
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
        self.work_dir = Path(
            str(self.agenda.params.get("workDir") or self.settings.work_root / agenda_id)
        )
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
        keeper = asyncio.get_running_loop().create_task(self._keep_lease())
        deadline = self._agenda_deadline()
        try:
            await self._conduct()
        finally:
            keeper.cancel()
            if deadline is not None:
                deadline.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            for task in list(self._tasks):
                task.cancel()
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
        while True:
            if self._stop_reason is None and not self._failed:
                self._start_ready()
            active = self._stop_reason is None and not self._failed
            retry_at = min(
                (s.not_before for s in self._states if s.status == PENDING and s.not_before),
                default=None,
            )
            if not self._tasks and (retry_at is None or not active):
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
                    self._cpu_used -= state.cpu

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
            cpu = 0.0 if entry.resident else entry.cpu_request
            if cpu and self._cpu_used > 0 and self._cpu_used + cpu > self.cpus + 1e-9:
                return  # keep agenda order: later ops wait for the CPU budget too
            payload = self._substitute(state)
            if payload is _FAILED_BEFORE_LAUNCH:
                continue
            state.status = RUNNING
            state.cpu = cpu
            self._cpu_used += cpu
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
        problem = None
        if resolution.invalid:
            problem = f"operation '{state.name}' has invalid references: " + ", ".join(
                resolution.invalid
            )
        elif resolution.missing:
            problem = (
                f"operation '{state.name}': all dependencies completed but references are "
                "still unresolved: " + ", ".join(resolution.missing)
            )
        if problem is None:
            return resolution.value
        self._fail_before_launch(state, problem)
        return _FAILED_BEFORE_LAUNCH

    def _fail_before_launch(self, state: OpState, message: str) -> None:
        """Fail an op that cannot be launched (invalid reference, unknown type): permanent."""
        now = now_ms()
        state.status = DONE_FAILED
        state.outcome = "invalid"
        state.diagnostics = [DiagnosticEvent.of(message)]
        self._failed = True
        self.store.progress.update_operation(
            operation_progress_id(self.progress_id, state.name),
            state=ProcessingState.COMPLETE,
            message=FAILED,
            completed_time=now,
            diagnostics=state.diagnostics,
        )
        self._emit(RunEvent("op_finished", state.name, succeeded=False, message=message))

    def _deadlock(self, pending: list[OpState]) -> None:
        succeeded = {s.name for s in self._states if s.status == DONE_OK}
        known = {s.name for s in self._states}
        blocked = describe_blocked((s.operation for s in pending), succeeded, known)
        self._conductor_diagnostics.append(
            DiagnosticEvent.of(
                "agenda deadlock: operations are pending but none can become ready: "
                + "; ".join(blocked),
                payload=blocked,
            )
        )
        self._failed = True

    # -- one op ---------------------------------------------------------------------------

    async def _run_op(self, state: OpState, entry: HandlerEntry, payload: Any) -> None:
        state.attempts += 1
        state.tries += 1
        attempt = state.attempts
        op_id = operation_progress_id(self.progress_id, state.name)
        place = AttemptPlace(
            work_dir=self.work_dir,
            op_dir=self.work_dir / path_segment(state.name) / str(attempt),
        )
        log_path = (
            None
            if entry.resident
            else self.settings.logs_dir
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
                outcome = await self._run_resident(state, entry, payload, place, attempt_id)
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
        attempt_id: int,
    ) -> Outcome:
        handler_ref = entry.handler or ""
        function = self._handlers.get(handler_ref)
        if function is None:
            function = self._handlers[handler_ref] = load_handler(handler_ref)
        loop = asyncio.get_running_loop()

        def on_progress(progress: OperationProgress) -> None:
            loop.call_soon_threadsafe(self._on_progress, state, progress)

        result = await asyncio.to_thread(
            run_resident,
            function,
            payload,
            operation_name=state.name,
            on_progress=on_progress,
            last_progress=state.prior,
            work_dir=place.work_dir,
            op_dir=place.op_dir,
            external_launch_type=self.external_launch,
        )
        final = result.progress
        if final.succeeded:
            return Outcome(True, result=result.result, outcome=SUCCEEDED, params=final.params)
        return Outcome(
            False,
            diagnostics=list(final.diagnostic_events or []),
            outcome="permanent" if result.permanent else FAILED,
            params=final.params,
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
        timeout = op_timeout(entry, state.operation)
        silence = silence_timeout(entry, state.operation)
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
            timeout_seconds=timeout,
        )
        # Launched programs start in their attempt folder; resident handlers create it on use.
        place.op_dir.mkdir(parents=True, exist_ok=True)
        if log_path is not None and not self._log_dir_ready:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_dir_ready = True
        collector = OutputCollector(
            log_path,
            cap_bytes=self.settings.log_cap_bytes,
            tail_lines=max(self.settings.output_tail_lines, self.settings.diagnostic_tail_lines),
        )
        try:
            try:
                handle = await self.launcher.launch(spec)
            except LaunchError as exc:
                return Outcome(
                    False, diagnostics=[DiagnosticEvent.of(exc.message)], outcome="launch"
                )
            state.handle = handle
            self.store.attempts.record_launch(attempt_id, handle.record.to_json())
            if self._stop_reason is not None:
                await handle.cancel(self.settings.cancel_grace_seconds)
            state.last_output = self.clock()
            state.silenced = None
            reader = asyncio.get_running_loop().create_task(self._read(state, handle, collector))
            watchdog = (
                asyncio.get_running_loop().create_task(self._watch_silence(state, handle, silence))
                if silence
                else None
            )
            status = await handle.wait()
            if watchdog is not None:
                watchdog.cancel()
            try:
                await asyncio.wait_for(
                    asyncio.shield(reader), self.settings.handler_complete_grace_seconds
                )
            except TimeoutError:
                reader.cancel()
            await handle.cleanup()
        finally:
            collector.close()
        outcome = self._judge(state, entry, status, collector, spec.timeout_seconds)
        outcome.output_tail = collector.last_lines(self.settings.output_tail_lines)
        return outcome

    async def _watch_silence(self, state: OpState, handle: Handle, silence: float) -> None:
        """Stop a handler that printed nothing for ``silence`` seconds (it is probably stuck)."""
        while True:
            await asyncio.sleep(min(1.0, silence / 4))
            if self.clock() - state.last_output > silence:
                state.silenced = silence
                await handle.cancel(self.settings.cancel_grace_seconds)
                return

    async def _read(self, state: OpState, handle: Handle, collector: OutputCollector) -> None:
        async for line in handle.lines():
            state.last_output = self.clock()
            progress = collector.feed(line)
            if progress is not None:
                self._on_progress(state, progress)

    def _judge(
        self,
        state: OpState,
        entry: HandlerEntry,
        status: ExitStatus,
        collector: OutputCollector,
        timeout: float | None,
    ) -> Outcome:
        tail = collector.last_lines(self.settings.diagnostic_tail_lines)
        final = collector.final_progress
        params = final.params if final is not None else None
        code = status.code

        def failed(message: str, outcome: str = FAILED) -> Outcome:
            own = list(final.diagnostic_events or []) if final is not None else []
            return Outcome(
                False,
                diagnostics=[*own, DiagnosticEvent.of(message, payload=tail)],
                outcome=outcome,
                exit_code=code,
                params=params,
            )

        if status.reason == TIMED_OUT:
            return failed(f"operation '{state.name}' timed out after {timeout:g} s", "timeout")
        if state.silenced is not None:
            return failed(
                f"operation '{state.name}' printed nothing for {state.silenced:g} s "
                "(silence timeout) and was stopped",
                "timeout",
            )
        if status.reason == CANCELLED:
            return failed(f"operation '{state.name}' was cancelled", "cancelled")
        if status.reason != "exited":
            return failed(f"operation '{state.name}' ended: {status.reason} {status.message}")
        result = collector.result if collector.has_result else None
        if entry.protocol != "pop":
            if final is not None and not final.succeeded:
                return failed(f"command reported failure and exited with code {code}")
            if code != 0:
                return failed(
                    f"command {entry.command[0] if entry.command else ''!s} exited with code {code}"
                )
            return Outcome(
                True,
                result=result if collector.has_result else {"exitCode": code},
                outcome=SUCCEEDED,
                exit_code=code,
                params=params,
            )
        if final is None:
            return failed(f"handler exited with code {code} without reporting completion")
        if not final.succeeded:
            return failed(
                f"handler reported {final.processing_state_message or 'failure'} "
                f"and exited with code {code}",
                "permanent" if code == 2 else FAILED,
            )
        if code != 0:
            return failed(f"handler reported succeeded but exited with code {code}")
        if not collector.completed_marker:
            return failed("handler exited without printing HandlerComplete")
        return Outcome(True, result=result, outcome=SUCCEEDED, exit_code=code, params=params)

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
        with self.store.transaction():
            self.store.progress.update_operation(
                operation_progress_id(self.progress_id, state.name),
                percent=state.percent,
                message=progress.processing_state_message or "running",
                params={**state.operation.params, **(progress.params or {})}
                if progress.params
                else None,
            )
            self.store.progress.update_agenda(self.progress_id, percent=self._percent())

    def _expand(self, state: OpState, outcome: Outcome) -> Outcome:
        try:
            added = expand_generated(self.agenda, state.operation, outcome.result)
        except PopError as exc:
            return Outcome(False, diagnostics=[DiagnosticEvent.of(exc.message)], outcome=FAILED)
        if added:
            from pop.engine.submission import new_operation_progress

            with self.store.transaction():
                self.store.agendas.update(self.agenda)
                self.store.progress.insert_operations(
                    self.progress_id,
                    [new_operation_progress(self.progress_id, op) for op in added],
                    first_seq=len(self._states),
                )
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
        with self.store.transaction():
            self.store.progress.update_operation(
                operation_progress_id(self.progress_id, state.name),
                state=ProcessingState.COMPLETE,
                message=SUCCEEDED if outcome.succeeded else FAILED,
                percent=100.0 if outcome.succeeded else state.percent,
                completed_time=now_ms(),
                result_payload=state.output if outcome.succeeded else None,
                set_result=outcome.succeeded,
                diagnostics=outcome.diagnostics,
                params={**state.operation.params, **outcome.params} if outcome.params else None,
                output_tail=outcome.output_tail,
            )
            self.store.attempts.end(
                attempt_id,
                outcome.outcome or (SUCCEEDED if outcome.succeeded else FAILED),
                exit_code=outcome.exit_code,
                message=outcome.diagnostics[0].message or "" if outcome.diagnostics else "",
            )
            self.store.progress.update_agenda(self.progress_id, percent=self._percent())
        self._emit(
            RunEvent(
                "op_finished",
                state.name,
                succeeded=outcome.succeeded,
                percent=state.percent,
                message=outcome.diagnostics[-1].message if outcome.diagnostics else None,
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
        delay = backoff_seconds(policy, state.tries)
        state.status = PENDING
        state.not_before = self.clock() + delay
        state.percent = 0.0
        first = outcome.diagnostics[0].message if outcome.diagnostics else "failed"
        message = f"attempt {state.attempts} failed; retrying in {delay:g} s"
        with self.store.transaction():
            self.store.attempts.end(
                attempt_id,
                outcome.outcome or FAILED,
                exit_code=outcome.exit_code,
                message=first or "",
            )
            self.store.progress.update_operation(
                operation_progress_id(self.progress_id, state.name),
                message=message,
                percent=0.0,
                diagnostics=outcome.diagnostics,
                output_tail=outcome.output_tail,
            )
            self.store.progress.update_agenda(self.progress_id, percent=self._percent())
        self._emit(RunEvent("op_retry", state.name, message=f"{message}: {first}"))
        return True

    # -- the agenda as a whole -------------------------------------------------------------

    def _agenda_deadline(self) -> asyncio.TimerHandle | None:
        """Cancel the whole agenda when its ``params.timeoutSeconds`` has passed."""
        raw = self.agenda.params.get("timeoutSeconds")
        if raw is None:
            return None
        try:
            seconds = float(raw)
        except (TypeError, ValueError):
            self._conductor_diagnostics.append(
                DiagnosticEvent.of(f"agenda params.timeoutSeconds {raw!r} is not a number")
            )
            self._failed = True
            return None
        return asyncio.get_running_loop().call_later(
            seconds, self.cancel, f"agenda timed out after {seconds:g} s (params.timeoutSeconds)"
        )

    def _percent(self) -> float:
        """(completed*100 + Σ executing percents) / total, in O(running ops)."""
        total = len(self._states)
        if total == 0:
            return 0.0
        running = sum(s.percent for s in self._tasks.values() if s.status == RUNNING)
        return (self._succeeded_count * 100.0 + running) / total

    def _finish(self, agenda_attempt: int) -> bool:
        diagnostics: list[DiagnosticEvent] = []
        for state in self._states:
            if state.status == DONE_FAILED:
                first = state.diagnostics[0].message if state.diagnostics else "failed"
                diagnostics.append(
                    DiagnosticEvent.of(
                        f"operation '{state.name}' failed: {first}",
                        payload=[d.to_wire() for d in state.diagnostics],
                    )
                )
        diagnostics.extend(self._conductor_diagnostics)
        if self._stop_reason is not None:
            diagnostics.append(DiagnosticEvent.of(self._stop_reason))
        succeeded = not diagnostics and all(s.status == DONE_OK for s in self._states)
        with self.store.transaction():
            owner, _ = self.store.progress.lease_of(self.agenda.id or "")
            if owner != self.executor_id:
                # The lease was taken over (reclaimed): the agenda is someone else's now.
                return False
            self.store.progress.update_agenda(
                self.progress_id,
                state=ProcessingState.COMPLETE,
                message=SUCCEEDED if succeeded else FAILED,
                percent=self._percent(),
                completed_time=now_ms(),
                add_diagnostics=diagnostics,
            )
            self.store.attempts.end(
                agenda_attempt,
                SUCCEEDED if succeeded else self._failure_kind(),
                message=diagnostics[0].message or "" if diagnostics else "",
            )
            self.store.progress.release_lease(self.agenda.id or "", self.executor_id)
        return succeeded

    def _failure_kind(self) -> str:
        """How the agenda failed, for the retrier: ``cancelled`` and ``permanent`` (an op failed
        permanently, or a deadlock) are never retried; ``failed`` and ``timeout`` may be."""
        if self._stop_reason is not None:
            if self._stop_reason.startswith("lease lost"):
                return "lost"
            return "timeout" if "timed out" in self._stop_reason else "cancelled"
        if self._conductor_diagnostics:
            return "permanent"
        outcomes = {s.outcome for s in self._states if s.status == DONE_FAILED}
        if outcomes & PERMANENT_OUTCOMES:
            return "permanent"
        return FAILED

    async def _keep_lease(self) -> None:
        agenda_id = self.agenda.id or ""
        poll = min(0.5, self.settings.lease_renew_seconds)
        last_renew = self.clock()
        while True:
            await asyncio.sleep(poll)
            if self._stop_reason is None and self.store.progress.cancel_requested(agenda_id):
                self.cancel("cancelled by `pop cancel`")
            if self.clock() - last_renew >= self.settings.lease_renew_seconds:
                last_renew = self.clock()
                if not self.store.progress.renew_lease(
                    agenda_id, self.executor_id, self.settings.lease_seconds
                ):
                    self.cancel("lease lost: another executor reclaimed this agenda")

    def _emit(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event)


_FAILED_BEFORE_LAUNCH: Any = object()


def agenda_of(store: Store, agenda_id: str) -> Agenda:
    return store.agendas.get(agenda_id)
