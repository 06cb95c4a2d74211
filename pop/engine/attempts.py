"""One resident attempt of an op: the handler on a worker thread inside the executor, its
timeout and stop, its log, and its external launches' CPUs (``BudgetGate``) and records.

Layer: engine. Called by the attempt driver (:mod:`pop.engine.driver`); launched attempts are
:mod:`pop.engine.launched`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pop.engine.budget import CpuBudget
from pop.engine.launching import AttemptPlace
from pop.engine.sink import ProgressSink
from pop.engine.state import OpState, Outcome, OutcomeKind
from pop.handlers.resident import run_resident
from pop.models import DiagnosticEvent, OperationProgress

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
    With a ``budget``, each external launch holds its CPUs in it while it runs. Each external
    launch is reported to ``on_external`` (on the loop) when it starts, as ``{launchName,
    runtime, ref, details, name, cpus, startedTime}``, and when it ends, as ``{launchName,
    endedTime, reason, exitCode}`` (see :func:`external_recorder`)."""
    stop = threading.Event()
    state.stop_event, state.stop_why = stop, None
    loop = asyncio.get_running_loop()
    gate = BudgetGate(budget, loop, stop) if budget is not None else None

    def progress_from_thread(progress: OperationProgress) -> None:  # on the worker thread
        loop.call_soon_threadsafe(on_progress, progress)

    def external_from_thread(event: dict[str, Any]) -> None:  # on the worker thread
        assert on_external is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: so is its sink writer
            loop.call_soon_threadsafe(on_external, event)

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
            on_external=external_from_thread if on_external is not None else None,
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
            outcome=OutcomeKind.TIMEOUT if state.stop_why == "timeout" else OutcomeKind.CANCELLED,
            params=final.params,
        )
    if final.succeeded:
        return Outcome(
            True, result=result.result, outcome=OutcomeKind.SUCCEEDED, params=final.params
        )
    return Outcome(
        False,
        diagnostics=list(final.diagnostic_events or []),
        outcome=OutcomeKind.PERMANENT if result.permanent else OutcomeKind.FAILED,
        params=final.params,
    )


def external_recorder(
    sink: ProgressSink, attempt_id: int, record: Mapping[str, Any]
) -> Callable[[dict[str, Any]], None]:
    """A callback that keeps a resident attempt's external launches in its attempt's launch
    record, as ``externals: [{launchName, runtime, ref, details, name, cpus, startedTime,
    endedTime, reason, exitCode}]``: written when one starts (runtime, ref and details let the
    reclaimer stop it after this executor died) and again when it ends (an ended one is left
    alone). Events are matched by ``launchName``; one without it is added as it is; the
    ``launching`` event before a launch is not recorded."""
    externals: list[dict[str, Any]] = []
    by_name: dict[str, dict[str, Any]] = {}

    def on_external(event: dict[str, Any]) -> None:
        if event.get("launching"):
            return  # about to launch: nothing to record until it runs
        name = event.get("launchName")
        known = by_name.get(name) if isinstance(name, str) else None
        if known is not None:
            known.update(event)
        else:
            external = dict(event)
            externals.append(external)
            if isinstance(name, str):
                by_name[name] = external
        sink.record_launch(attempt_id, {**record, "externals": externals})

    return on_external


class BudgetGate:
    """The CPU gate of one resident attempt (a :data:`pop.handlers.external.CpuGate`): an
    external launch, on the handler's thread, waits for its CPUs in the executor's budget (on
    the event loop, first come first served), holds them while it runs and gives them back when
    it ends. A stop while waiting gives up without taking anything."""

    def __init__(
        self, budget: CpuBudget, loop: asyncio.AbstractEventLoop, stop: threading.Event
    ) -> None:
        self.budget, self.loop, self.stop = budget, loop, stop

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
        try:
            yield True
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: so is its budget
                self.loop.call_soon_threadsafe(self.budget.give, cpus)


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
