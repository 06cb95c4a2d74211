"""Writing store state directly, as a dead executor, a finished run or the passage of time would
have left it, so the services can be tested against exactly that state.

Each helper goes through the store's own methods where one exists and plain SQL where only time
or a crash could produce the state (an expired lease, an old completion).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from pop.config import Settings
from pop.engine.submission import prepare, store_submission
from pop.models import Agenda, DiagnosticEvent, ProcessingState, now_ms
from pop.registry import Registry
from pop.runtimes.local.processes import start_time
from pop.store import Store, operation_progress_id

DEAD_EXECUTOR = "deadhost:4242:deadbeef"
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def make_settings(home: Path, **changes: Any) -> Settings:
    settings = Settings(
        home=home,
        handler_complete_grace_seconds=1.0,
        cancel_grace_seconds=2.0,
        retry_backoff_seconds=0.0,
    )
    return settings.with_changes(**changes) if changes else settings


def make_registry(tmp_path: Path) -> Registry:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"handlers": {"sh": {"command": ["sh", "-c"]}}}))
    return Registry.load(path)


def sh_op(name: str, script: str = "true", after: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"name": name, "type": "sh", "payload": {"args": [script]}}
    if after is not None:
        operation["params"] = {"dependsOn": after}
    return operation


def store_agenda(
    store: Store,
    operations: list[dict[str, Any]] | None = None,
    *,
    params: dict[str, Any] | None = None,
    queue: bool = False,
) -> str:
    document = {
        "title": "service test",
        "operations": operations or [sh_op("only")],
        "params": params or {},
    }
    prepared, progress, ops = prepare(Agenda.model_validate(document))
    store_submission(store, prepared, progress, ops, queue=queue)
    return prepared.id or ""


def progress_id(store: Store, agenda_id: str) -> str:
    progress = store.progress.get(agenda_id, with_operations=False)
    assert progress is not None
    return progress.id or ""


def set_columns(store: Store, agenda_id: str, **columns: Any) -> None:
    """Set agenda_progress columns as only time or a crash could (lease_expires, updated_time)."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    store.db.execute(
        f"UPDATE agenda_progress SET {assignments} WHERE agenda_id = :agenda_id",
        {**columns, "agenda_id": agenda_id},
    )


def executing_under_dead_lease(
    store: Store, agenda_id: str, *, expired_ms_ago: int = 10 * MINUTE_MS
) -> int:
    """The agenda EXECUTING under the dead executor's lease, expired ``expired_ms_ago``; its open
    agenda attempt row's id."""
    store.progress.take_lease(agenda_id, DEAD_EXECUTOR, 30)
    attempt = store.attempts.start(agenda_id, None, 1, executor=DEAD_EXECUTOR, runtime="local")
    store.progress.update_agenda(
        progress_id(store, agenda_id),
        state=ProcessingState.EXECUTING,
        message="running operations",
        started_time=now_ms() - expired_ms_ago - 30_000,
    )
    set_columns(store, agenda_id, lease_expires=now_ms() - expired_ms_ago)
    return attempt


def op_running(
    store: Store, agenda_id: str, operation: str, launched: dict[str, Any] | None
) -> int:
    """The op EXECUTING at 40 % with an open attempt row (``launched`` its launch record)."""
    attempt = store.attempts.start(
        agenda_id,
        operation,
        1,
        executor=DEAD_EXECUTOR,
        runtime=(launched or {}).get("runtime", "local"),
    )
    if launched is not None:
        store.attempts.record_launch(attempt, launched)
    store.progress.update_operation(
        operation_progress_id(progress_id(store, agenda_id), operation),
        state=ProcessingState.EXECUTING,
        message="running",
        percent=40.0,
        started_time=now_ms(),
        attempt_count=1,
        params={"jobInfo": {"jobId": "job-7"}},
    )
    return attempt


def op_succeeded(store: Store, agenda_id: str, operation: str, result: Any) -> None:
    attempt = store.attempts.start(agenda_id, operation, 1, executor=DEAD_EXECUTOR, runtime="local")
    store.attempts.end(attempt, "succeeded", exit_code=0)
    store.progress.update_operation(
        operation_progress_id(progress_id(store, agenda_id), operation),
        state=ProcessingState.COMPLETE,
        message="succeeded",
        percent=100.0,
        completed_time=now_ms(),
        attempt_count=1,
        set_result=True,
        result_payload=result,
    )


def finish(
    store: Store,
    agenda_id: str,
    *,
    outcome: str,
    completed_time: int | None = None,
    owner: str = DEAD_EXECUTOR,
) -> None:
    """What the executor's ``_finish`` writes: COMPLETE (succeeded or failed, one more attempt
    completed), the agenda attempt row ended with ``outcome``, the lease released."""
    current = store.progress.get(agenda_id, with_operations=False)
    number = (current.attempts_completed or 0) + 1 if current else 1
    open_rows = [row for row in store.attempts.open_attempts(agenda_id) if row["operation"] is None]
    with store.transaction():
        if open_rows:
            attempt = open_rows[-1]["id"]
        else:
            attempt = store.attempts.start(agenda_id, None, number, executor=owner, runtime="local")
        succeeded = outcome == "succeeded"
        store.progress.update_agenda(
            progress_id(store, agenda_id),
            state=ProcessingState.COMPLETE,
            message="succeeded" if succeeded else "failed",
            completed_time=completed_time or now_ms(),
            add_diagnostics=[] if succeeded else [DiagnosticEvent.of(f"it ended {outcome}")],
        )
        store.attempts.end(attempt, outcome)
        store.progress.release_lease(agenda_id, owner)


def local_record(pid: int) -> dict[str, Any]:
    """The launch record the local runtime writes for a process group led by ``pid``."""
    return {
        "runtime": "local",
        "ref": f"pgid:{pid}",
        "details": {
            "pid": pid,
            "pgid": pid,
            "host": socket.gethostname(),
            "startTime": start_time(pid),
        },
    }


def process_state(pid: int) -> str | None:
    """The state letter in /proc/<pid>/stat (``S`` sleeping, ``Z`` zombie), None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()[0]


@contextmanager
def sleeping_group() -> Iterator[subprocess.Popen[bytes]]:
    """``sleep 60`` leading a process group of its own, as a launched handler would; killed
    and reaped at the end whatever happened."""
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
