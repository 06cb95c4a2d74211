"""The executor's small types: run options, observer events, per-op state, attempt outcomes.

Layer: engine. Used by the executor, the attempt runner and the executor daemon; the CLI builds
RunOptions and renders RunEvents.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pop.models import DiagnosticEvent, Operation, OperationProgress
from pop.models.causes import cause_of
from pop.runtimes.base import Handle

PENDING, RUNNING, DONE_OK, DONE_FAILED = "pending", "running", "succeeded", "failed"


class OutcomeKind(StrEnum):
    """How an attempt ended, as stored in its attempt row and read by the retry policy."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the handler failed; retryable
    PERMANENT = "permanent"  # will fail the same way again (bad input, missing image)
    INVALID = "invalid"  # never launched: an unresolved reference or unknown type
    TIMEOUT = "timeout"  # its timeout (or silence timeout) stopped it
    CANCELLED = "cancelled"  # the agenda was stopped
    LAUNCH = "launch"  # the runtime could not start it this time
    ERROR = "error"  # pop or the runtime failed around it (internal error, I/O error)


class StopKind(StrEnum):
    """Why a run was told to stop; decides how the agenda's failure counts for the retrier."""

    CANCELLED = "cancelled"  # pop cancel, Ctrl-C, SIGTERM, a batch stopped: never retried
    TIMEOUT = "timeout"  # the agenda's params.timeoutSeconds passed
    LOST = "lost"  # the lease was lost: another executor may take the agenda over


@dataclass(frozen=True)
class Stop:
    """A stop request: its kind and the sentence the agenda's diagnostics carry."""

    kind: StopKind
    message: str


def new_executor_id() -> str:
    """An owner id for leases: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunOptions:
    """How to run: runtime names, op concurrency, CPU budget, keep launches after they end, and
    the runtime options every launcher of the run is built with (``docker_host``; later
    ``kubeconfig``, ``context``, ``namespace``). Stored with the agenda (``to_json``) so
    ``--resume``, the reclaimer, ``pop batch`` and the daemon rebuild the same launchers."""

    launch: str = "local"
    external_launch: str | None = None
    concurrency: int = 50
    cpus: float | None = None
    keep: bool = False
    runtime_options: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "launch": self.launch,
            "externalLaunch": self.external_launch,
            "concurrency": self.concurrency,
            "cpus": self.cpus,
            "keep": self.keep,
            "runtimeOptions": dict(self.runtime_options),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, default_concurrency: int) -> RunOptions:
        """Options from stored (or given) launch settings; a missing key takes its default."""
        runtime_options = data.get("runtimeOptions") or {}
        return cls(
            launch=str(data.get("launch") or "local"),
            external_launch=data.get("externalLaunch") or None,
            concurrency=int(data.get("concurrency") or default_concurrency),
            cpus=None if data.get("cpus") is None else float(data["cpus"]),
            keep=bool(data.get("keep")),
            runtime_options={str(k): str(v) for k, v in dict(runtime_options).items()},
        )

    @property
    def external_runtime(self) -> str:
        """The runtime of the binaries handlers launch: ``external_launch``, else ``launch``."""
        return self.external_launch or self.launch


@dataclass(frozen=True)
class RunEvent:
    """What the executor tells an observer (the CLI's live view)."""

    kind: str  # agenda_started | op_started | op_progress | op_finished | agenda_finished
    operation: str | None = None
    percent: float = 0.0
    message: str | None = None
    succeeded: bool | None = None
    total: int = 0


@dataclass
class OpState:
    operation: Operation
    status: str = PENDING
    output: Any = None
    prior: OperationProgress | None = None
    attempts: int = 0
    percent: float = 0.0
    cpu: float = 0.0
    handle: Handle | None = None
    last_write: float = 0.0
    diagnostics: list[DiagnosticEvent] = field(default_factory=list)
    not_before: float = 0.0  # a retry waits (holding no slot) until this clock time
    outcome: OutcomeKind | None = None  # how the last attempt ended
    tries: int = 0  # attempts in this run (the retry policy counts these; `attempts` spans reruns)
    last_output: float = 0.0
    silenced: float | None = None  # the silence timeout that stopped the attempt
    stop_event: Any = None  # a running resident attempt's threading.Event: set to stop it
    stop_why: str | None = None  # why it was set: "cancelled" or "timeout"

    @property
    def name(self) -> str:
        return self.operation.name or ""


@dataclass
class Outcome:
    succeeded: bool
    result: Any = None
    diagnostics: list[DiagnosticEvent] = field(default_factory=list)
    outcome: OutcomeKind | None = None  # None: SUCCEEDED or FAILED, as ``succeeded`` says
    exit_code: int | None = None
    params: dict[str, Any] | None = None
    output_tail: list[str] | None = None


def agenda_diagnostics(
    states: Sequence[OpState],
    conductor: Sequence[DiagnosticEvent],
    stop: Stop | None,
) -> list[DiagnosticEvent]:
    """The agenda's diagnostics at its end: one per failed op (with the op's own as payload),
    then the conductor's (deadlock, ...), then why the run was stopped."""
    diagnostics: list[DiagnosticEvent] = []
    for state in states:
        if state.status == DONE_FAILED:
            cause = cause_of(state.diagnostics)
            first = cause.one_line() if cause is not None else "failed"
            diagnostics.append(
                DiagnosticEvent.of(
                    f"operation '{state.name}' failed: {first}",
                    payload=[d.to_wire() for d in state.diagnostics],
                )
            )
    diagnostics.extend(conductor)
    if stop is not None:
        diagnostics.append(DiagnosticEvent.of(stop.message))
    return diagnostics


NEVER_RETRIED = frozenset({OutcomeKind.PERMANENT, OutcomeKind.CANCELLED, OutcomeKind.INVALID})


def failure_kind(
    states: Sequence[OpState], conductor: Sequence[DiagnosticEvent], stop: Stop | None
) -> str:
    """How an agenda failed, for the retrier: ``cancelled`` and ``permanent`` (an op failed
    permanently, or a deadlock) are never retried; ``failed``, ``timeout`` and ``lost`` may be."""
    if stop is not None:
        return str(stop.kind)
    if conductor:
        return str(OutcomeKind.PERMANENT)
    outcomes = {s.outcome for s in states if s.status == DONE_FAILED}
    return str(OutcomeKind.PERMANENT if outcomes & NEVER_RETRIED else OutcomeKind.FAILED)
