"""From an operation and its registry entry to a LaunchSpec: argv, environment, resources.

Layer: engine. Called by the executor for every non-resident attempt.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.handlers.codec import encode_payload_env
from pop.models import Agenda, Operation, OperationProgress
from pop.models.agenda import SUBMIT_DIR_PARAM
from pop.runtimes.base import LaunchSpec, Mount

if TYPE_CHECKING:
    from pop.registry import HandlerEntry

_UNSAFE = re.compile(r"[^a-z0-9-]+")
_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def path_segment(name: str) -> str:
    """A file-system-safe folder name for an op name (``a/b`` → ``a_b``)."""
    cleaned = _PATH_UNSAFE.sub("_", name).strip(".") or "_"
    return cleaned[:120]


def agenda_work_dir(agenda: Agenda, work_root: Path) -> Path:
    """The agenda's work directory: its ``params.workDir``, else ``<work_root>/<agenda id>``."""
    return Path(str(agenda.params.get("workDir") or work_root / (agenda.id or "")))


def op_folder(work_dir: Path, operation_name: str, attempt: int) -> Path:
    """One attempt's own folder inside the work directory (``POP_OP_DIR``)."""
    return work_dir / path_segment(operation_name) / str(attempt)


def launch_name(agenda_id: str, operation_name: str, attempt: int) -> str:
    """A unique, DNS-label-safe launch name: ``pop-<agenda8>-<op>-<attempt>``."""
    op_part = _UNSAFE.sub("-", operation_name.lower()).strip("-")[:40] or "op"
    return f"pop-{agenda_id[:8]}-{op_part}-{attempt}"[:63].rstrip("-")


@dataclass(frozen=True)
class AttemptPlace:
    """Where an attempt runs: the agenda's work directory and the attempt's own folder."""

    work_dir: Path
    op_dir: Path


def handler_argv(entry: HandlerEntry, *, launch: str, external_launch: str) -> list[str]:
    """The argv that starts a protocol handler (or the plain command) of ``entry``."""
    standard = ["--launchType", launch, "--externalLaunchType", external_launch]
    if entry.command is not None:
        return list(entry.command)  # protocol commands get the standard args after payload args
    if entry.handler is not None:
        python = sys.executable if launch == "local" else "python3"
        return [python, "-m", "pop.handlers", entry.handler, *standard]
    return standard  # an image with its own entry point receives the standard args


def handler_env(
    *,
    agenda: Agenda,
    operation: Operation,
    payload: Any,
    last_progress: OperationProgress | None,
    place: AttemptPlace,
    entry: HandlerEntry,
) -> dict[str, str]:
    env: dict[str, str] = {}
    env_vars = entry.fields.get("envVars")
    if isinstance(env_vars, Mapping):
        env.update({str(key): str(value) for key, value in env_vars.items()})
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
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: value for key, value in ids.items() if value})
    if last_progress is not None:
        env["LAST_PROGRESS"] = last_progress.to_json()
    if entry.external:
        env[EXTERNAL_ENV] = external_env_value(entry)
    return env


EXTERNAL_ENV = "POP_EXTERNAL"
SUBMIT_DIR_ENV = "POP_SUBMIT_DIR"  # where the submitting command ran (params.submitDir)


def resident_env(
    agenda: Agenda, progress_id: str, operation_name: str, entry: HandlerEntry
) -> dict[str, str]:
    """What a resident handler's ``ctx.launch_data`` sees: the ids and ``POP_EXTERNAL``."""
    env = {
        "AGENDA_ID": agenda.id or "",
        "PROGRESS_ID": progress_id,
        "OPERATION_NAME": operation_name,
        "CUSTOMER_ID": agenda.effective_customer_id or "",
        SUBMIT_DIR_ENV: str(agenda.params.get(SUBMIT_DIR_PARAM) or ""),
    }
    if entry.external:
        env[EXTERNAL_ENV] = external_env_value(entry)
    return {key: value for key, value in env.items() if value}


def external_env_value(entry: HandlerEntry) -> str:
    """``POP_EXTERNAL``: how the handler's external binaries launch (cpus, image), as JSON."""
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
    launch: str,
    external_launch: str,
    timeout_seconds: float | None,
) -> LaunchSpec:
    argv = handler_argv(entry, launch=launch, external_launch=external_launch)
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
    extra_labels = entry.fields.get("labels")
    if isinstance(extra_labels, Mapping):
        labels.update({str(key): str(value) for key, value in extra_labels.items()})
    work = str(place.work_dir)
    return LaunchSpec(
        name=launch_name(agenda.id or "", operation.name or "", attempt),
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
