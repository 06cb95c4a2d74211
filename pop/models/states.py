"""Processing states and times, with the standard library only.

Layer: models. The views that must start fast (``pop status``, ``pop list``, ``pop logs``) and
the store read them without loading pydantic; :mod:`pop.models.progress` re-exports them.
"""

from __future__ import annotations

import os
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


def new_id() -> str:
    """A new random UUID v4 string, as POP generates ids (``uuid.uuid4()``'s form, without
    importing uuid)."""
    value = bytearray(os.urandom(16))
    value[6] = (value[6] & 0x0F) | 0x40  # version 4
    value[8] = (value[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = value.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def is_succeeded(state: str | None, message: str | None) -> bool:
    """COMPLETE and ``succeeded`` (compared case-insensitively)."""
    return state == ProcessingState.COMPLETE and (message or "").lower() == SUCCEEDED


def is_failed(state: str | None, message: str | None) -> bool:
    return state == ProcessingState.COMPLETE and (message or "").lower() != SUCCEEDED
