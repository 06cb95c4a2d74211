"""What keeps work safe while only a server runs: the reclaimer and the retrier on their
intervals, and the data reaper when asked (issue 13, item 1).

Layer: server. Started by :func:`pop.server.app.create_app`'s lifespan when ``upkeep`` is on
(``pop serve`` does; in-process tests do not); each pass is a ``pop.api.Client`` call on the
server's client thread, as requests are. The first pass of each runs at start-up, then every
``POP_RECLAIM_EVERY`` / ``POP_RETRY_EVERY`` (30 s by default); the data reaper, only with
``pop serve --reap-data AGE``, every hour. A pass that fails is logged (``warning``) and the next
one comes as planned: upkeep never stops the server. Each agenda a pass took back or reran is
logged on one line, as ``pop executor`` prints it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pop.api import Client
from pop.config import Settings
from pop.errors import PopError
from pop.server.calls import ClientThread

LOG = logging.getLogger("pop.server")
REAP_DATA_EVERY_SECONDS = 3600.0
TICK_SECONDS = 0.5


async def keep_work_safe(
    client_thread: ClientThread,
    settings: Settings,
    *,
    reap_data_age: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run the passes until cancelled (see the module docstring)."""
    passes: list[tuple[str, float, Callable[[Client], Any]]] = [
        ("reclaim", settings.reclaim_every_seconds, lambda client: client.reclaim()),
        ("retry", settings.retry_every_seconds, lambda client: client.retry()),
    ]
    if reap_data_age is not None:
        passes.append(
            (
                "reap data",
                REAP_DATA_EVERY_SECONDS,
                lambda client: client.reap_data(older_than=reap_data_age),
            )
        )
    last: dict[str, float] = {}
    while True:
        for name, every, run in passes:
            now = clock()
            if name in last and now - last[name] < every:
                continue
            last[name] = now
            await _one_pass(client_thread, name, run)
        await asyncio.sleep(TICK_SECONDS)


async def _one_pass(client_thread: ClientThread, name: str, run: Callable[[Client], Any]) -> None:
    try:
        results = await client_thread.call(run)
    except PopError as exc:
        LOG.warning("%s: %s", name, exc.message)
        return
    except Exception:  # a bug must not stop the server: logged with its traceback
        LOG.exception("%s failed", name)
        return
    for result in results if isinstance(results, list) else []:
        action = getattr(result, "action", "")
        if action in ("", "skipped", "waiting"):
            continue
        LOG.info(
            "%s %s %s: %s",
            name,
            getattr(result, "agenda_id", "?"),
            action,
            getattr(result, "message", ""),
        )
