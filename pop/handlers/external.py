"""Running a handler's external binary (ffmpeg and the like) through a runtime.

Layer: handlers. Uses the runtime protocol (:mod:`pop.runtimes.base`) and the name → launcher
map (:func:`pop.runtimes.create_launcher`), both imported on first launch so that a handler
that never launches anything does not load the runtimes. Called by
:meth:`pop.handlers.context.HandlerContext.launch_external`.

A non-zero exit is a result, not an exception: the handler decides what it means. A launch that
cannot start raises the runtime's LaunchError / RuntimeUnavailableError.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pop.runtimes.base import Handle, Launcher, LaunchSpec

# The same value as pop.runtimes.base.EXITED (not imported, to keep handler start-up light).
EXITED = "exited"
CANCELLED = "cancelled"
TAIL_LINES = 10
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")


# ``gate(cpus, name, on_wait)``: a context manager that holds ``cpus`` of the executor's CPU
# budget while the external binary ``name`` runs, calling ``on_wait()`` once if it has to wait
# for them; it yields False when the op was stopped while waiting. Resident handlers get one from
# the executor; a launched handler's externals run within its own op's share.
CpuGate = Callable[[float, str, Callable[[], None]], AbstractContextManager[bool]]


@dataclass(frozen=True)
class ExternalResult:
    """How an external launch ended: ``reason`` as :class:`pop.runtimes.base.ExitStatus`
    (``exited``, ``timeout``, ``cancelled``, ``lost``), ``exit_code`` when known, and the last
    lines of its output; ``waited``: seconds it waited for its CPUs before it started (a
    resident handler's launches wait in the executor's budget)."""

    exit_code: int | None
    reason: str
    tail: list[str] = field(default_factory=list)
    argv: tuple[str, ...] = ()
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reason == EXITED and self.exit_code == 0

    def describe(self) -> str:
        """One sentence naming the command and how it ended, with its last output lines."""
        command = shlex.join(self.argv) if self.argv else "external command"
        if self.reason == EXITED:
            how = f"exited with exit code {self.exit_code}"
        else:
            code = "" if self.exit_code is None else f" (exit code {self.exit_code})"
            how = f"ended: {self.reason}{code}"
        text = f"External command `{command}` {how}."
        if self.tail:
            text += " Last output lines: " + " | ".join(self.tail)
        return text


def spec_name(label: str) -> str:
    """A unique launch name safe for containers and pods: ``pop-ext-<label>-<8 hex>``."""
    slug = _NAME_UNSAFE.sub("-", label.lower()).strip("-")[:40].strip("-") or "cmd"
    return f"pop-ext-{slug}-{uuid.uuid4().hex[:8]}"


def run_external(
    launch_type: str,
    argv: Sequence[str],
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    work_dir: Path | None = None,
    labels: Mapping[str, str] | None = None,
    cpus: float = 1.0,
    timeout_seconds: float | None = None,
    on_line: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> ExternalResult:
    """Launch ``argv`` on the ``launch_type`` runtime, wait for it and return how it ended.

    Synchronous (runs its own event loop; do not call it from a running loop). Every output line
    goes to ``on_line``; the work directory, when given, is mounted at its own path. Setting
    ``stop`` (the executor does, for a resident op that is cancelled or timed out) cancels the
    launch; the result then says ``cancelled``.
    """
    from pop.runtimes import create_launcher
    from pop.runtimes.base import LaunchSpec, Mount

    command = [str(arg) for arg in argv]
    if stop is not None and stop.is_set():
        return ExternalResult(exit_code=None, reason=CANCELLED, argv=tuple(command))
    if cwd is not None:
        cwd.mkdir(parents=True, exist_ok=True)  # resident handlers get their folder on first use
    mounts = [Mount(source=str(work_dir), target=str(work_dir))] if work_dir else []
    spec = LaunchSpec(
        name=spec_name(name or Path(command[0]).name),
        command=command,
        env=dict(env or {}),
        cwd=str(cwd) if cwd else None,
        cpus=cpus,
        mounts=mounts,
        labels=dict(labels or {}),
        timeout_seconds=timeout_seconds,
    )
    launcher = create_launcher(launch_type)
    return asyncio.run(_launch_and_follow(launcher, spec, on_line, stop))


READ_GRACE_SECONDS = 2.0
STOP_POLL_SECONDS = 0.1


async def _watch_stop(stop: threading.Event, handle: Handle) -> None:
    while not stop.is_set():
        await asyncio.sleep(STOP_POLL_SECONDS)
    await handle.cancel()


async def _launch_and_follow(
    launcher: Launcher,
    spec: LaunchSpec,
    on_line: Callable[[str], None] | None,
    stop: threading.Event | None = None,
) -> ExternalResult:
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        handle = await launcher.launch(spec)

        async def follow() -> None:
            async for line in handle.lines():
                tail.append(line)
                if on_line is not None:
                    on_line(line)

        try:
            # Follow output beside wait(): a background child that keeps the pipes open must
            # not keep a finished program "running"; cleanup() ends the stream after exit.
            reader = asyncio.ensure_future(follow())
            watcher = asyncio.ensure_future(_watch_stop(stop, handle)) if stop else None
            try:
                status = await handle.wait()
            finally:
                if watcher is not None:
                    watcher.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(reader), READ_GRACE_SECONDS)
            except TimeoutError:
                reader.cancel()
        except BaseException:
            await handle.cancel()
            raise
        finally:
            await handle.cleanup()
    finally:
        await launcher.close()
    return ExternalResult(
        exit_code=status.code, reason=status.reason, tail=list(tail), argv=tuple(spec.argv)
    )
