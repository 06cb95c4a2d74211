"""Handlers for the stopping tests, run as real processes:
``python -m pop.handlers tests.handlers.stopping_handlers:NAME``."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from pop.handlers.context import HandlerContext


def external_sleeper(ctx: HandlerContext) -> Any:
    """Runs ``payload.argv`` as an external launch; should it come back, says how it ended."""
    result = ctx.launch_external(ctx.payload["argv"], name="sleeper")
    ctx.fail(f"the external came back: {result.describe()}")


def python_sleeper(ctx: HandlerContext) -> Any:
    """Sleeps in Python (no external launch) after saying so."""
    ctx.progress(10, "sleeping")
    time.sleep(60)


def returns_while_its_external_runs(ctx: HandlerContext) -> Any:
    """Starts its external launch on a daemon thread and returns (succeeds) once the external
    wrote ``payload.pidFile``: the external is still running when the handler process ends."""
    pid_file = Path(ctx.payload["pidFile"])
    thread = threading.Thread(
        target=ctx.launch_external, args=(ctx.payload["argv"],), kwargs={"name": "leftover"}
    )
    thread.daemon = True
    thread.start()
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text().strip()):
        if time.monotonic() > deadline:
            raise TimeoutError("the external never started")
        time.sleep(0.02)
    return {"left": int(pid_file.read_text())}
