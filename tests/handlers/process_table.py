"""The process table as the stopping tests read it: which processes carry a marker in their
environment (a launched handler, its external launches and its launch guard all inherit it)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

MARKER_ENV = "POP_TEST_MARKER"


def new_marker() -> str:
    return uuid.uuid4().hex


def _state(pid: int) -> str | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()[0]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    return _state(pid) not in (None, "Z", "X")


def marked_processes(marker: str) -> list[int]:
    """Live processes whose environment holds ``POP_TEST_MARKER=<marker>``."""
    needle = f"{MARKER_ENV}={marker}".encode()
    found = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                environ = Path(entry.path, "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0") and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def wait_until_none_marked(marker: str, within: float = 20.0) -> list[str]:
    """Wait until no live process carries ``marker``; what is still left after ``within`` s
    (generous: a busy machine is slow to start the guard's Python), described."""
    deadline = time.monotonic() + within
    while (left := marked_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [describe(pid) for pid in left]


def describe(pid: int) -> str:
    """``pid``, its state, parent and command line, for a failed assertion's message."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"{pid} (gone)"
    fields = stat[stat.rfind(")") + 2 :].split()
    command = " ".join(arg.decode(errors="replace") for arg in argv if arg)[:200]
    return f"{pid} state={fields[0]} ppid={fields[1]} pgid={fields[2]}: {command}"


def wait_for_pid_file(path: Path, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return int(path.read_text())


def kill_marked(marker: str) -> None:
    """SIGKILL whatever still carries ``marker`` (a failed test leaves nothing running)."""
    for pid in marked_processes(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
