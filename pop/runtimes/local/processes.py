"""Process and process-group plumbing for the local runtime: exit watching, group signalling,
liveness and start times read from ``/proc``.

Layer: runtimes (local implementation detail). Called only by ``pop.runtimes.local.launcher``.

Why not ``asyncio.create_subprocess_exec``: in Python 3.11 its ``wait()`` also waits for the
output pipes to close, so a grandchild left running with the pipes open would keep a finished
launch "running"; and its default child watcher starts one thread per child. Here the exit of
the main process is watched through a pidfd registered with the event loop (no thread; a thread
per child only where pidfds are missing), and the pipes are read separately.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from pathlib import Path

_PROC = Path("/proc")
_POLL_FIRST_SECONDS = 0.005
_POLL_MAX_SECONDS = 0.1


def read_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3, the state, first),
    or None when the process (or ``/proc``) does not exist."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ")".
    return text[text.rfind(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process start time in clock ticks since boot (field 22 of ``/proc/<pid>/stat``), or
    None when unknown. Together with the pid it identifies a process across pid reuse."""
    fields = read_stat(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def _group_of(fields: list[str]) -> int:
    return int(fields[2])


def live_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are not zombies (reads every /proc entry)."""
    members = []
    with contextlib.suppress(OSError), os.scandir(_PROC) as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            fields = read_stat(int(entry.name))
            if fields and fields[0] not in ("Z", "X") and _group_of(fields) == pgid:
                members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """True while some process of group ``pgid`` runs (zombies waiting to be reaped do not
    count). The cheap ``killpg(pgid, 0)`` answers the usual "nothing left" case."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, but belongs to someone else
    if not _PROC.is_dir():
        return True
    return bool(live_members(pgid))


def signal_group(pgid: int, signum: int) -> bool:
    """Send ``signum`` to group ``pgid``; False when the group no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


async def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Poll until group ``pgid`` has no live member or ``timeout`` elapsed; True when gone.

    A process group has no exit notification, so this polls with a short, growing interval.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    interval = _POLL_FIRST_SECONDS
    while group_alive(pgid):
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 2, _POLL_MAX_SECONDS)
    return True


async def terminate_group(pgid: int, grace_seconds: float) -> bool:
    """SIGTERM every process of group ``pgid``, then SIGKILL whatever still runs after
    ``grace_seconds``. Returns False when there was nothing to signal."""
    if not group_alive(pgid) or not signal_group(pgid, signal.SIGTERM):
        return False
    if not await wait_group_gone(pgid, grace_seconds):
        signal_group(pgid, signal.SIGKILL)
    return True


class ExitWatcher:
    """Reaps one child process and resolves ``exit_code`` (``-N`` for signal N; None when
    something else reaped it first) without blocking the event loop.

    Uses a pidfd on the loop (Linux 5.3+); elsewhere a daemon thread blocked in ``waitpid``.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._loop = asyncio.get_running_loop()
        self.exit_code: asyncio.Future[int | None] = self._loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._reap()  # already reaped by someone else
        except (AttributeError, OSError):
            threading.Thread(
                target=self._wait_blocking, name=f"pop-wait-{pid}", daemon=True
            ).start()
        else:
            self._loop.add_reader(self._pidfd, self._on_pidfd_readable)

    def _on_pidfd_readable(self) -> None:
        self._close_pidfd()
        self._reap()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def _reap(self) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self._resolve(None)
            return
        if pid == 0:  # not finished after all; the pidfd fired spuriously
            self._pidfd = os.pidfd_open(self.pid)
            self._loop.add_reader(self._pidfd, self._on_pidfd_readable)
            return
        self._resolve(os.waitstatus_to_exitcode(status))

    def _wait_blocking(self) -> None:
        code: int | None
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = None
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._resolve, code)

    def _resolve(self, code: int | None) -> None:
        if not self.exit_code.done():
            self.exit_code.set_result(code)

    def close(self) -> None:
        """Stop watching (the child is then reaped by nobody here). Idempotent."""
        self._close_pidfd()
