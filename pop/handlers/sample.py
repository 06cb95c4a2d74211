"""The built-in ``sample`` handler: log, fail, sleep and run external commands on request.

Layer: handlers. Referenced from the registry as ``pop.handlers.sample:run``; launched
(``python -m pop.handlers pop.handlers.sample:run``) or run resident. Used by examples, tests and
benchmarks to exercise the whole protocol without media.

Payload (POP-REFERENCE §5.6)::

    {"actions": [{"action": "log" | "exception" | "externalExecute", "paramsMap": {...}}],
     "resultPayload": {...}}

First the ``jobInfo`` param of the earlier attempt's progress is loaded and its ``jobId`` logged.
Then, per action in order: an optional sleep (``paramsMap.sleepMilliseconds`` > 0) in
``max(1, ms // 1000)`` iterations, each reporting EXECUTING at ``i / iterations * 100`` with params
``{"JobId": <process-wide uuid>}`` and then sleeping an equal share of the time; then the action:
``log`` logs ``logMessage``, ``exception`` fails with ``exceptionMessage``, ``externalExecute``
runs ``externalArgs`` (an argv list) through the externalLaunchType runtime. Finally the op
succeeds with ``resultPayload`` (``{}`` when absent).

Deviations from POP: a sleep lasts the requested time (POP slept whole seconds, so 300 ms
slept 1 s); a failing external command fails the op with a diagnostic naming the command, its
exit code and its last output lines (POP logged and ignored the failure).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import Field

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.models import DiagnosticEvent, WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

JOB_ID = str(uuid.uuid4())
_sleep = time.sleep  # replaced by tests that count iterations without waiting


class SampleAction(WireModel):
    """One action: its name and its parameters."""

    action: str
    params_map: dict[str, Any] | None = None


class SamplePayload(WireModel):
    """The sample handler's payload."""

    actions: list[SampleAction] = Field(default_factory=list)
    result_payload: Any = None


@handler(payload_model=SamplePayload)
def run(ctx: HandlerContext) -> Any:
    """Perform the payload's actions in order, then succeed with its ``resultPayload``."""
    payload: SamplePayload = ctx.payload
    job_info = ctx.last_progress_param("jobInfo")
    if isinstance(job_info, dict) and job_info.get("jobId"):
        ctx.log(f"Loaded jobInfo from the last progress: jobId={job_info['jobId']}")
    for action in payload.actions:
        params = action.params_map or {}
        _sleep_with_progress(ctx, params.get("sleepMilliseconds"))
        if action.action == "log":
            ctx.log(str(params.get("logMessage", "")))
        elif action.action == "exception":
            raise HandlerError(str(params.get("exceptionMessage") or "Sample exception action"))
        elif action.action == "externalExecute":
            if not _external_execute(ctx, params.get("externalArgs")):
                return None
        else:
            raise PermanentError(f"Invalid action specified: {action.action}")
    return {} if payload.result_payload is None else payload.result_payload


def _sleep_with_progress(ctx: HandlerContext, raw_milliseconds: Any) -> None:
    if raw_milliseconds is None:
        return
    try:
        milliseconds = int(float(str(raw_milliseconds)))
    except ValueError as exc:
        raise PermanentError(f"Invalid sleepMilliseconds: {raw_milliseconds}") from exc
    if milliseconds <= 0:
        return
    iterations = max(1, milliseconds // 1000)
    remaining = milliseconds / 1000
    for index in range(iterations):
        ctx.progress(index / iterations * 100, params={"JobId": JOB_ID})
        step = remaining / (iterations - index)  # the whole requested time, spread evenly
        _sleep(step)
        remaining -= step


def _external_execute(ctx: HandlerContext, external_args: Any) -> bool:
    """Run the command; False (and the op failed) when it did not exit 0."""
    if (
        not isinstance(external_args, list)
        or not external_args
        or not all(isinstance(arg, str) for arg in external_args)
    ):
        raise PermanentError(
            "externalExecute needs paramsMap.externalArgs: a non-empty list of strings"
        )
    result = ctx.launch_external(external_args, name="sample-external")
    if result.ok:
        return True
    ctx.fail(DiagnosticEvent.of(result.describe(), payload=result.tail))
    return False
