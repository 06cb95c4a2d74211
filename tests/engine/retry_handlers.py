"""Resident handlers for the retry tests: fail with ``TemporaryError(delay=...)`` until a
counter file says enough attempts were made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pop.handlers import HandlerContext, TemporaryError


def busy(ctx: HandlerContext) -> Any:
    """Payload ``{"counter": path, "failures": N, "delay": seconds}``: the first N attempts
    fail asking for ``delay`` seconds before the next; then it succeeds."""
    counter = Path(ctx.payload["counter"])
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    if count <= ctx.payload["failures"]:
        raise TemporaryError("the service is busy", delay=ctx.payload["delay"])
    return {"attempt": count}
