"""Where the server's :class:`pop.api.Client` runs: the one thread that owns it.

Layer: server. A ``Client`` holds one SQLite connection, and a connection serves one caller at a
time; the store allows one writer at a time anyway. So every route hands its ``Client`` work to
:meth:`ClientThread.call`, and no two calls share the connection at once. Routes bundle what
one request needs (a read and its visibility filter) into one call.

The requests' client runs ``inline``: on the event loop's own thread, between requests. Its
calls are short (a fraction of a millisecond to a few), and handing each to a second thread
cost more than the call: both threads take turns on one interpreter lock, and the client
thread spent half its time waiting for it (HTTP submits went from about 700 to 1,100 a
second on 2 cores). The upkeep (reclaimer, retrier, data reaper: passes that can take
seconds) has a client of its own on a dedicated thread, so it never holds up a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pop.api import Client

T = TypeVar("T")


class ClientThread:
    """Runs functions of a ``Client`` on one thread (the caller's with ``inline``, else a
    dedicated one); the client is made there when first used."""

    def __init__(self, make_client: Callable[[], Client], *, inline: bool = False) -> None:
        self._make_client = make_client
        self._client: Client | None = None
        self._inline = inline
        self._executor = (
            None if inline else ThreadPoolExecutor(max_workers=1, thread_name_prefix="pop-client")
        )
        self._closed = False

    def _client_here(self) -> Client:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _run(self, function: Callable[[Client], T]) -> T:
        return function(self._client_here())

    async def call(self, function: Callable[[Client], T]) -> T:
        """``function(client)`` on the client's thread; its result, or what it raised."""
        if self._executor is None:
            return self._run(function)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, function)

    def close(self) -> None:
        """Close the client's store on its thread and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._executor is None:
            self._close_client()
            return
        self._executor.submit(self._close_client).result()
        self._executor.shutdown(wait=True)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
