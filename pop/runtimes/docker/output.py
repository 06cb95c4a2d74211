"""A container's output as text lines: its log stream (stdout and stderr merged) followed on a
thread of its own and handed to the event loop.

Layer: runtimes. Used by :class:`pop.runtimes.docker.launcher.DockerHandle`.

The engine may end a followed log stream a moment before it has written the container's last
message (an unterminated last line most often), or, rarely, keep it open after the container
ended. So once the exit is known, :meth:`ContainerOutput.finish` gives the stream a short grace,
closes it if it is still open, and reads the complete log once more: what the stream had not
delivered (the stream is always a prefix of the log) is passed on, then the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from pop.runtimes.lines import LineSplitter

if TYPE_CHECKING:
    from pop.runtimes.docker.engine import Engine

# How long the log stream may take to end by itself once the container has ended.
STREAM_DRAIN_SECONDS = 2.0


class ContainerOutput:
    """Follows one container's log stream from a daemon thread; :meth:`lines` reads it on the
    loop that created this object."""

    def __init__(self, engine: Engine, container_id: str, *, name: str) -> None:
        self._engine = engine
        self._id = container_id
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = False  # the reader saw the end
        self._lock = threading.Lock()  # splitter, byte count and stream, shared by two threads
        self._splitter = LineSplitter()
        self._received = 0
        self._finished = False
        self._stream: Any = None
        self._stream_done = threading.Event()
        threading.Thread(target=self._follow, name=f"pop-docker-logs-{name}", daemon=True).start()

    async def lines(self) -> AsyncIterator[str]:
        while not self._ended:
            line = await self._queue.get()
            if line is None:
                self._ended = True
                return
            yield line

    def finish(self, *, complete: bool) -> None:
        """Blocking (from the thread that learnt the exit): end the output. ``complete``: the
        container still exists, so its whole log can be read to fill in what the stream missed."""
        import docker

        if not self._stream_done.wait(STREAM_DRAIN_SECONDS):
            with self._lock:
                if self._stream is not None:
                    with contextlib.suppress(OSError, AttributeError):
                        self._stream.close()
        missing = b""
        if complete:
            try:
                log = self._engine.api().logs(self._id, stdout=True, stderr=True, stream=False)
            except (docker.errors.DockerException, OSError):
                log = b""
            with self._lock:
                missing = log[self._received :]
        with self._lock:
            if self._finished:
                return
            self._finished = True
            self._push([*self._splitter.feed(missing), *self._splitter.close(), None])

    def _follow(self) -> None:
        import docker

        try:
            stream = self._engine.api().logs(self._id, stream=True, follow=True)
            with self._lock:
                self._stream = stream
            for chunk in stream:
                with self._lock:
                    if self._finished:
                        return
                    self._received += len(chunk)
                    if not self._push(self._splitter.feed(chunk)):
                        return
        except (docker.errors.DockerException, OSError, ValueError, AttributeError):
            return  # the container or the engine went away (or finish() closed the stream)
        finally:
            self._stream_done.set()

    def _push(self, lines: Sequence[str | None]) -> bool:
        """Hand lines to the loop; False once the loop is closed (nobody reads any more)."""
        if not lines:
            return True
        try:
            self._loop.call_soon_threadsafe(_put_all, self._queue, lines)
        except RuntimeError:
            return False
        return True


def _put_all(queue: asyncio.Queue[str | None], lines: Sequence[str | None]) -> None:
    for line in lines:
        queue.put_nowait(line)
