"""The launched-handler entry point: standard args + environment in, stdout protocol out.

Layer: handlers. Called by ``python -m pop.handlers`` (:mod:`pop.handlers.__main__`) and by
``pop handler run``; the process it runs in was started by a runtime (local process, container,
pod) on the executor's behalf.

Lifecycle: build :class:`~pop.handlers.launchdata.LaunchData`, parse and validate the payload,
run the handler through :func:`~pop.handlers.context.invoke`, then write ``HandlerComplete`` as
the very last stdout line. Every failure on the way (bad arguments, unreadable payload file,
invalid JSON, payload that does not fit the handler's model) is reported through the same
protocol, so the executor always gets a final progress with a diagnostic.

Exit code: 0 succeeded, 1 failed, 2 failed permanently (PermanentError, invalid payload or
arguments), 130 interrupted. (POP's handlers always exited 0; we do not.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from pop.errors import EXIT_INTERRUPTED, InputError, PermanentError, PopError
from pop.handlers import payload_model_of
from pop.handlers.context import HandlerContext, invoke, load_payload
from pop.handlers.launchdata import HELP_ARGS, OPERATION_NAME, USAGE, LaunchData, asks_for_help
from pop.handlers.reporting import HANDLER_COMPLETE, StdoutReporter


def run_handler(
    func: Callable[[HandlerContext], Any],
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    stdout: TextIO | None = None,
) -> int:
    """Run ``func`` as a launched handler and return the process exit code.

    ``argv`` holds the standard arguments only; ``env`` defaults to ``os.environ``; protocol
    lines go to ``stdout`` (default ``sys.stdout``), log lines to stderr.
    """
    environment = os.environ if env is None else env
    reporter = StdoutReporter(stdout)
    started = time.monotonic()
    launch_data = LaunchData(env=environment)
    ctx = HandlerContext(
        reporter, launch_data, operation_name=environment.get(OPERATION_NAME) or None
    )
    try:
        launch_data = LaunchData.from_argv(argv, environment)
        ctx = HandlerContext.from_launch_data(reporter, launch_data)
        for warning in launch_data.warnings:
            ctx.log(f"warning: {warning}")
        if metadata := launch_data.metadata():
            ctx.log("Operation metadata - " + " ".join(f"{k} : {v}" for k, v in metadata.items()))
        raw_payload = launch_data.payload_text()
        ctx.raw_payload_text = raw_payload
        ctx.payload = load_payload(payload_model_of(func), _parse_json(raw_payload))
    except PopError as exc:
        ctx.fail(exc.message, permanent=isinstance(exc, PermanentError | InputError))
    except KeyboardInterrupt:
        return _interrupted(ctx, reporter)
    else:
        try:
            invoke(func, ctx)
        except KeyboardInterrupt:
            return _interrupted(ctx, reporter)
    status = "succeeded" if ctx.succeeded else "failed"
    elapsed_ms = int((time.monotonic() - started) * 1000)
    ctx.log(
        f"operation={ctx.operation_name or '(unnamed)'} conclusionStatus={status} "
        f"elapsedTime={elapsed_ms}ms"
    )
    reporter.write_line(HANDLER_COMPLETE)
    return ctx.exit_code


def _parse_json(raw_payload: str | None) -> Any:
    if raw_payload is None or not raw_payload.strip():
        return None
    try:
        return json.loads(raw_payload)
    except ValueError as exc:
        raise PermanentError(f"Failed to parse the payload as JSON: {exc}") from exc


def _interrupted(ctx: HandlerContext, reporter: StdoutReporter) -> int:
    ctx.fail(f"Handler interrupted for operation {ctx.operation_name or '(unnamed)'}")
    reporter.write_line(HANDLER_COMPLETE)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pop.handlers module.path:function [standard args]``."""
    from pop.handlers import load_handler

    args = list(sys.argv if argv is None else argv)
    if len(args) < 2 or args[1] in HELP_ARGS or asks_for_help(args[2:]):
        helped = len(args) >= 2
        print(
            f"usage: python -m pop.handlers module.path:function {USAGE}",
            file=sys.stdout if helped else sys.stderr,
        )
        return 0 if helped else 2
    try:
        func = load_handler(args[1])
    except InputError as exc:
        func = _failing_handler(exc.message)
    return run_handler(func, args[2:])


def _failing_handler(message: str) -> Callable[[HandlerContext], Any]:
    def run(ctx: HandlerContext) -> Any:
        raise PermanentError(message)

    return run
