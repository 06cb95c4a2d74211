"""The one thread that owns the server's :class:`pop.api.Client`.

Layer: server. A ``Client`` holds one SQLite connection, and a connection serves one caller at a
time; the store allows one writer at a time anyway. So every route hands its ``Client`` work to
:meth:`ClientThread.call`, which runs it on a single dedicated thread and awaits the result: the
event loop never blocks on SQLite, and no two calls share the connection at once. Routes bundle
what one request needs (a read and its visibility filter) into one call.
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
    """Runs functions of a ``Client`` on one thread; the client is made there when first used."""

    def __init__(self, make_client: Callable[[], Client]) -> None:
        self._make_client = make_client
        self._client: Client | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pop-client")
        self._closed = False

    def _client_here(self) -> Client:
        if self._client is None:
            self._client = self._make_client()
        return self._client

    def _run(self, function: Callable[[Client], T]) -> T:
        return function(self._client_here())

    async def call(self, function: Callable[[Client], T]) -> T:
        """``function(client)`` on the client's thread; its result, or what it raised."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, function)

    def close(self) -> None:
        """Close the client's store on its thread and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._executor.submit(self._close_client).result()
        self._executor.shutdown(wait=True)

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
