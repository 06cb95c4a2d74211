"""Built-in resident handlers ``logMessages`` (log lines, succeed) and ``noop`` (benchmarks).

Layer: handlers. Referenced from the registry as ``pop.handlers.log:run`` and
``pop.handlers.log:noop`` and run in the executor process by
:func:`pop.handlers.resident.run_resident` (they work launched as well).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from pop.handlers import handler
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext


class LogMessagesPayload(WireModel):
    """``{"logMessages": ["...", ...]}``."""

    log_messages: list[str] = Field(default_factory=list)


@handler(payload_model=LogMessagesPayload)
def run(ctx: HandlerContext) -> Any:
    """Log every message of the payload, in order; succeed with {}."""
    payload: LogMessagesPayload = ctx.payload
    for message in payload.log_messages:
        ctx.log(message)
    return None


@handler()
def noop(ctx: HandlerContext) -> Any:
    """Do nothing and succeed with {} (measures the cost of running an op)."""
    return None
