"""The local runtime: each launch is a subprocess in its own session and process group, stopped
with its whole tree on cancel, timeout and cleanup.

Layer: runtimes. Built by ``pop.runtimes.create_launcher("local")``; used through the Launcher
protocol by the executor, the services (reclaimer: ``stop``) and the handler SDK.

The record is ``LaunchRecord("local", "pgid:<n>", {pid, pgid, host, startTime})``: ``startTime``
(clock ticks since boot, from ``/proc``) tells the group leader apart from a later process that
reused its pid, so ``stop`` from another process never signals a stranger.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from pop.errors import InputError, LaunchError
from pop.runtimes.base import (
    CANCELLED,
    DEFAULT_CLEANUP_GRACE_SECONDS,
    DEFAULT_TIMEOUT_GRACE_SECONDS,
    EXITED,
    TIMED_OUT,
    Capabilities,
    ExitStatus,
    LaunchRecord,
    LaunchSpec,
    grace_options,
)
from pop.runtimes.local.output import MergedOutput
from pop.runtimes.local.processes import (
    ExitWatcher,
    group_alive,
    signal_group,
    start_time,
    terminate_group,
    wait_group_gone,
)

RUNTIME_NAME = "local"
# After the group is gone, how long cleanup waits for the pipes to report end of file before
# it stops reading (a process that left the group may still hold them open).
_PIPE_DRAIN_SECONDS = 0.5


class LocalHandle:
    """One local launch: the main process, its process group and its merged output."""

    def __init__(
        self,
        spec: LaunchSpec,
        process: subprocess.Popen[bytes],
        output: MergedOutput,
        *,
        host: str,
        timeout_grace_seconds: float,
        cleanup_grace_seconds: float,
        on_exit: Callable[[LocalHandle], None] | None = None,
    ) -> None:
        self._spec = spec
        self._process = process
        self._output = output
        self._pgid = process.pid  # start_new_session: the child leads a new group of its own id
        self._watcher = ExitWatcher(process.pid)
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._stop_reason: str | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._status: ExitStatus | None = None
        self._cleaned = False
        self._record = LaunchRecord(
            runtime=RUNTIME_NAME,
            ref=f"pgid:{self._pgid}",
            details={
                "pid": process.pid,
                "pgid": self._pgid,
                "host": host,
                "startTime": start_time(process.pid),
            },
        )
        self._timer: asyncio.TimerHandle | None = None
        if spec.timeout_seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(
                spec.timeout_seconds, self._time_out, timeout_grace_seconds
            )
        self._on_exit_callback = on_exit
        self._watcher.exit_code.add_done_callback(self._on_exit)

    @property
    def record(self) -> LaunchRecord:
        return self._record

    @property
    def pid(self) -> int:
        return self._process.pid

    def lines(self) -> AsyncIterator[str]:
        return self._output.lines()

    async def wait(self) -> ExitStatus:
        if self._status is None:
            code = await asyncio.shield(self._watcher.exit_code)
            if self._stop_task is not None:
                await asyncio.shield(self._stop_task)
            self._status = self._status or self._exit_status(code)
        return self._status

    async def cancel(self, grace_seconds: float = 5.0) -> None:
        await self._stop(CANCELLED, grace_seconds)

    async def cleanup(self) -> None:
        if self._cleaned:
            return
        if not self._watcher.exit_code.done():
            await self.cancel(self._cleanup_grace_seconds)
        await self.wait()
        # Children the main process left behind run in its group: stop them too.
        await terminate_group(self._pgid, self._cleanup_grace_seconds)
        if not await self._output.closed(_PIPE_DRAIN_SECONDS):
            self._output.close()
        self._watcher.close()
        self._cleaned = True

    # -- internals -----------------------------------------------------------------------------

    def _exit_status(self, code: int | None) -> ExitStatus:
        if self._stop_reason == TIMED_OUT:
            message = f"timed out after {self._spec.timeout_seconds:g} s"
            return ExitStatus(TIMED_OUT, code, message)
        if self._stop_reason == CANCELLED:
            return ExitStatus(CANCELLED, code, "cancelled")
        if code is None:
            return ExitStatus(EXITED, None, "exit status unknown: reaped by another waiter")
        return ExitStatus(EXITED, code)

    def _on_exit(self, _: asyncio.Future[int | None]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._process.returncode = self._watcher.exit_code.result()  # Popen must not reap it
        if self._on_exit_callback is not None:
            self._on_exit_callback(self)

    def _time_out(self, grace_seconds: float) -> None:
        self._timer = None
        self._begin_stop(TIMED_OUT, grace_seconds)

    def _begin_stop(self, reason: str, grace_seconds: float) -> None:
        if self._stop_task is None and not self._watcher.exit_code.done():
            self._stop_reason = reason
            self._stop_task = asyncio.create_task(self._terminate(grace_seconds))

    async def _stop(self, reason: str, grace_seconds: float) -> None:
        self._begin_stop(reason, grace_seconds)
        if self._stop_task is not None:
            # Shielded: a caller that gives up waiting must not leave the group half-stopped.
            await asyncio.shield(self._stop_task)

    async def _terminate(self, grace_seconds: float) -> None:
        """SIGTERM the group; wait for the main process (an event, not a poll), then for the rest
        of the group until the grace ends; SIGKILL whatever is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        if signal_group(self._pgid, signal.SIGTERM):
            done, _ = await asyncio.wait([self._watcher.exit_code], timeout=grace_seconds)
            if not done or not await wait_group_gone(self._pgid, max(deadline - loop.time(), 0)):
                signal_group(self._pgid, signal.SIGKILL)
        await asyncio.shield(self._watcher.exit_code)


class LocalLauncher:
    """Launches specs as local process groups; ``keep`` has no meaning here (nothing is stored).

    ``timeout_grace_seconds`` is how long a timed-out launch gets between SIGTERM and SIGKILL;
    ``cleanup_grace_seconds`` the same for leftovers stopped by ``cleanup``.
    """

    def __init__(
        self,
        *,
        timeout_grace_seconds: float = DEFAULT_TIMEOUT_GRACE_SECONDS,
        cleanup_grace_seconds: float = DEFAULT_CLEANUP_GRACE_SECONDS,
    ) -> None:
        self._timeout_grace_seconds = timeout_grace_seconds
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._host = socket.gethostname()
        self._handles: dict[str, LocalHandle] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LocalLauncher:
        """Build from runtime options; reads ``timeout_grace_seconds`` and
        ``cleanup_grace_seconds`` and ignores keys meant for other runtimes."""
        return cls(**grace_options(options))

    @property
    def name(self) -> str:
        return RUNTIME_NAME

    @property
    def capabilities(self) -> Capabilities:
        """Launches share this machine's CPUs and start handlers with this interpreter."""
        return _CAPABILITIES

    async def check(self) -> None:
        return None

    async def launch(self, spec: LaunchSpec) -> LocalHandle:
        argv = spec.argv
        if not argv:
            raise LaunchError(
                f"cannot launch {spec.name!r}: the local runtime needs a command", permanent=True
            )
        process = _spawn(argv, spec)
        output = MergedOutput()
        assert process.stdout is not None and process.stderr is not None
        try:
            await output.attach(process.stdout, process.stderr)
        except BaseException:
            signal_group(process.pid, signal.SIGKILL)
            raise
        handle = LocalHandle(
            spec,
            process,
            output,
            host=self._host,
            timeout_grace_seconds=self._timeout_grace_seconds,
            cleanup_grace_seconds=self._cleanup_grace_seconds,
            on_exit=self._forget,
        )
        self._handles[handle.record.ref] = handle
        return handle

    def _forget(self, handle: LocalHandle) -> None:
        self._handles.pop(handle.record.ref, None)

    async def stop(self, record: LaunchRecord, grace_seconds: float = 5.0) -> bool:
        pgid = _pgid_of(record)
        own = self._handles.get(record.ref)
        if own is not None:
            await own.cancel(grace_seconds)
            await own.cleanup()
            return True
        details = record.details
        if details.get("host") not in (None, self._host):
            return False  # a pgid means nothing on another machine
        if not group_alive(pgid):
            return False
        recorded_start = details.get("startTime")
        if recorded_start is not None:
            leader_start = start_time(pgid)
            if leader_start is not None and leader_start != int(recorded_start):
                return False  # the pid was reused: that is somebody else's process
        return await terminate_group(pgid, grace_seconds)

    async def close(self) -> None:
        return None


_CAPABILITIES = Capabilities(host_cpus=True, python=sys.executable, images=False)


def _pgid_of(record: LaunchRecord) -> int:
    prefix, _, number = record.ref.partition(":")
    if record.runtime != RUNTIME_NAME or prefix != "pgid" or not number.isdigit():
        raise InputError(
            f"the local runtime cannot stop {record.runtime!r} launch {record.ref!r}",
        )
    return int(number)


def _spawn(argv: list[str], spec: LaunchSpec) -> subprocess.Popen[bytes]:
    env = {**os.environ, **spec.env}
    program = argv[0]
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
            bufsize=0,
        )
    except FileNotFoundError as exc:
        if spec.cwd is not None and exc.filename == spec.cwd:
            reason = f"working directory {spec.cwd!r} does not exist"
        else:
            reason = "no such file or directory"
        raise LaunchError(f"cannot launch {program!r}: {reason}", permanent=True) from exc
    except PermissionError as exc:
        raise LaunchError(f"cannot launch {program!r}: permission denied", permanent=True) from exc
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise LaunchError(f"cannot launch {program!r}: {reason}") from exc
    except ValueError as exc:  # e.g. an argument with a NUL byte
        raise LaunchError(f"cannot launch {program!r}: {exc}", permanent=True) from exc
