"""One launched attempt of an op: launch, follow output and silence, wait, clean up, judge.

Layer: engine. The executor builds the LaunchSpec and hands it here; this module knows only the
Launcher protocol, never which runtime it drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pop.config import Settings
from pop.engine.budget import CpuBudget
from pop.engine.launching import AttemptPlace
from pop.engine.output import OutputCollector
from pop.engine.state import OpState, Outcome
from pop.errors import LaunchError
from pop.handlers.resident import run_resident
from pop.models import FAILED, SUCCEEDED, DiagnosticEvent, OperationProgress, now_ms
from pop.registry import HandlerEntry
from pop.runtimes.base import CANCELLED, TIMED_OUT, ExitStatus, Handle, Launcher, LaunchSpec

GATE_POLL_SECONDS = 0.1  # how often a launch waiting for CPU looks at the op's stop event


async def run_resident_attempt(
    function: Callable[[Any], Any],
    payload: Any,
    state: OpState,
    place: AttemptPlace,
    *,
    external_launch: str,
    on_progress: Callable[[OperationProgress], None],
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    log_path: Path | None = None,
    budget: CpuBudget | None = None,
    on_external: Callable[[dict[str, Any]], None] | None = None,
) -> Outcome:
    """Run a resident handler on a worker thread inside the executor; ``on_progress`` is called
    on the event loop. The executor's cancel and ``timeout`` set the run's stop event, which
    stops its external launches; its log lines go to ``log_path`` (opened on the first line).
    With a ``budget``, each external launch holds its CPUs in it while it runs and is then
    reported to ``on_external`` (on the loop) as ``{name, cpus, startedTime, endedTime}``."""
    stop = threading.Event()
    state.stop_event, state.stop_why = stop, None
    loop = asyncio.get_running_loop()
    gate = BudgetGate(budget, loop, stop, on_external) if budget is not None else None

    def progress_from_thread(progress: OperationProgress) -> None:  # on the worker thread
        loop.call_soon_threadsafe(on_progress, progress)

    def time_out() -> None:
        state.stop_why = state.stop_why or "timeout"
        stop.set()

    timer = loop.call_later(timeout, time_out) if timeout else None
    log = _LazyLog(log_path) if log_path is not None else None
    try:
        result = await asyncio.to_thread(
            run_resident,
            function,
            payload,
            operation_name=state.name,
            on_progress=progress_from_thread,
            last_progress=state.prior,
            work_dir=place.work_dir,
            op_dir=place.op_dir,
            external_launch_type=external_launch,
            env=env,
            on_log=log.write if log is not None else None,
            stop_event=stop,
            cpu_gate=gate,
        )
    finally:
        if timer is not None:
            timer.cancel()
        if log is not None:
            log.close()
        state.stop_event = None
    final = result.progress
    if state.stop_why is not None and not final.succeeded:
        own = list(final.diagnostic_events or [])
        if state.stop_why == "timeout":
            message = f"operation '{state.name}' timed out after {timeout:g} s"
        else:
            message = f"operation '{state.name}' was cancelled"
        return Outcome(
            False,
            diagnostics=[*own, DiagnosticEvent.of(message)],
            outcome="timeout" if state.stop_why == "timeout" else "cancelled",
            params=final.params,
        )
    if final.succeeded:
        return Outcome(True, result=result.result, outcome=SUCCEEDED, params=final.params)
    return Outcome(
        False,
        diagnostics=list(final.diagnostic_events or []),
        outcome="permanent" if result.permanent else FAILED,
        params=final.params,
    )


class BudgetGate:
    """The CPU gate of one resident attempt (a :data:`pop.handlers.external.CpuGate`): an
    external launch, on the handler's thread, waits for its CPUs in the executor's budget (on
    the event loop, first come first served), holds them while it runs, gives them back and is
    reported when it ends. A stop while waiting gives up without taking anything."""

    def __init__(
        self,
        budget: CpuBudget,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        on_external: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.budget, self.loop, self.stop, self.on_external = budget, loop, stop, on_external

    @contextlib.contextmanager
    def __call__(self, cpus: float, name: str, on_wait: Callable[[], None]) -> Iterator[bool]:
        future = asyncio.run_coroutine_threadsafe(self.budget.acquire(cpus), self.loop)
        waiting = False
        while True:
            try:
                future.result(timeout=GATE_POLL_SECONDS)
                break
            except TimeoutError:
                if self.stop.is_set() and future.cancel():
                    yield False
                    return
                if not waiting:
                    waiting = True
                    on_wait()
        started = now_ms()
        try:
            yield True
        finally:
            record = {"name": name, "cpus": cpus, "startedTime": started, "endedTime": now_ms()}
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is its budget
                self.loop.call_soon_threadsafe(self._release, cpus, record)

    def _release(self, cpus: float, record: dict[str, Any]) -> None:
        self.budget.give(cpus)
        if self.on_external is not None:
            self.on_external(record)


class LaunchedAttempt:
    """Runs one LaunchSpec to its end and turns how it ended into an :class:`Outcome`."""

    def __init__(
        self,
        launcher: Launcher,
        settings: Settings,
        *,
        clock: Callable[[], float],
        on_progress: Callable[[OperationProgress], None],
        record_launch: Callable[[Mapping[str, Any]], None],
        stopping: Callable[[], bool],
    ) -> None:
        self.launcher = launcher
        self.settings = settings
        self.clock = clock
        self.on_progress = on_progress
        self.record_launch = record_launch
        self.stopping = stopping

    async def run(
        self,
        state: OpState,
        entry: HandlerEntry,
        spec: LaunchSpec,
        log_path: Path | None,
        *,
        silence: float | None,
    ) -> Outcome:
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
            self.record_launch(handle.record.to_json())
            if self.stopping():
                await handle.cancel(self.settings.cancel_grace_seconds)
            state.last_output = self.clock()
            state.silenced = None
            loop = asyncio.get_running_loop()
            reader = loop.create_task(self._read(state, handle, collector))
            watchdog = (
                loop.create_task(self._watch_silence(state, handle, silence)) if silence else None
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
                self.on_progress(progress)

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


class _LazyLog:
    """A resident attempt's log file, created on the first line (most resident ops log nothing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Any = None

    def write(self, line: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close)
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
