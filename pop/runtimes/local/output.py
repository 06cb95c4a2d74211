"""Output of a local launch: stdout and stderr pipes read concurrently by the event loop, decoded
and split into lines, merged into one queue that ``Handle.lines()`` drains.

Layer: runtimes (local implementation detail). Called by ``pop.runtimes.local.launcher``.

Lines are split by :class:`pop.runtimes.lines.LineSplitter`. The queue is unbounded on
purpose: the pipes are always drained, so a program never blocks on a full pipe because nobody
iterates its output.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO

from pop.runtimes.lines import LineSplitter

_END = object()


class MergedOutput:
    """The lines of several pipes merged in arrival order (each pipe's own order is kept)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._open_pipes = 0
        self._transports: list[asyncio.ReadTransport] = []
        self._all_closed = asyncio.get_running_loop().create_future()

    async def attach(self, *pipes: IO[bytes]) -> None:
        """Start reading ``pipes`` (their transports take ownership and close them). Call once,
        with every pipe: the end is signalled when all of them are closed."""
        loop = asyncio.get_running_loop()
        self._open_pipes += len(pipes)
        for pipe in pipes:
            transport, _ = await loop.connect_read_pipe(lambda: _PipeProtocol(self), pipe)
            self._transports.append(transport)

    def _put_lines(self, lines: list[str]) -> None:
        for line in lines:
            self._queue.put_nowait(line)

    def _pipe_closed(self) -> None:
        self._open_pipes -= 1
        if self._open_pipes == 0 and not self._all_closed.done():
            self._queue.put_nowait(_END)
            self._all_closed.set_result(None)

    async def closed(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for every pipe to reach end of file; True when they did."""
        done, _ = await asyncio.wait([self._all_closed], timeout=timeout)
        return bool(done)

    def close(self) -> None:
        """Stop reading (a process outside the group may still hold a pipe open); the lines
        iterator then ends after what was already read. Idempotent."""
        for transport in self._transports:
            transport.close()

    async def lines(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # later iterations end at once too
                return
            assert isinstance(item, str)
            yield item


class _PipeProtocol(asyncio.Protocol):
    def __init__(self, output: MergedOutput) -> None:
        self._output = output
        self._splitter = LineSplitter()

    def data_received(self, data: bytes) -> None:
        self._output._put_lines(self._splitter.feed(data))

    def eof_received(self) -> bool | None:
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._output._put_lines(self._splitter.close())
        self._output._pipe_closed()
