"""The end of a launch that is not a local process (a container, a pod): ``wait``, ``cancel``
and ``cleanup`` over a future that the runtime resolves when the launch has ended.

Layer: runtimes. The docker and kubernetes handles subclass :class:`EndingHandle` and resolve
its future with an :class:`Ending`; each keeps its own ways to stop (``_begin_stop``) and to
release what it holds (``_clean_up``). Every method is idempotent, and the waits are shielded:
a caller that gives up waiting never leaves a launch half-stopped or half-removed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pop.runtimes.base import CANCELLED, EXITED, LOST, TIMED_OUT, ExitStatus, LaunchSpec


@dataclass(frozen=True)
class Ending:
    """What the runtime learnt when the launch ended: its exit code, why it is out of reach
    (``lost``, empty when it is not), and a note on an exit (e.g. killed for memory)."""

    code: int | None
    lost: str = ""
    note: str = ""


class EndingHandle:
    """``wait``/``cancel``/``cleanup`` of a handle whose end arrives as ``_ending``."""

    _spec: LaunchSpec
    _ending: asyncio.Future[Ending]
    _stop_reason: str | None
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

    def _exit_status(self, ending: Ending) -> ExitStatus:
        """A stop pop asked for says so first; then a launch out of reach; else its exit."""
        if self._stop_reason == TIMED_OUT:
            message = f"timed out after {self._spec.timeout_seconds:g} s"
            return ExitStatus(TIMED_OUT, ending.code, message)
        if self._stop_reason == CANCELLED:
            return ExitStatus(CANCELLED, ending.code, "cancelled")
        if ending.lost:
            return ExitStatus(LOST, None, ending.lost)
        return ExitStatus(EXITED, ending.code, ending.note)

    def _begin_stop(self, reason: str, grace_seconds: float) -> None:
        raise NotImplementedError

    async def _clean_up(self) -> None:
        raise NotImplementedError
