"""A remote executor stops the lost launches of an agenda it claims (``getAgenda``'s
``lostLaunches``): a real process launched by the local runtime, recorded as a dead executor's
attempt row records it, is stopped before the agenda runs again, and the executor says so."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pop.api.remote import RemoteClient
from pop.api.remote_executor import RemoteExecutor
from pop.config import Settings
from pop.registry import Registry
from pop.runtimes import create_launcher
from pop.runtimes.base import LaunchSpec
from pop.services.daemon import DaemonOptions
from tests.handlers.process_table import alive


def executor(notes: list[str], home: Path) -> RemoteExecutor:
    settings = Settings.from_env().with_changes(home=home)
    client = RemoteClient("http://127.0.0.1:9")  # never asked: stopping needs no server
    return RemoteExecutor(
        client, Registry.load(None, settings=settings), settings, DaemonOptions(), ["default"],
        on_note=notes.append,
    )  # fmt: skip


def test_a_lost_local_launch_is_stopped_and_reported(tmp_path: Path) -> None:
    async def scenario() -> tuple[str, list[str], RemoteExecutor]:
        launcher = create_launcher("local")
        handle = await launcher.launch(
            LaunchSpec(name="pop-lost-op-1", command=["sleep", "300"], cwd=str(tmp_path))
        )
        record = handle.record.to_json()
        notes: list[str] = []
        remote = executor(notes, tmp_path / "home")
        row = {"agendaId": "a1", "operation": "encode", "number": 1, "launched": record}
        try:
            await remote._stop_lost(row, [None])  # a launcher of its own, as after a restart
            await asyncio.wait_for(handle.wait(), 20)  # a TimeoutError if it was not stopped
        finally:
            await launcher.stop(handle.record, 0)
        return record["ref"], notes, remote

    ref, notes, remote = asyncio.run(scenario())
    pid = int(ref.removeprefix("pgid:"))  # the local runtime's ref names the process group

    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)
    assert remote.stopped == [f"a1 encode attempt 1: local {ref}"]
    assert notes == [f"stopped   a1 encode attempt 1: local {ref} (a lost launch)"]
    assert remote.problems == []


def test_a_record_that_cannot_be_read_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    notes: list[str] = []
    remote = executor(notes, tmp_path / "home")
    row = {"agendaId": "a1", "operation": "encode", "number": 2, "launched": {"runtime": "local"}}

    asyncio.run(remote._stop_lost(row, [None]))

    assert remote.stopped == []
    assert len(notes) == 1 and notes[0].startswith("warning: a1 encode attempt 2: cannot stop")
