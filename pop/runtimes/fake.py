"""The fake runtime: "runs" launches inside this process from a script, starting no OS process.

Layer: runtimes. Built by ``pop.runtimes.create_launcher("fake")`` for ``--dry-run`` and
constructed directly by engine and service tests, which inspect :attr:`FakeLauncher.launches`.

A script maps a spec to a :class:`FakeRun` (output lines, exit code, duration). The default
script behaves like a well-behaved pop protocol handler (DESIGN.md §6): it reads the payload from
``PAYLOAD`` (or the compressed ``POP_COMPRESSED_PAYLOAD_<n>`` chunks), reports progress, prints
the payload's ``resultPayload`` as its result and ends with ``HandlerComplete``. A payload with a
``"fake"`` object (``lines``, ``exitCode``, ``durationSeconds``) scripts the run instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pop.errors import InputError, LaunchError, RuntimeUnavailableError
from pop.runtimes.base import (
    CANCELLED,
    EXITED,
    TIMED_OUT,
    Capabilities,
    ExitStatus,
    LaunchRecord,
    LaunchSpec,
)

RUNTIME_NAME = "fake"
_EXECUTING = {"processingState": "EXECUTING", "percentComplete": 50}
_SUCCEEDED = {
    "processingState": "COMPLETE",
    "processingStateMessage": "succeeded",
    "percentComplete": 100,
}


@dataclass
class FakeRun:
    """What a fake launch does: print ``lines`` spread evenly over ``duration`` seconds (the
    first at once), then exit with ``exit_code`` at ``duration``."""

    lines: list[str]
    exit_code: int = 0
    duration: float = 0.0


@dataclass
class FakeLaunch:
    """One launch as the fake launcher saw it; ``ended_at`` and ``status`` are set at the end."""

    spec: LaunchSpec
    record: LaunchRecord
    started_at: float
    ended_at: float | None = None
    status: ExitStatus | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.status is None


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def read_payload(env: Mapping[str, str]) -> Any:
    """The op payload a handler would read from ``env`` ({} when there is none)."""
    if env.get("POP_PAYLOAD_TYPE") == "compressedEnvVar":
        chunks = []
        index = 0
        while f"POP_COMPRESSED_PAYLOAD_{index}" in env:
            chunks.append(env[f"POP_COMPRESSED_PAYLOAD_{index}"])
            index += 1
        text = zlib.decompress(base64.b64decode("".join(chunks))).decode("utf-8")
    else:
        text = env.get("PAYLOAD", "")
    return json.loads(text) if text.strip() else {}


def protocol_handler_script(spec: LaunchSpec) -> FakeRun:
    """The default script: a pop protocol handler that succeeds with the payload's
    ``resultPayload``, unless the payload's ``"fake"`` object says otherwise."""
    try:
        payload = read_payload(spec.env)
    except (ValueError, zlib.error) as exc:
        failed = {"processingState": "COMPLETE", "processingStateMessage": "failed"}
        return FakeRun(
            [
                f"fake handler: unreadable payload: {exc}",
                f"Progress: {_compact(failed)}",
                "HandlerComplete",
            ],
            exit_code=1,
        )
    payload = payload if isinstance(payload, dict) else {}
    scripted = payload.get("fake")
    lines = [
        f"Progress: {_compact(_EXECUTING)}",
        f"Progress: {_compact(_SUCCEEDED)}",
        f"Payload: {_compact(payload.get('resultPayload', {}))}",
        "HandlerComplete",
    ]
    if not isinstance(scripted, dict):
        return FakeRun(lines)
    return FakeRun(
        lines=[str(line) for line in scripted.get("lines", lines)],
        exit_code=int(scripted.get("exitCode", 0)),
        duration=float(scripted.get("durationSeconds", 0.0)),
    )


_END = object()


class FakeHandle:
    """One fake launch, run by an asyncio task of this process."""

    def __init__(self, launch: FakeLaunch, run: FakeRun, clock: Callable[[], float]) -> None:
        self._launch = launch
        self._run = run
        self._clock = clock
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._done = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._play(), name=f"fake-{launch.spec.name}")
        self._task.add_done_callback(self._finish)

    @property
    def record(self) -> LaunchRecord:
        return self._launch.record

    async def lines(self) -> AsyncIterator[str]:
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)
                return
            assert isinstance(item, str)
            yield item

    async def wait(self) -> ExitStatus:
        status: ExitStatus = await asyncio.shield(self._done)
        return status

    async def cancel(self, grace_seconds: float = 5.0) -> None:
        if not self._task.done():
            self._task.cancel()
        await asyncio.wait([self._done])

    async def cleanup(self) -> None:
        await self.cancel()

    async def _play(self) -> ExitStatus:
        timeout = self._launch.spec.timeout_seconds
        try:
            async with asyncio.timeout(timeout):
                await self._emit()
        except TimeoutError:
            return ExitStatus(TIMED_OUT, None, f"timed out after {timeout:g} s")
        return ExitStatus(EXITED, self._run.exit_code)

    async def _emit(self) -> None:
        run = self._run
        interval = run.duration / len(run.lines) if run.lines else 0.0
        for index, line in enumerate(run.lines):
            if index and interval:
                await asyncio.sleep(interval)
            self._launch.lines.append(line)
            self._queue.put_nowait(line)
        await asyncio.sleep(interval if run.lines else run.duration)

    def _finish(self, task: asyncio.Task[ExitStatus]) -> None:
        status = ExitStatus(CANCELLED, None, "cancelled") if task.cancelled() else task.result()
        self._launch.status = status
        self._launch.ended_at = self._clock()
        self._queue.put_nowait(_END)
        self._done.set_result(status)


class FakeLauncher:
    """In-process launcher for tests and ``--dry-run``.

    ``script`` decides what each spec does (default :func:`protocol_handler_script`); ``clock``
    stamps ``started_at``/``ended_at``; ``available=False`` makes :meth:`check` and
    :meth:`launch` raise RuntimeUnavailableError; specs named in ``fail_launch`` raise
    LaunchError. Both attributes may be changed between launches.
    """

    def __init__(
        self,
        script: Callable[[LaunchSpec], FakeRun] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        available: bool = True,
        fail_launch: Iterable[str] = (),
        capabilities: Capabilities | None = None,
    ) -> None:
        self.script = script or protocol_handler_script
        self._capabilities = capabilities or Capabilities(host_cpus=True, python="python3")
        self.clock = clock
        self.available = available
        self.fail_launch: set[str] = set(fail_launch)
        self.launches: list[FakeLaunch] = []
        self._handles: dict[str, FakeHandle] = {}

    @property
    def name(self) -> str:
        return RUNTIME_NAME

    @property
    def capabilities(self) -> Capabilities:
        """Host CPUs and ``python3`` by default; tests pass others (a cluster-like runtime)."""
        return self._capabilities

    async def check(self) -> None:
        if not self.available:
            raise RuntimeUnavailableError("the fake runtime was made unavailable")

    async def launch(self, spec: LaunchSpec) -> FakeHandle:
        await self.check()
        if spec.name in self.fail_launch:
            raise LaunchError(f"cannot launch {spec.name!r}: the fake runtime was told to fail it")
        record = LaunchRecord(
            runtime=RUNTIME_NAME,
            ref=f"fake:{len(self.launches) + 1}",
            details={"name": spec.name},
        )
        launch = FakeLaunch(spec=spec, record=record, started_at=self.clock())
        self.launches.append(launch)
        handle = FakeHandle(launch, self.script(spec), self.clock)
        self._handles[record.ref] = handle
        return handle

    async def stop(self, record: LaunchRecord, grace_seconds: float = 5.0) -> bool:
        if record.runtime != RUNTIME_NAME:
            raise InputError(
                f"the fake runtime cannot stop {record.runtime!r} launch {record.ref!r}"
            )
        handle = self._handles.get(record.ref)
        if handle is None or not handle._launch.running:
            return False
        await handle.cancel(grace_seconds)
        return True

    async def close(self) -> None:
        return None
