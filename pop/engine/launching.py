"""From an operation and its registry entry to a LaunchSpec: argv, environment, resources.

Layer: engine. Called by the executor for every non-resident attempt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.engine.places import op_folder_of, work_dir_of
from pop.handlers.codec import encode_payload_env
from pop.handlers.launchdata import POP_ATTEMPT, POP_KEEP, POP_RUNTIME_OPTIONS
from pop.models import Agenda, Operation, OperationProgress
from pop.models.agenda import SUBMIT_DIR_PARAM
from pop.runtimes.base import Capabilities, LaunchSpec, Mount
from pop.runtimes.names import file_name, launch_name

if TYPE_CHECKING:
    from pop.registry import HandlerEntry


def agenda_work_dir(agenda: Agenda, work_root: Path) -> Path:
    """The agenda's work directory (:func:`pop.engine.places.work_dir_of`)."""
    return Path(work_dir_of(agenda.id or "", agenda.params, str(work_root)))


def op_folder(work_dir: Path, operation_name: str, attempt: int) -> Path:
    """One attempt's own folder (:func:`pop.engine.places.op_folder_of`)."""
    return Path(op_folder_of(str(work_dir), operation_name, attempt))


def log_file(logs_dir: Path, agenda_id: str, operation_name: str, attempt: int) -> Path:
    """Where one attempt's output is logged: ``<logs>/<agenda id>/<op file name>.<n>.log``."""
    return logs_dir / file_name(agenda_id) / f"{file_name(operation_name)}.{attempt}.log"


@dataclass(frozen=True)
class AttemptPlace:
    """Where an attempt runs: the agenda's work directory and the attempt's own folder."""

    work_dir: Path
    op_dir: Path


def handler_argv(
    entry: HandlerEntry, *, launch: str, external_launch: str, capabilities: Capabilities
) -> list[str]:
    """The argv that starts a protocol handler (or the plain command) of ``entry``; a built-in
    handler starts with the runtime's interpreter (``capabilities.python``)."""
    standard = ["--launchType", launch, "--externalLaunchType", external_launch]
    if entry.command is not None:
        return list(entry.command)  # protocol commands get the standard args after payload args
    if entry.handler is not None:
        return [capabilities.python, "-m", "pop.handlers", entry.handler, *standard]
    return standard  # an image with its own entry point receives the standard args


@dataclass(frozen=True)
class LaunchContext:
    """How one run launches: the runtime names, the options every launcher (the handlers' own
    external launchers too) is built with, ``keep``, and the capabilities of both runtimes (the
    executor's launcher and the one handlers launch their binaries on). Made once per run."""

    launch: str
    external_launch: str
    capabilities: Capabilities
    external_capabilities: Capabilities
    runtime_options: Mapping[str, str] = field(default_factory=dict)
    keep: bool = False

    def attempt_env(self, attempt: int) -> dict[str, str]:
        """What every attempt (resident or launched) is told about its run (DESIGN §7)."""
        env = {POP_ATTEMPT: str(attempt)}
        if self.runtime_options:
            env[POP_RUNTIME_OPTIONS] = json.dumps(dict(self.runtime_options), sort_keys=True)
        if self.keep:
            env[POP_KEEP] = "1"
        return env


LAUNCH_NAME_ENV = "POP_LAUNCH_NAME"  # a launched handler's own launch (container, pod) name


def handler_env(
    *,
    agenda: Agenda,
    operation: Operation,
    payload: Any,
    last_progress: OperationProgress | None,
    place: AttemptPlace,
    entry: HandlerEntry,
    attempt: int,
    context: LaunchContext,
    name: str,
) -> dict[str, str]:
    env: dict[str, str] = {}
    # plain values only: a secretKeyRef is for pods, which read the secret themselves
    env.update(entry.pod.env_vars)
    env.update(encode_payload_env(json.dumps(payload, separators=(",", ":"))))
    ids = {
        "AGENDA_ID": agenda.id,
        "PROGRESS_ID": agenda.progress_id,
        "OPERATION_NAME": operation.name,
        "OPERATION_ID": operation.id,
        "CID": agenda.cid,
        "CUSTOMER_ID": agenda.effective_customer_id,
        "POP_WORK_DIR": str(place.work_dir),
        "POP_OP_DIR": str(place.op_dir),
        SUBMIT_DIR_ENV: str(agenda.params.get(SUBMIT_DIR_PARAM) or ""),
        LAUNCH_NAME_ENV: name,
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: value for key, value in ids.items() if value})
    env.update(context.attempt_env(attempt))
    if last_progress is not None:
        env["LAST_PROGRESS"] = last_progress.to_json()
    env[EXTERNAL_ENV] = external_env_value(entry)
    return env


EXTERNAL_ENV = "POP_EXTERNAL"
SUBMIT_DIR_ENV = "POP_SUBMIT_DIR"  # where the submitting command ran (params.submitDir)


def resident_env(
    agenda: Agenda,
    progress_id: str,
    operation_name: str,
    entry: HandlerEntry,
    *,
    attempt: int,
    context: LaunchContext,
) -> dict[str, str]:
    """What a resident handler's ``ctx.launch_data`` sees: the ids, the attempt, the run's
    runtime options and ``POP_EXTERNAL``."""
    env = {
        "AGENDA_ID": agenda.id or "",
        "PROGRESS_ID": progress_id,
        "OPERATION_NAME": operation_name,
        "CUSTOMER_ID": agenda.effective_customer_id or "",
        SUBMIT_DIR_ENV: str(agenda.params.get(SUBMIT_DIR_PARAM) or ""),
        **context.attempt_env(attempt),
        EXTERNAL_ENV: external_env_value(entry),
    }
    return {key: value for key, value in env.items() if value}


def external_env_value(entry: HandlerEntry) -> str:
    """``POP_EXTERNAL``: how the handler's external binaries launch (cpus, image, pod fields),
    as JSON."""
    return json.dumps(entry.external_settings(), separators=(",", ":"))


def build_spec(
    *,
    agenda: Agenda,
    operation: Operation,
    entry: HandlerEntry,
    payload: Any,
    attempt: int,
    last_progress: OperationProgress | None,
    place: AttemptPlace,
    context: LaunchContext,
    timeout_seconds: float | None,
) -> LaunchSpec:
    launch, external_launch = context.launch, context.external_launch
    argv = handler_argv(
        entry, launch=launch, external_launch=external_launch, capabilities=context.capabilities
    )
    args: list[str] = []
    if entry.command is not None and isinstance(payload, dict):
        extra = payload.get("args")
        if isinstance(extra, list):
            # strings as written; other JSON values as JSON text (true, 2.5, {"a":1})
            args = [item if isinstance(item, str) else json.dumps(item) for item in extra]
    if entry.command is not None and entry.protocol == "pop":
        args += ["--launchType", launch, "--externalLaunchType", external_launch]
    labels = {
        "pop.agendaId": agenda.id or "",
        "pop.operation": operation.name or "",
        "pop.attempt": str(attempt),
        "app.kubernetes.io/managed-by": "pop",
    }
    insight = agenda.agenda_insight.insight_id if agenda.agenda_insight else None
    if insight:  # the queue it came from: `kubectl get pods -l pop.insightId=...`
        labels["pop.insightId"] = insight
    extra_labels = entry.fields.get("labels")
    if isinstance(extra_labels, Mapping):
        labels.update({str(key): str(value) for key, value in extra_labels.items()})
    work = str(place.work_dir)
    name = launch_name(agenda.id or "", operation.name or "", attempt)
    return LaunchSpec(
        name=name,
        command=argv,
        args=args,
        image=entry.image,
        env=handler_env(
            agenda=agenda,
            operation=operation,
            payload=payload,
            last_progress=last_progress,
            place=place,
            entry=entry,
            attempt=attempt,
            context=context,
            name=name,
        ),
        cwd=str(place.op_dir),
        cpus=entry.cpu_request,
        cpu_limit=entry.cpu_limit,
        memory=entry.memory_request,
        mounts=(Mount(source=work, target=work),),
        labels=labels,
        timeout_seconds=timeout_seconds,
        options=dict(entry.fields),
    )
