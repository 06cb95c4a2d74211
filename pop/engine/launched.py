"""One launched attempt of an op: launch, follow output and silence, wait, judge, clean up.

Layer: engine. The executor builds the LaunchSpec and hands it here; this module knows only the
Launcher protocol, never which runtime it drives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pop.config import Settings
from pop.engine.output import OutputCollector
from pop.engine.state import OpState, Outcome, OutcomeKind
from pop.models import DiagnosticEvent, OperationProgress
from pop.registry import HandlerEntry
from pop.runtimes.base import CANCELLED, TIMED_OUT, ExitStatus, Handle, Launcher, LaunchSpec


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
        self.handle: Handle | None = None

    async def run(
        self,
        state: OpState,
        entry: HandlerEntry,
        spec: LaunchSpec,
        log_path: Path | None,
        *,
        silence: float | None,
    ) -> Outcome:
        """Launch ``spec`` and follow it to its end. The handle stays in :attr:`handle` for the
        caller to clean up once the outcome is recorded (DESIGN §8); cancelled (the task), it
        stops and cleans up the launch itself before the cancellation goes on. LaunchError and
        RuntimeUnavailableError from the launch are raised."""
        collector = OutputCollector(
            log_path,
            cap_bytes=self.settings.log_cap_bytes,
            tail_lines=max(self.settings.output_tail_lines, self.settings.diagnostic_tail_lines),
        )
        try:
            handle = await self.launcher.launch(spec)
            self.handle = state.handle = handle
            self.record_launch(handle.record.to_json())
            try:
                status = await self._follow(state, handle, collector, silence)
            except asyncio.CancelledError:
                await asyncio.shield(self._abandon(handle))
                raise
        finally:
            collector.close()
        outcome = self._judge(state, entry, status, collector, spec.timeout_seconds)
        outcome.output_tail = collector.last_lines(self.settings.output_tail_lines)
        return outcome

    async def _follow(
        self, state: OpState, handle: Handle, collector: OutputCollector, silence: float | None
    ) -> ExitStatus:
        if self.stopping():
            await handle.cancel(self.settings.cancel_grace_seconds)
        state.last_output = self.clock()
        state.silenced = None
        loop = asyncio.get_running_loop()
        reader = loop.create_task(self._read(state, handle, collector))
        watchdog = (
            loop.create_task(self._watch_silence(state, handle, silence)) if silence else None
        )
        try:
            status = await handle.wait()
        finally:
            if watchdog is not None:
                watchdog.cancel()
        try:
            await asyncio.wait_for(
                asyncio.shield(reader), self.settings.handler_complete_grace_seconds
            )
        except TimeoutError:
            reader.cancel()
        return status

    async def _abandon(self, handle: Handle) -> None:
        """The attempt's task was cancelled: stop the launch and release it."""
        try:
            await handle.cancel(self.settings.cancel_grace_seconds)
        finally:
            await handle.cleanup()
            self.handle = None

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

        def failed(message: str, outcome: OutcomeKind = OutcomeKind.FAILED) -> Outcome:
            own = list(final.diagnostic_events or []) if final is not None else []
            return Outcome(
                False,
                diagnostics=[*own, DiagnosticEvent.of(message, payload=tail)],
                outcome=outcome,
                exit_code=code,
                params=params,
            )

        if status.reason == TIMED_OUT:
            return failed(
                f"operation '{state.name}' timed out after {timeout:g} s", OutcomeKind.TIMEOUT
            )
        if state.silenced is not None:
            return failed(
                f"operation '{state.name}' printed nothing for {state.silenced:g} s "
                "(silence timeout) and was stopped",
                OutcomeKind.TIMEOUT,
            )
        if status.reason == CANCELLED:
            return failed(f"operation '{state.name}' was cancelled", OutcomeKind.CANCELLED)
        if status.reason != "exited":  # lost: the runtime says how (pod deleted, not scheduled)
            how = f"{status.reason}: {status.message}" if status.message else status.reason
            return failed(f"operation '{state.name}' {how}")
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
                outcome=OutcomeKind.SUCCEEDED,
                exit_code=code,
                params=params,
            )
        if final is None:
            return failed(f"handler exited with code {code} without reporting completion")
        if not final.succeeded:
            return failed(
                f"handler reported {final.processing_state_message or 'failure'} "
                f"and exited with code {code}",
                OutcomeKind.PERMANENT if code == 2 else OutcomeKind.FAILED,
            )
        if code != 0:
            return failed(f"handler reported succeeded but exited with code {code}")
        if not collector.completed_marker:
            return failed("handler exited without printing HandlerComplete")
        return Outcome(
            True, result=result, outcome=OutcomeKind.SUCCEEDED, exit_code=code, params=params
        )
