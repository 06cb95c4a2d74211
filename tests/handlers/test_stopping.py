"""A launched handler's children die with it (issue 11): SIGTERM fails the op with a final
report and cancels its external launches; a cancel or timeout through the local runtime, even
one that ends in SIGKILL, leaves no process behind (the process table is read from /proc)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pop.runtimes.base import CANCELLED, TIMED_OUT, ExitStatus, LaunchSpec
from pop.runtimes.local import LocalLauncher
from tests.handlers.conftest import REPO_ROOT
from tests.handlers.process_table import (
    MARKER_ENV,
    alive,
    kill_marked,
    new_marker,
    wait_for_pid_file,
    wait_until_none_marked,
)

HANDLERS = "tests.handlers.stopping_handlers"
STOPPED = "Handler stopped by SIGTERM for operation sleepy"


@pytest.fixture
def marker() -> Iterator[str]:
    """Marks every process of one test; whatever is left at its end is killed."""
    value = new_marker()
    yield value
    kill_marked(value)


def handler_env(marker: str, payload: dict[str, Any]) -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "PAYLOAD": json.dumps(payload),
        "OPERATION_NAME": "sleepy",
        MARKER_ENV: marker,
    }


def handler_spec(
    tmp_path: Path, function: str, payload: dict[str, Any], marker: str, **fields: Any
) -> LaunchSpec:
    return LaunchSpec(
        name="sleepy",
        command=[sys.executable, "-m", "pop.handlers", f"{HANDLERS}:{function}"],
        args=["--launchType", "local"],
        env=handler_env(marker, payload),
        cwd=str(tmp_path),
        **fields,
    )


def sleeper_argv(pid_file: Path, *, ignore_sigterm: bool = False) -> list[str]:
    """An external that writes its pid, then sleeps a minute (deaf to SIGTERM if asked). It
    writes its pid a second after it started: by then its handler has surely told its launch
    guard about it (a few instructions after the launch, however busy the machine)."""
    trap = "trap '' TERM; " if ignore_sigterm else ""
    return ["sh", "-c", f"{trap}sleep 1; echo $$ > '{pid_file}'; exec sleep 60"]


def ffmpeg_argv(pid_file: Path) -> list[str]:
    """A real ffmpeg encoding an endless test pattern in real time (``-re``), started as
    :func:`sleeper_argv` starts its sleep (its pid written a second after it started)."""
    from pop.handlers.media.ffmpeg import find_ffmpeg

    encode = [
        find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-c:v", "libx264", "-f", "null", "-",
    ]  # fmt: skip
    return ["sh", "-c", f"sleep 1; echo $$ > '{pid_file}'; exec \"$@\"", "sh", *encode]


EXTERNALS = {"sleep": sleeper_argv, "ffmpeg": ffmpeg_argv}


def final_progress(lines: list[str]) -> dict[str, Any]:
    reports = [json.loads(line[10:]) for line in lines if line.startswith("Progress: ")]
    assert reports, lines
    final: dict[str, Any] = reports[-1]
    return final


def messages(progress: dict[str, Any]) -> list[str]:
    return [event["message"] for event in progress.get("diagnosticEvents") or []]


async def launch_and_stop(
    launcher: LocalLauncher, spec: LaunchSpec, pid_file: Path, *, cancel_grace: float | None
) -> tuple[ExitStatus, list[str]]:
    """Launch the handler, wait until its external runs, then cancel it with ``cancel_grace``
    (None: let its timeout stop it); how it ended and every line it printed."""
    handle = await launcher.launch(spec)
    lines: list[str] = []

    async def read() -> None:
        async for line in handle.lines():
            lines.append(line)

    reader = asyncio.create_task(read())
    try:
        await asyncio.to_thread(wait_for_pid_file, pid_file)
        if cancel_grace is not None:
            await handle.cancel(cancel_grace)
        status = await handle.wait()
        await asyncio.wait_for(reader, 30)
    finally:
        await handle.cleanup()
    return status, lines


@pytest.mark.parametrize("external", sorted(EXTERNALS))
def test_cancelling_a_launched_handler_fails_its_op_and_stops_its_external(
    tmp_path: Path, marker: str, external: str
) -> None:
    pid_file = tmp_path / "external.pid"
    argv = EXTERNALS[external](pid_file)
    spec = handler_spec(tmp_path, "external_sleeper", {"argv": argv}, marker)

    status, lines = asyncio.run(launch_and_stop(LocalLauncher(), spec, pid_file, cancel_grace=30.0))

    assert status.reason == CANCELLED
    assert status.code == 143  # it ended by itself within the grace, with its final report
    final = final_progress(lines)
    assert (final["processingState"], final["processingStateMessage"]) == ("COMPLETE", "failed")
    assert messages(final) == [STOPPED]
    assert lines[-1] == "HandlerComplete"
    assert not alive(int(pid_file.read_text()))
    assert wait_until_none_marked(marker) == []


@pytest.mark.parametrize("external", sorted(EXTERNALS))
def test_a_timed_out_launched_handler_leaves_no_process_behind(
    tmp_path: Path, marker: str, external: str
) -> None:
    pid_file = tmp_path / "external.pid"
    spec = handler_spec(
        tmp_path,
        "external_sleeper",
        {"argv": EXTERNALS[external](pid_file)},
        marker,
        timeout_seconds=3.0,
    )

    status, lines = asyncio.run(
        launch_and_stop(
            LocalLauncher(timeout_grace_seconds=30.0), spec, pid_file, cancel_grace=None
        )
    )

    assert status.reason == TIMED_OUT
    assert messages(final_progress(lines)) == [STOPPED]
    assert lines[-1] == "HandlerComplete"
    assert wait_until_none_marked(marker) == []


def test_a_handler_killed_before_its_external_stopped_still_leaves_none(
    tmp_path: Path, marker: str
) -> None:
    # The external ignores SIGTERM, so the handler's own cancel of it takes its 5 s grace; the
    # runtime's grace for the handler is shorter, so the handler is SIGKILLed first. Its launch
    # guard, in a session of its own, then stops the external (SIGTERM, SIGKILL after 2 s).
    pid_file = tmp_path / "external.pid"
    argv = sleeper_argv(pid_file, ignore_sigterm=True)
    spec = handler_spec(tmp_path, "external_sleeper", {"argv": argv}, marker)

    status, _ = asyncio.run(launch_and_stop(LocalLauncher(), spec, pid_file, cancel_grace=0.5))

    assert status.reason == CANCELLED
    assert status.code == -signal.SIGKILL
    assert wait_until_none_marked(marker) == []


def test_sigkill_of_a_handlers_group_leaves_no_external(tmp_path: Path, marker: str) -> None:
    pid_file = tmp_path / "external.pid"
    spec = handler_spec(tmp_path, "external_sleeper", {"argv": sleeper_argv(pid_file)}, marker)

    async def kill_the_group() -> ExitStatus:
        handle = await LocalLauncher().launch(spec)
        try:
            await asyncio.to_thread(wait_for_pid_file, pid_file)
            os.killpg(int(handle.record.details["pgid"]), signal.SIGKILL)  # as a reclaimer might
            return await handle.wait()
        finally:
            await handle.cleanup()

    status = asyncio.run(kill_the_group())

    assert status.code == -signal.SIGKILL
    assert wait_until_none_marked(marker) == []


def test_an_external_still_running_when_its_handler_returns_is_stopped(
    tmp_path: Path, marker: str
) -> None:
    pid_file = tmp_path / "external.pid"
    payload = {"argv": sleeper_argv(pid_file), "pidFile": str(pid_file)}
    environment = {**os.environ, **handler_env(marker, payload)}

    done = subprocess.run(
        [sys.executable, "-m", "pop.handlers", f"{HANDLERS}:returns_while_its_external_runs"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "HandlerComplete"
    assert wait_until_none_marked(marker) == []


def test_sigterm_stops_a_handler_busy_in_python_with_a_final_report(
    tmp_path: Path, marker: str
) -> None:
    environment = {**os.environ, **handler_env(marker, {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "pop.handlers", f"{HANDLERS}:python_sleeper"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the handler is running: it said it sleeps
        assert first.startswith("Progress: "), first
        process.send_signal(signal.SIGTERM)
        rest, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 143, stderr
    lines = [first.rstrip("\n"), *rest.splitlines()]
    final = final_progress(lines)
    assert (final["processingState"], final["processingStateMessage"]) == ("COMPLETE", "failed")
    assert messages(final) == [STOPPED]
    assert lines[-1] == "HandlerComplete"
