"""One container launched by the docker runtime: its output, its exit, cancel and cleanup.

Layer: runtimes. Made by :class:`pop.runtimes.docker.launcher.DockerLauncher`; used through the
Handle protocol (``pop/runtimes/base.py``).

The handle has two threads of its own, blocked in the engine rather than polling it: one
follows the container's log stream (:class:`pop.runtimes.docker.output.ContainerOutput`), the
other waits for its exit and then inspects it once, to tell an exit (``docker kill`` included:
137) from a container removed behind our back (``docker rm -f``) or an engine gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable

from pop.errors import LaunchError
from pop.runtimes.base import (
    TIMED_OUT,
    ExitStatus,
    LaunchRecord,
    LaunchSpec,
)
from pop.runtimes.docker.engine import (
    Engine,
    is_connection_error,
    remove_container,
    stop_children,
    stop_container,
)
from pop.runtimes.docker.output import ContainerOutput
from pop.runtimes.ending import Ending, EndingHandle

ENGINE_GONE = "the Docker engine stopped answering"
CONTAINER_REMOVED = "container removed"


class DockerHandle(EndingHandle):
    """One container: its log stream, its exit and the stop/remove calls."""

    def __init__(
        self,
        engine: Engine,
        spec: LaunchSpec,
        record: LaunchRecord,
        *,
        keep: bool,
        timeout_grace_seconds: float,
        cleanup_grace_seconds: float,
        on_cleaned: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._on_cleaned = on_cleaned
        self._spec = spec
        self._record = record
        self._id = record.ref
        self._name = str(record.details["name"])
        self._keep = keep
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._loop = asyncio.get_running_loop()
        self._output = ContainerOutput(engine, self._id, name=self._name)
        self._ending: asyncio.Future[Ending] = self._loop.create_future()
        self._stop_reason: str | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._cleanup_task: asyncio.Task[None] | None = None
        self._status: ExitStatus | None = None
        self._timer: asyncio.TimerHandle | None = None
        if spec.timeout_seconds is not None:
            self._timer = self._loop.call_later(
                spec.timeout_seconds, self._begin_stop, TIMED_OUT, timeout_grace_seconds
            )
        self._ending.add_done_callback(self._on_end)
        threading.Thread(
            target=self._await_exit, name=f"pop-docker-{self._name}", daemon=True
        ).start()

    @property
    def record(self) -> LaunchRecord:
        return self._record

    @property
    def ended(self) -> bool:
        return self._ending.done()

    def lines(self) -> AsyncIterator[str]:
        return self._output.lines()

    # -- internals -----------------------------------------------------------------------------

    def _on_end(self, _: asyncio.Future[Ending]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _begin_stop(self, reason: str, grace_seconds: float) -> None:
        if self._timer is not None and reason != TIMED_OUT:
            self._timer.cancel()
        self._timer = None
        if self._stop_task is None and not self._ending.done():
            self._stop_reason = reason
            self._stop_task = asyncio.create_task(self._terminate(grace_seconds))

    async def _terminate(self, grace_seconds: float) -> None:
        stopped, _ = await asyncio.gather(
            stop_container(self._engine, self._id, grace_seconds),
            stop_children(self._engine, self._name, grace_seconds),
            return_exceptions=True,
        )
        if isinstance(stopped, LaunchError):
            # The engine refused the polite stop: removing by force kills it all the same.
            with contextlib.suppress(LaunchError):
                await remove_container(self._engine, self._id)
        await asyncio.shield(self._ending)

    async def _clean_up(self) -> None:
        if not self._ending.done():
            await self.cancel(self._cleanup_grace_seconds)
        await self.wait()
        if not self._keep:
            await remove_container(self._engine, self._id)
        if self._on_cleaned is not None:
            self._on_cleaned(self._id)

    def _await_exit(self) -> None:
        """The exit thread: the engine's wait (no polling), then the end of the output."""
        ending = Ending(None, "the docker runtime lost this container (unexpected error)")
        try:
            ending = self._ending_from_engine()
        finally:
            self._output.finish(complete=not ending.lost)
            # A closed loop means nobody waits any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(_resolve, self._ending, ending)

    def _ending_from_engine(self) -> Ending:
        import docker

        try:
            api = self._engine.api()
            code = int(api.wait(self._id)["StatusCode"])
            state = api.inspect_container(self._id)["State"]
        except docker.errors.NotFound:
            return Ending(None, CONTAINER_REMOVED)
        except (docker.errors.DockerException, OSError) as exc:
            if is_connection_error(exc):
                return Ending(None, ENGINE_GONE)
            return Ending(None, f"the Docker engine failed: {exc}")
        if state.get("Status") in ("removing", "dead"):
            return Ending(code, CONTAINER_REMOVED)
        note = "killed: out of memory" if state.get("OOMKilled") else ""
        return Ending(code, note=note)


def _resolve(future: asyncio.Future[Ending], ending: Ending) -> None:
    if not future.done():
        future.set_result(ending)
