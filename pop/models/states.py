"""Processing states and times, with the standard library only.

Layer: models. The views that must start fast (``pop status``, ``pop list``, ``pop logs``) and
the store read them without loading pydantic; :mod:`pop.models.progress` re-exports them.
"""

from __future__ import annotations

import time
from enum import StrEnum

SUCCEEDED = "succeeded"
FAILED = "failed"
PENDING = "pending"
RUNNING_OPERATIONS = "Running Operations"


class ProcessingState(StrEnum):
    WAITING = "WAITING"
    EXECUTING = "EXECUTING"
    COMPLETE = "COMPLETE"


def parse_state(text: str) -> str:
    """A state name given on a command line or in a query (any case) as POP spells it;
    InputError for anything else."""
    state = text.upper()
    if state not in ProcessingState.__members__:
        from pop.errors import InputError

        raise InputError(f"unknown state '{state}'", hint="use WAITING, EXECUTING or COMPLETE")
    return state


def now_ms() -> int:
    """The current time in epoch milliseconds, as POP stores times."""
    return int(time.time() * 1000)


def iso_time(epoch_ms: int) -> str:
    """``2026-12-01T17:47:25Z``: an epoch-ms time in UTC, as change records and token
    messages show it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_ms // 1000))


def is_succeeded(state: str | None, message: str | None) -> bool:
    """COMPLETE and ``succeeded`` (compared case-insensitively)."""
    return state == ProcessingState.COMPLETE and (message or "").lower() == SUCCEEDED


def is_failed(state: str | None, message: str | None) -> bool:
    return state == ProcessingState.COMPLETE and (message or "").lower() != SUCCEEDED
