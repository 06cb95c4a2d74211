"""The end of a launch that is not a local process (a container, a pod): ``wait``, ``cancel``
and ``cleanup`` over a future that the runtime resolves when the launch has ended.

Layer: runtimes. The docker and kubernetes handles subclass :class:`EndingHandle`; each keeps
its own ways to stop (``_begin_stop``), to describe the end (``_exit_status``) and to release
what it holds (``_clean_up``). Every method is idempotent, and the waits are shielded: a caller
that gives up waiting never leaves a launch half-stopped or half-removed.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

from pop.runtimes.base import CANCELLED, ExitStatus

E = TypeVar("E")


class EndingHandle(Generic[E]):
    """``wait``/``cancel``/``cleanup`` of a handle whose end arrives as ``_ending``."""

    _ending: asyncio.Future[E]
    _status: ExitStatus | None
    _stop_task: asyncio.Task[None] | None
    _cleanup_task: asyncio.Task[None] | None

    async def wait(self) -> ExitStatus:
        if self._status is None:
            ending = await asyncio.shield(self._ending)
            if self._stop_task is not None:
                await asyncio.shield(self._stop_task)
            self._status = self._status or self._exit_status(ending)
        return self._status

    async def cancel(self, grace_seconds: float = 5.0) -> None:
        self._begin_stop(CANCELLED, grace_seconds)
        if self._stop_task is not None:
            await asyncio.shield(self._stop_task)

    async def cleanup(self) -> None:
        if self._cleanup_task is None:
            self._cleanup_task = asyncio.create_task(self._clean_up())
        await asyncio.shield(self._cleanup_task)

    def _exit_status(self, ending: E) -> ExitStatus:
        raise NotImplementedError

    def _begin_stop(self, reason: str, grace_seconds: float) -> None:
        raise NotImplementedError

    async def _clean_up(self) -> None:
        raise NotImplementedError
