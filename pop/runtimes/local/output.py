"""Output of a local launch: stdout and stderr pipes read concurrently by the event loop, decoded
and split into lines, merged into one queue that ``Handle.lines()`` drains.

Layer: runtimes (local implementation detail). Called by ``pop.runtimes.local.launcher``.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (progress bars such as ffmpeg's rewrite one
line with ``\\r``; each rewrite becomes a line). Bytes that are not UTF-8 become U+FFFD. A line
longer than ``max_line_chars`` is passed on in pieces of that size, so nothing is lost and memory
stays bounded. The queue is unbounded on purpose: the pipes are always drained, so a program
never blocks on a full pipe because nobody iterates its output.
"""

from __future__ import annotations

import asyncio
import codecs
import re
from collections.abc import AsyncIterator
from typing import IO

MAX_LINE_CHARS = 16 * 1024 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Turns a byte stream fed in arbitrary chunks into text lines without their line ends."""

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line_chars = max_line_chars
        self._pieces: list[str] = []  # the unfinished line, in pieces (no quadratic joins)
        self._pending_chars = 0
        self._skip_newline = False  # the last chunk ended in "\r": a "\n" next completes "\r\n"

    def feed(self, data: bytes) -> list[str]:
        """The lines completed by ``data``."""
        return self._split(self._decoder.decode(data))

    def close(self) -> list[str]:
        """The lines left at end of stream (an unterminated last line included)."""
        lines = self._split(self._decoder.decode(b"", final=True))
        if self._pieces:
            lines.append("".join(self._pieces))
            self._pieces, self._pending_chars = [], 0
        return lines

    def _split(self, text: str) -> list[str]:
        if self._skip_newline and text:
            self._skip_newline = False
            if text.startswith("\n"):
                text = text[1:]
        if not text:
            return []
        self._skip_newline = text.endswith("\r")
        *complete, rest = _LINE_END.split(text)
        if complete:
            complete[0] = "".join([*self._pieces, complete[0]])
            self._pieces, self._pending_chars = [], 0
        if rest:
            self._pieces.append(rest)
            self._pending_chars += len(rest)
        if self._pending_chars > self._max_line_chars:
            pending = "".join(self._pieces)
            keep = len(pending) % self._max_line_chars
            complete.append(pending[: len(pending) - keep])
            self._pieces = [pending[len(pending) - keep :]] if keep else []
            self._pending_chars = keep
        return [piece for line in complete for piece in self._chop(line)]

    def _chop(self, line: str) -> list[str]:
        size = self._max_line_chars
        if len(line) <= size:
            return [line]
        return [line[i : i + size] for i in range(0, len(line), size)]


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
