"""Resident handlers: a Python handler run inside the executor process, with no launch at all.

Layer: handlers. Called by the engine's executor (on a worker thread) for registry entries with
``resident: true``; it must stay cheap (thousands of no-op ops per second): no threads, no event
loop, no copy of the environment.

Outcome (POP-REFERENCE §4.8, with POP's quirks fixed): a handler that returns normally succeeds
with its return value (``{}`` for None) unless it completed itself; an exception fails the op
with "Resident execution failed for operation: <name>" first, then the diagnostics the handler
reported, then the exception's. A payload that does not fit the handler's model fails
permanently with "Failed to translate payload to <Model>: ...". ``startedTime`` and
``completedTime`` are set around the call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pop.errors import PermanentError
from pop.handlers import payload_model_of
from pop.handlers.context import HandlerContext, fail_from_exception, invoke, load_payload
from pop.handlers.external import CpuGate, ExternalReporter
from pop.handlers.launchdata import LaunchArgs, LaunchData
from pop.handlers.reporting import CallbackReporter
from pop.models import OperationProgress
from pop.models.causes import RESIDENT_FAILURE

_EMPTY_ENV: Mapping[str, str] = {}
_ARGS_BY_LAUNCH_TYPE: dict[str, LaunchArgs] = {}


@dataclass(frozen=True, slots=True)
class ResidentOutcome:
    """The final progress (always COMPLETE), the result (None on failure) and whether a failure
    is permanent."""

    progress: OperationProgress
    result: Any
    permanent: bool

    @property
    def succeeded(self) -> bool:
        return self.progress.succeeded


def _launch_args(external_launch_type: str) -> LaunchArgs:
    args = _ARGS_BY_LAUNCH_TYPE.get(external_launch_type)
    if args is None:
        args = LaunchArgs(launch_type="local", external_launch_type=external_launch_type)
        _ARGS_BY_LAUNCH_TYPE[external_launch_type] = args
    return args


def run_resident(
    func: Callable[[HandlerContext], Any],
    payload: Any,
    *,
    operation_name: str,
    on_progress: Callable[[OperationProgress], None],
    last_progress: OperationProgress | None = None,
    work_dir: Path | None = None,
    op_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    external_launch_type: str = "local",
    on_log: Callable[[str], None] | None = None,
    stop_event: threading.Event | None = None,
    cpu_gate: CpuGate | None = None,
    on_external: ExternalReporter | None = None,
) -> ResidentOutcome:
    """Run ``func`` on ``payload`` (the op payload, references resolved) in this thread.

    Every progress, the final COMPLETE one included, goes to ``on_progress``; log lines go to
    ``on_log`` (default stderr). ``env`` is what ``ctx.launch_data`` sees (AGENDA_ID, ...).
    ``cpu_gate`` makes each external launch wait for its CPUs (the executor's budget);
    ``on_external`` hears when each starts (with its LaunchRecord) and ends, on this thread.
    Never raises for a handler failure; BaseExceptions (KeyboardInterrupt) propagate.
    """
    launch_data = LaunchData(
        args=_launch_args(external_launch_type),
        env=_EMPTY_ENV if env is None else env,
    )
    ctx = HandlerContext(
        CallbackReporter(on_progress),
        launch_data,
        operation_name=operation_name,
        last_progress=last_progress,
        work_dir=work_dir,
        op_dir=op_dir,
        log=on_log,
        stop_event=stop_event,
        cpu_gate=cpu_gate,
        on_external=on_external,
    )
    model = payload_model_of(func)
    prefix = RESIDENT_FAILURE + operation_name
    try:
        ctx.payload = load_payload(model, payload) if model is not None else payload
    except PermanentError as exc:
        ctx.fail(exc.message, permanent=True)
    else:
        try:
            invoke(func, ctx, failure_prefix=prefix)
        except Exception as exc:  # the reporter (the engine's callback) raised
            fail_from_exception(ctx, exc, failure_prefix=prefix)
    final = ctx.final_progress
    assert final is not None, "invoke always completes the op"
    if on_log is not None and not final.succeeded:  # `pop logs` shows why, as for launches
        for event in final.diagnostic_events or []:
            on_log(f"failed: {event.message}")
            for line in (event.stack_trace or "").rstrip().splitlines():
                on_log(line)
    return ResidentOutcome(progress=final, result=ctx.result, permanent=ctx.permanent)
