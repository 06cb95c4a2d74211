"""Running a handler's external binary (ffmpeg and the like) through a runtime.

Layer: handlers. Uses the runtime protocol (:mod:`pop.runtimes.base`) and the name → launcher
map (:func:`pop.runtimes.create_launcher`), both imported on first launch so that a handler
that never launches anything does not load the runtimes. Called by
:meth:`pop.handlers.context.HandlerContext.launch_external`.

A non-zero exit is a result, not an exception: the handler decides what it means. A launch that
cannot start raises the runtime's LaunchError / RuntimeUnavailableError.

Each launch is reported when it starts (its LaunchRecord) and when it ends: a resident handler's
to the executor, which writes them to the attempt row so the reclaimer can stop them after the
executor died; a launched handler's to its :class:`LaunchGuard`, a small process that stops them
when the handler dies, however it dies.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shlex
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.errors import PermanentError
from pop.models import now_ms

if TYPE_CHECKING:
    from pop.runtimes.base import Handle, Launcher, LaunchSpec, Mount

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


def external_labels(
    *,
    agenda_id: str | None,
    operation: str | None,
    attempt: int | None,
    parent: str | None,
) -> dict[str, str]:
    """The labels of an external launch: who manages it, its role, and (when known) its agenda,
    op, attempt number and the launch name of the handler that started it (``pop.parent``:
    a runtime that stops a handler's container or pod stops its labelled children too)."""
    labels = {"app.kubernetes.io/managed-by": "pop", "pop.role": "external"}
    known = (
        ("pop.agendaId", agenda_id),
        ("pop.operation", operation),
        ("pop.attempt", None if attempt is None else str(attempt)),
        ("pop.parent", parent),
    )
    labels.update({key: value for key, value in known if value})
    return labels


# Keys of the events a context reports to its ``on_external``.
LAUNCHING_KEY = "launching"
ENDED_KEY = "endedTime"
# ``on_launching(launch_name)``: about to launch (nothing to record yet).
# ``on_launch(launch_name, record)``: the launch started; ``record`` is its LaunchRecord as JSON
# (runtime, ref, details), enough for another process to stop it. ``on_end(launch_name, result)``:
# it ended (called before the runtime cleans it up).
OnLaunching = Callable[[str], None]
OnLaunch = Callable[[str, dict[str, Any]], None]
OnEnd = Callable[[str, ExternalResult], None]
# Where a context reports its external launches, three events per launch: ``{launchName,
# launching: True}`` just before it (a launched handler's guard gets ready; nothing to record),
# ``{launchName, runtime, ref, details, name, cpus, startedTime}`` once it runs, and
# ``{launchName, endedTime, reason, exitCode}`` when it ended.
ExternalReporter = Callable[[dict[str, Any]], None]


def reporting_callbacks(
    report: ExternalReporter | None, *, program: str, cpus: float
) -> tuple[OnLaunching | None, OnLaunch | None, OnEnd | None]:
    """``on_launching``, ``on_launch`` and ``on_end`` for :func:`run_external` that send
    ``report`` the events of one launch of ``program`` (all None without a reporter)."""
    if report is None:
        return None, None, None

    def on_launching(launch_name: str) -> None:
        report({"launchName": launch_name, LAUNCHING_KEY: True})

    def on_launch(launch_name: str, record: dict[str, Any]) -> None:
        event = {"launchName": launch_name, **record, "name": program, "cpus": cpus}
        report({**event, "startedTime": now_ms()})

    def on_end(launch_name: str, result: ExternalResult) -> None:
        ended = {ENDED_KEY: now_ms(), "reason": result.reason, "exitCode": result.exit_code}
        report({"launchName": launch_name, **ended})

    return on_launching, on_launch, on_end


_launching = threading.local()  # .depth: how many run_external calls this thread is in


def launching_in_this_thread() -> bool:
    """Whether this thread is inside :func:`run_external` (its event loop runs here): a signal
    handler must then not raise, only set the stop event, so the launch is cancelled cleanly."""
    return getattr(_launching, "depth", 0) > 0


_RUNS_IMAGES: dict[str, bool] = {}


def runtime_runs_images(launch_type: str, options: Mapping[str, str] | None = None) -> bool:
    """Whether launches on ``launch_type`` run in an image (the launcher's capabilities), so a
    binary is named as the image has it rather than by a path of this machine. Asked once per
    runtime name; building a launcher contacts no runtime."""
    known = _RUNS_IMAGES.get(launch_type)
    if known is None:
        from pop.runtimes import create_launcher

        known = create_launcher(launch_type, options=options).capabilities.images
        _RUNS_IMAGES[launch_type] = known
    return known


def run_external(
    launch_type: str,
    argv: Sequence[str],
    *,
    name: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    work_dir: Path | None = None,
    inputs: Sequence[str | Path] = (),
    image: str | None = None,
    pod: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    cpus: float = 1.0,
    timeout_seconds: float | None = None,
    keep: bool = False,
    options: Mapping[str, str] | None = None,
    on_line: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    on_launching: OnLaunching | None = None,
    on_launch: OnLaunch | None = None,
    on_end: OnEnd | None = None,
) -> ExternalResult:
    """Launch ``argv`` on the ``launch_type`` runtime, wait for it and return how it ended.

    Synchronous (runs its own event loop; do not call it from a running loop). The launcher is
    built with ``keep`` and the run's runtime ``options``; the spec carries ``image`` (image
    runtimes), ``pod`` (the registry's PodConfig fields for the binary, as ``spec.options``),
    ``cpus`` as request and limit, and ``labels``. Every output line goes to ``on_line``; the
    work directory, when given, is mounted at its own path, and each of ``inputs`` outside it
    read-only at its own path, or, on a runtime that sees no paths of this machine, copied into
    the work directory first (:func:`stage_inputs`). ``on_launching`` hears of the launch just
    before it starts, ``on_launch`` as soon as it runs, ``on_end`` when it ended. Setting
    ``stop`` (the executor does for a resident op that is cancelled or timed out; the SDK entry
    on SIGTERM) cancels the launch; the result then says ``cancelled``.
    """
    from pop.runtimes import create_launcher
    from pop.runtimes.base import LaunchSpec

    command = [str(arg) for arg in argv]
    if stop is not None and stop.is_set():
        return ExternalResult(exit_code=None, reason=CANCELLED, argv=tuple(command))
    if cwd is not None:
        cwd.mkdir(parents=True, exist_ok=True)  # resident handlers get their folder on first use
    launcher = create_launcher(launch_type, keep=keep, options=options)
    if not launcher.capabilities.host_paths:
        command, inputs = stage_inputs(work_dir, inputs, command)
    spec = LaunchSpec(
        name=spec_name(name or Path(command[0]).name),
        command=command,
        image=image,
        env=dict(env or {}),
        cwd=str(cwd) if cwd else None,
        cpus=cpus,
        cpu_limit=cpus,
        mounts=_mounts(work_dir, inputs),
        labels=dict(labels or {}),
        timeout_seconds=timeout_seconds,
        options=dict(pod or {}),
    )
    if on_launching is not None:
        on_launching(spec.name)
    _launching.depth = getattr(_launching, "depth", 0) + 1
    try:
        return asyncio.run(_launch_and_follow(launcher, spec, on_line, stop, on_launch, on_end))
    finally:
        _launching.depth -= 1


STAGED_INPUTS_DIR = "inputs"  # under the work directory: inputs copied for such runtimes


def stage_inputs(
    work_dir: Path | None, inputs: Sequence[str | Path], command: list[str]
) -> tuple[list[str], list[str | Path]]:
    """For a runtime whose launches see files only through the work volume (kubernetes): each
    of ``inputs`` outside ``work_dir`` copied into ``<work_dir>/inputs/`` (one copy per source,
    reused while its size and time are unchanged) and ``command``'s arguments naming it (or a
    path under it) pointed at the copy. PermanentError naming ``workVolume`` when it cannot be.
    """
    staged: list[str | Path] = []
    for item in inputs:
        path = Path(item).absolute()
        if work_dir is not None and path.is_relative_to(work_dir):
            staged.append(path)
            continue
        if work_dir is None:
            raise PermanentError(
                f"input {path} is outside the work directory and there is none to copy it into: "
                "on this runtime launches see files only through the registry's workVolume"
            )
        try:
            copy = _copy_once(path, work_dir / STAGED_INPUTS_DIR)
        except OSError as exc:
            raise PermanentError(
                f"cannot copy input {path} into the work directory {work_dir} (the registry's "
                f"workVolume, the only files this runtime's launches see): {exc}"
            ) from exc
        names = {str(item), str(path)}
        command = [_repointed(arg, names, str(copy)) for arg in command]
        staged.append(copy)
    return command, staged


def _repointed(arg: str, names: set[str], copy: str) -> str:
    for name in names:
        if arg == name:
            return copy
        if arg.startswith(name + os.sep):
            return copy + arg[len(name) :]
    return arg


def _copy_once(source: Path, folder: Path) -> Path:
    """``source`` (a file or folder) copied into ``folder`` under a name unique to its path;
    an earlier copy is kept while the source's size and modification time are unchanged."""
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:8]
    target = folder / f"{digest}-{source.name}"
    stat = source.stat()
    if target.exists():
        kept = target.stat()
        if source.is_dir() or (kept.st_size, kept.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns):
            return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}.{os.getpid()}.{threading.get_ident()}"
    if source.is_dir():
        shutil.copytree(source, partial)
        try:
            os.replace(partial, target)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
            if not target.is_dir():
                raise
            # another op copied it meanwhile
        return target
    shutil.copy2(source, partial)  # keeps the time the reuse check compares
    os.replace(partial, target)  # whole or not at all, even with ops copying side by side
    return target


def _mounts(work_dir: Path | None, inputs: Sequence[str | Path]) -> list[Mount]:
    from pop.runtimes.base import Mount

    mounts = [Mount(source=str(work_dir), target=str(work_dir))] if work_dir else []
    for item in inputs:
        path = Path(item).absolute()
        if work_dir is not None and path.is_relative_to(work_dir):
            continue  # visible through the work directory's mount
        if all(mount.source != str(path) for mount in mounts):
            mounts.append(Mount(source=str(path), target=str(path), read_only=True))
    return mounts


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
    on_launch: OnLaunch | None = None,
    on_end: OnEnd | None = None,
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
            if on_launch is not None:
                on_launch(spec.name, handle.record.to_json())
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
            result = ExternalResult(
                exit_code=status.code, reason=status.reason, tail=list(tail), argv=tuple(spec.argv)
            )
            if on_end is not None:
                on_end(spec.name, result)  # recorded before the runtime removes it (DESIGN §8)
        except BaseException:
            await handle.cancel()
            raise
        finally:
            await handle.cleanup()
    finally:
        await launcher.close()
    return result


def stop_launches(
    records: Sequence[Mapping[str, Any]], options: Mapping[str, str], grace_seconds: float
) -> list[str]:
    """Stop the launches of ``records`` (LaunchRecord JSON) through their runtimes, built with
    ``options``; the refs of those that were still running. Problems are skipped, never raised:
    the guard has nobody to tell."""
    return asyncio.run(_stop_all(records, options, grace_seconds))


async def _stop_all(
    records: Sequence[Mapping[str, Any]], options: Mapping[str, str], grace_seconds: float
) -> list[str]:
    from pop.errors import PopError
    from pop.runtimes import create_launcher
    from pop.runtimes.base import LaunchRecord

    launchers: dict[str, Launcher] = {}

    async def stop_one(data: Mapping[str, Any]) -> str | None:
        try:
            record = LaunchRecord.from_json(data)
            launcher = launchers.get(record.runtime)
            if launcher is None:
                launcher = launchers[record.runtime] = create_launcher(
                    record.runtime, options=options
                )
            return record.ref if await launcher.stop(record, grace_seconds) else None
        except (PopError, KeyError, TypeError, ValueError):
            return None

    try:
        stopped = await asyncio.gather(*(stop_one(record) for record in records))
    finally:
        for launcher in launchers.values():
            await launcher.close()
    return [ref for ref in stopped if ref is not None]
