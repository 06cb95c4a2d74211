"""Keeping a running agenda's lease, and noticing a cancel request from another shell.

Layer: engine. The executor runs :func:`keep_lease` as a task for as long as an agenda runs; it
renews and asks through the run's progress sink (:mod:`pop.engine.sink`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pop.config import Settings
from pop.engine.sink import ProgressSink


async def keep_lease(
    sink: ProgressSink,
    agenda_id: str,
    owner: str,
    settings: Settings,
    cancel: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Renew the lease every ``lease_renew_seconds``; poll for ``pop cancel`` twice a second.
    ``cancel(reason)`` is called on a cancel request and when the lease was lost."""
    poll = min(0.5, settings.lease_renew_seconds)
    last_renew = clock()
    cancelled = False
    while True:
        await asyncio.sleep(poll)
        if not cancelled and sink.cancel_requested(agenda_id):
            cancelled = True
            cancel("cancelled by `pop cancel`")
        if clock() - last_renew >= settings.lease_renew_seconds:
            last_renew = clock()
            if not sink.renew_lease(agenda_id, owner, settings.lease_seconds):
                cancel("lease lost: another executor reclaimed this agenda")
