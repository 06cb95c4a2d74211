"""The Launcher protocol: the one contract between pop and the places it launches things.

Layer: runtimes (above models/registry, below handlers and engine). The executor, the services
and the handler SDK import only this module (and the name → factory map in
``pop.runtimes.__init__``); they never ask which runtime they hold.

A *launch* runs one program (a handler or an external binary such as ffmpeg) described by a
:class:`LaunchSpec` and returns a :class:`Handle`. The runtime is responsible for everything it
created: after :meth:`Handle.cleanup` returns nothing of the launch is left running or stored by
the runtime (processes, containers, pods), unless the launcher was built with ``keep=True``.

Errors at this seam are pop errors: :class:`pop.errors.RuntimeUnavailableError` when the runtime
cannot be reached at all, :class:`pop.errors.LaunchError` when this one launch cannot start.
Backend exceptions (``docker.errors.*``, ``kubernetes.client.ApiException``, ``OSError``) are
translated with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# Exit reasons a Handle reports in ExitStatus.reason.
EXITED = "exited"  # the program ended by itself; see ``code``
CANCELLED = "cancelled"  # stopped by Handle.cancel()
TIMED_OUT = "timeout"  # stopped because LaunchSpec.timeout_seconds elapsed
LOST = "lost"  # the runtime lost track of it (container/pod deleted behind our back)


@dataclass(frozen=True)
class Mount:
    """A host folder made visible to the launch at ``target`` (same path by default)."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class LaunchSpec:
    """What to launch.

    ``name`` is unique per launch and safe as a container or pod name (lower-case letters,
    digits and ``-``, at most 63 characters). ``command`` is an argv list, never shell text; for
    image runtimes an empty ``command`` means the image's own entry point, and ``args`` are
    appended in every runtime. ``env`` is the whole environment the program adds to the
    runtime's base (the local runtime inherits the parent's environment). ``cpus`` is the CPU
    request, ``cpu_limit`` the limit (None = no limit). ``timeout_seconds`` (None = none) is
    enforced by the runtime: the launch is stopped with its whole tree and ends ``timeout``.
    ``options`` carries runtime-specific registry fields (service account, node selector, ...)
    that other runtimes ignore.
    """

    name: str
    command: Sequence[str]
    args: Sequence[str] = ()
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    cpus: float = 1.0
    cpu_limit: float | None = None
    memory: str | None = None
    mounts: Sequence[Mount] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        return [*self.command, *self.args]


@dataclass(frozen=True)
class LaunchRecord:
    """What a launch started, as stored in the attempt row so another process can find it.

    ``runtime`` is the runtime name; ``ref`` identifies the launched thing in that runtime
    (``pgid:<n>`` for a local process group, a container id, a pod name); ``details`` holds
    anything else needed to stop or adopt it (namespace, host, pid, ...). JSON-serialisable.
    """

    runtime: str
    ref: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "ref": self.ref, "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LaunchRecord:
        return cls(
            runtime=str(data["runtime"]),
            ref=str(data["ref"]),
            details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class ExitStatus:
    """How a launch ended: ``reason`` is one of EXITED, CANCELLED, TIMED_OUT, LOST; ``code`` is
    the exit code when known (a process killed by signal N reports ``-N``)."""

    reason: str
    code: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason == EXITED and self.code == 0


@dataclass(frozen=True)
class Capabilities:
    """What the engine may assume about a runtime, so it never asks which runtime it holds.

    ``host_cpus``: launches run on this machine and use its CPUs, so the executor counts their
    CPU requests against its CPU budget (local, docker); False where another scheduler places
    them (kubernetes). ``python``: the interpreter that starts a built-in handler
    (``python -m pop.handlers NAME``): this process's own for local, the image's ``python3``
    for image runtimes. ``images``: launches run in the spec's image (``LaunchSpec.image``).
    ``host_paths``: a mount's source may be any path of this machine (local, docker); False
    where launches see only the work volume (kubernetes), so inputs outside the work directory
    are copied into it first.
    """

    host_cpus: bool = True
    python: str = "python3"
    images: bool = False
    host_paths: bool = True


DEFAULT_TIMEOUT_GRACE_SECONDS = 5.0  # a timed-out launch: SIGTERM, then SIGKILL after this
DEFAULT_CLEANUP_GRACE_SECONDS = 2.0  # leftovers stopped by cleanup: the same


def grace_options(options: Mapping[str, Any]) -> dict[str, float]:
    """The stop graces a launcher reads from runtime options (``timeout_grace_seconds``,
    ``cleanup_grace_seconds``; the defaults above when absent), as keyword arguments."""
    return {
        "timeout_grace_seconds": float(
            options.get("timeout_grace_seconds", DEFAULT_TIMEOUT_GRACE_SECONDS)
        ),
        "cleanup_grace_seconds": float(
            options.get("cleanup_grace_seconds", DEFAULT_CLEANUP_GRACE_SECONDS)
        ),
    }


@dataclass(frozen=True)
class LaunchInfo:
    """One launch found by :meth:`ListingLauncher.list_launches`: its record, labels, whether
    it still runs, and when it finished (epoch seconds; None while running or unknown)."""

    record: LaunchRecord
    labels: Mapping[str, str]
    running: bool
    finished_at: float | None = None
    created_at: float | None = None


@runtime_checkable
class Handle(Protocol):
    """One running launch."""

    @property
    def record(self) -> LaunchRecord:
        """What was launched; available as soon as :meth:`Launcher.launch` returns."""
        ...

    def lines(self) -> AsyncIterator[str]:
        """The program's output (stdout and stderr merged, in order per stream), one line at a
        time without the trailing newline; the iterator ends when the output is closed. May be
        iterated once. Undecodable bytes are replaced, never raised."""
        ...

    async def wait(self) -> ExitStatus:
        """Wait until the launch has ended and return how. Idempotent: later calls return the
        same status at once."""
        ...

    async def cancel(self, grace_seconds: float = 5.0) -> None:
        """Stop the launch and everything it started: ask politely (SIGTERM / container stop /
        pod delete with grace), then force after ``grace_seconds``. Idempotent; a launch that
        already ended is left alone. :meth:`wait` then reports CANCELLED."""
        ...

    async def cleanup(self) -> None:
        """Release what the runtime holds for this launch (remove the container, delete the pod)
        unless the launcher keeps them. Call after :meth:`wait`. Idempotent, never raises for
        something already gone."""
        ...


@runtime_checkable
class Launcher(Protocol):
    """A runtime: launches specs and stops what earlier processes launched."""

    @property
    def name(self) -> str:
        """The runtime name: ``local``, ``docker``, ``kubernetes`` or ``fake``."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What the engine may assume about this runtime (CPU budget, interpreter, images)."""
        ...

    async def check(self) -> None:
        """Raise RuntimeUnavailableError when the runtime cannot be reached. Cheap; may be
        called before every agenda."""
        ...

    async def launch(self, spec: LaunchSpec) -> Handle:
        """Start ``spec`` and return its handle once it is running (or has been accepted by the
        runtime). Raises LaunchError (this launch cannot start, e.g. no such executable) or
        RuntimeUnavailableError."""
        ...

    async def stop(self, record: LaunchRecord, grace_seconds: float = 5.0) -> bool:
        """Stop and clean up a launch started by another (possibly dead) process, from its
        record. Returns True when something was still running. Idempotent."""
        ...

    async def close(self) -> None:
        """Release clients and connections. Idempotent."""
        ...


@runtime_checkable
class ListingLauncher(Launcher, Protocol):
    """A runtime that keeps launches after they end (containers, pods) and can list the ones pop
    made (label ``app.kubernetes.io/managed-by=pop``), for ``pop reap containers|pods``."""

    async def list_launches(self) -> list[LaunchInfo]:
        """Every pop-labelled launch this runtime holds, running or finished."""
        ...

    async def remove(self, record: LaunchRecord) -> None:
        """Delete one finished launch. Never raises for something already gone."""
        ...


class ReportSink(Protocol):
    """Where a launched handler's reports go besides its stdout (on kubernetes: its own pod's
    annotations; see :func:`pop.runtimes.create_report_sink`). ``report`` receives every
    progress (``final`` False, ``payload_json`` None) and the final one (with the result JSON,
    or None on failure); a sink may coalesce the first kind but sends the final one before
    returning. ``close`` flushes and releases the sink. Neither raises: a sink that cannot
    deliver warns on stderr."""

    def report(self, progress_json: str, payload_json: str | None, final: bool = False) -> None:
        """One progress report (compact OperationProgress JSON) and, when final, the result."""
        ...

    def close(self) -> None:
        """Send what is still pending and release the sink. Idempotent."""
        ...
