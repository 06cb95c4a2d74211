"""The local runtime with real processes: whole process trees, records used by another
launcher, signal exit codes, both output streams, long and undecodable output, launch errors."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pop.errors import InputError, LaunchError
from pop.runtimes import CANCELLED, EXITED, TIMED_OUT, LaunchRecord, LaunchSpec
from pop.runtimes.lines import LineSplitter
from pop.runtimes.local import LocalHandle, LocalLauncher

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=20))


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def launch(launcher: LocalLauncher, *command: str, **fields: Any) -> LocalHandle:
    return await launcher.launch(LaunchSpec(name="test", command=list(command), **fields))


async def output_and_status(handle: LocalHandle) -> tuple[list[str], Any]:
    lines = [line async for line in handle.lines()]
    status = await handle.wait()
    await handle.cleanup()
    return lines, status


def test_cancel_stops_the_whole_process_tree() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "sh", "-c", "sleep 60 & echo $!; sleep 60")
        grandchild = int(await anext(aiter(handle.lines())))
        assert is_running(grandchild)
        await handle.cancel(grace_seconds=2)
        assert (await handle.wait()).reason == CANCELLED
        assert not is_running(handle.pid)
        assert not is_running(grandchild)
        await handle.cleanup()

    run(body())


def test_children_left_behind_do_not_delay_wait_and_cleanup_stops_them() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "sh", "-c", "sleep 60 & echo $!")
        started = time.monotonic()
        assert (await handle.wait()).ok  # the grandchild still holds the output pipes open
        await handle.cleanup()
        lines = [line async for line in handle.lines()]
        assert time.monotonic() - started < 10  # not the grandchild's minute (loose bound)
        assert not is_running(int(lines[0]))

    run(body())


def test_stop_from_the_record_of_another_launcher_stops_the_group() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "sh", "-c", "sleep 60 & echo $!; sleep 60")
        grandchild = int(await anext(aiter(handle.lines())))
        reclaimer = LocalLauncher()
        assert await reclaimer.stop(handle.record, grace_seconds=2) is True
        status = await handle.wait()
        assert (status.reason, status.code) == (EXITED, -signal.SIGTERM)
        assert not is_running(grandchild)
        assert await reclaimer.stop(handle.record) is False
        await handle.cleanup()

    run(body())


def test_stop_leaves_alone_a_process_that_reused_the_recorded_pid() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "sleep", "60")
        details = {**handle.record.details, "startTime": handle.record.details["startTime"] + 1}
        reused = LaunchRecord("local", handle.record.ref, details)
        assert await LocalLauncher().stop(reused) is False
        assert is_running(handle.pid)
        await handle.cancel(grace_seconds=1)
        await handle.cleanup()

    run(body())


def test_stop_leaves_alone_a_record_from_another_host() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "sleep", "60")
        elsewhere = LaunchRecord(
            "local", handle.record.ref, {**handle.record.details, "host": "another-host"}
        )
        assert await LocalLauncher().stop(elsewhere) is False
        assert is_running(handle.pid)
        await handle.cancel(grace_seconds=1)
        await handle.cleanup()

    run(body())


def test_stop_rejects_a_record_of_another_runtime() -> None:
    with pytest.raises(InputError, match="docker"):
        run(LocalLauncher().stop(LaunchRecord("docker", "0123abcd")))


def test_the_record_names_the_process_group_host_and_start_time() -> None:
    async def body() -> None:
        handle = await launch(LocalLauncher(), "true")
        details = handle.record.details
        assert handle.record.ref == f"pgid:{handle.pid}"
        assert details["pid"] == details["pgid"] == handle.pid
        assert details["host"]
        assert isinstance(details["startTime"], int)
        await output_and_status(handle)

    run(body())


def test_a_process_killed_by_a_signal_reports_minus_the_signal_number() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    _, status = run(output_and_status_of(python(code)))
    assert (status.reason, status.code) == (EXITED, -signal.SIGKILL)


def test_a_timeout_kills_a_program_that_ignores_sigterm_after_the_grace() -> None:
    async def body() -> None:
        launcher = LocalLauncher(timeout_grace_seconds=0.3)
        handle = await launch(launcher, "sh", "-c", "trap '' TERM; sleep 60", timeout_seconds=0.2)
        status = await handle.wait()
        assert (status.reason, status.code) == (TIMED_OUT, -signal.SIGKILL)
        assert "0.2" in status.message
        await handle.cleanup()

    run(body())


async def output_and_status_of(command: list[str], **fields: Any) -> tuple[list[str], Any]:
    return await output_and_status(await launch(LocalLauncher(), *command, **fields))


def test_stdout_and_stderr_are_both_captured() -> None:
    code = "import sys; print('to out', flush=True); print('to err', file=sys.stderr)"
    lines, status = run(output_and_status_of(python(code)))
    assert sorted(lines) == ["to err", "to out"]
    assert status.ok


def test_a_one_megabyte_line_arrives_whole() -> None:
    lines, _ = run(output_and_status_of(python("print('x' * 1_000_000); print('after')")))
    assert [len(line) for line in lines] == [1_000_000, 5]


def test_undecodable_bytes_are_replaced() -> None:
    code = r"import sys; sys.stdout.buffer.write(b'ab\xff\xfecd\n')"
    lines, _ = run(output_and_status_of(python(code)))
    assert lines == ["ab\ufffd\ufffdcd"]


def test_carriage_returns_end_progress_lines() -> None:
    code = r"import sys; sys.stdout.write('10%\r20%\r\n30%\nlast')"
    lines, _ = run(output_and_status_of(python(code)))
    assert lines == ["10%", "20%", "30%", "last"]


def test_the_program_runs_in_the_spec_working_directory(tmp_path: Path) -> None:
    lines, _ = run(output_and_status_of(python("import os; print(os.getcwd())"), cwd=str(tmp_path)))
    assert lines == [str(tmp_path)]


def test_the_program_inherits_the_parent_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POP_TEST_INHERITED", "yes")
    code = "import os; print(os.environ['POP_TEST_INHERITED'], os.environ['ADDED'])"
    lines, _ = run(output_and_status_of(python(code), env={"ADDED": "too"}))
    assert lines == ["yes too"]


def test_a_missing_program_is_a_launch_error_naming_it() -> None:
    with pytest.raises(LaunchError, match="cannot launch 'nosuch': no such file or directory"):
        run(output_and_status_of(["nosuch"]))


def test_a_program_without_execute_permission_is_a_launch_error(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    if os.geteuid() == 0:
        script.chmod(0o644)  # root may read anything, but still cannot execute without +x
    with pytest.raises(LaunchError, match=f"cannot launch '{script}': permission denied"):
        run(output_and_status_of([str(script)]))


def test_a_missing_working_directory_is_a_launch_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(LaunchError, match=f"working directory '{missing}' does not exist"):
        run(output_and_status_of(["true"], cwd=str(missing)))


def test_an_empty_command_is_a_launch_error() -> None:
    with pytest.raises(LaunchError, match="needs a command"):
        run(output_and_status_of([]))


def test_two_hundred_short_launches_at_concurrency_two_are_cheap() -> None:
    """Timed in CPU time of this process (about 0.1 s here, 0.5 ms a launch), which other
    processes on a busy machine do not inflate as they do wall time; a busy poll or a thread
    per launch would show."""
    true = shutil.which("true")
    assert true is not None

    async def body() -> float:
        launcher = LocalLauncher()
        slots = asyncio.Semaphore(2)

        async def one() -> None:
            async with slots:
                _, status = await output_and_status(await launch(launcher, true))
                assert status.ok

        started = time.process_time()
        await asyncio.gather(*(one() for _ in range(200)))
        return time.process_time() - started

    assert run(body()) < 1.0  # 5 ms of CPU a launch at most


def test_line_splitter_joins_a_crlf_split_across_chunks() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r") == ["one"]
    assert splitter.feed(b"\ntwo\n") == ["two"]
    assert splitter.close() == []


def test_line_splitter_decodes_a_character_split_across_chunks() -> None:
    splitter = LineSplitter()
    encoded = "héllo\n".encode()
    assert splitter.feed(encoded[:2]) == []
    assert splitter.feed(encoded[2:]) == ["héllo"]


def test_line_splitter_passes_an_over_long_line_on_in_pieces() -> None:
    splitter = LineSplitter(max_line_chars=4)
    assert splitter.feed(b"abc") == []
    assert splitter.feed(b"defghij") == ["abcd", "efgh"]
    assert splitter.feed(b"k\nlmnopq\n") == ["ijk", "lmno", "pq"]
