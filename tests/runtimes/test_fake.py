"""The fake runtime: the default script speaks the pop handler protocol, and every launch is
recorded for the engine tests that use it."""

from __future__ import annotations

import asyncio
import base64
import json
import zlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from pop.errors import LaunchError, RuntimeUnavailableError
from pop.runtimes import CANCELLED, EXITED, TIMED_OUT, LaunchSpec, create_launcher
from pop.runtimes.fake import FakeHandle, FakeLauncher, FakeRun

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=20))


def spec(name: str = "op", **fields: Any) -> LaunchSpec:
    return LaunchSpec(name=name, command=["handler"], **fields)


async def finish(handle: FakeHandle) -> tuple[list[str], Any]:
    lines = [line async for line in handle.lines()]
    status = await handle.wait()
    await handle.cleanup()
    return lines, status


async def launch_and_finish(
    launcher: FakeLauncher, launch_spec: LaunchSpec
) -> tuple[list[str], Any]:
    return await finish(await launcher.launch(launch_spec))


def test_the_default_script_reports_progress_the_result_payload_and_completion() -> None:
    payload = {"input": "a.mp4", "resultPayload": {"output": "b.mp4"}}
    lines, status = run(
        launch_and_finish(FakeLauncher(), spec(env={"PAYLOAD": json.dumps(payload)}))
    )
    assert lines == [
        'Progress: {"processingState":"EXECUTING","percentComplete":50}',
        'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded",'
        '"percentComplete":100}',
        'Payload: {"output":"b.mp4"}',
        "HandlerComplete",
    ]
    assert status.ok


def test_the_default_script_reports_an_empty_result_without_a_payload() -> None:
    lines, status = run(launch_and_finish(FakeLauncher(), spec()))
    assert lines[2:] == ["Payload: {}", "HandlerComplete"]
    assert status.ok


def test_the_default_script_reads_a_compressed_payload() -> None:
    encoded = base64.b64encode(zlib.compress(b'{"resultPayload": [1, 2]}')).decode()
    env = {
        "POP_PAYLOAD_TYPE": "compressedEnvVar",
        "POP_COMPRESSED_PAYLOAD_0": encoded[:10],
        "POP_COMPRESSED_PAYLOAD_1": encoded[10:],
    }
    lines, _ = run(launch_and_finish(FakeLauncher(), spec(env=env)))
    assert "Payload: [1,2]" in lines


def test_the_payload_fake_object_scripts_lines_exit_code_and_duration() -> None:
    fake = {"lines": ["one", "two"], "exitCode": 7, "durationSeconds": 0.2}
    launcher = FakeLauncher()
    launch_spec = spec(env={"PAYLOAD": json.dumps({"fake": fake})})
    lines, status = run(launch_and_finish(launcher, launch_spec))
    assert lines == ["one", "two"]
    assert (status.reason, status.code) == (EXITED, 7)
    launch = launcher.launches[0]
    assert launch.ended_at is not None and launch.ended_at - launch.started_at >= 0.19


def test_an_unreadable_payload_fails_like_a_handler_would() -> None:
    lines, status = run(launch_and_finish(FakeLauncher(), spec(env={"PAYLOAD": "{not json"})))
    assert '"processingStateMessage":"failed"' in lines[1]
    assert status.code == 1


def test_every_launch_is_recorded_with_clock_times_and_status() -> None:
    ticks = iter(range(100))
    launcher = FakeLauncher(lambda _: FakeRun(["hi"], exit_code=3), clock=lambda: next(ticks))

    async def body() -> None:
        await launch_and_finish(launcher, spec("first"))
        await launch_and_finish(launcher, spec("second"))

    run(body())
    assert [launch.spec.name for launch in launcher.launches] == ["first", "second"]
    first = launcher.launches[0]
    assert (first.started_at, first.ended_at) == (0, 1)
    assert first.status is not None and first.status.code == 3
    assert first.lines == ["hi"]
    assert first.record.ref != launcher.launches[1].record.ref


def test_a_launch_is_recorded_as_running_until_it_ends() -> None:
    launcher = FakeLauncher(lambda _: FakeRun(["up"], duration=60))

    async def body() -> None:
        handle = await launcher.launch(spec())
        assert launcher.launches[0].running
        await handle.cancel()
        assert launcher.launches[0].status == await handle.wait()
        assert (await handle.wait()).reason == CANCELLED

    run(body())


def test_a_timeout_is_recorded_as_timed_out() -> None:
    launcher = FakeLauncher(lambda _: FakeRun(["up"], duration=60))
    _, status = run(launch_and_finish(launcher, spec(timeout_seconds=0.05)))
    assert status.reason == TIMED_OUT


def test_an_unavailable_fake_runtime_fails_check_and_launch() -> None:
    launcher = FakeLauncher(available=False)
    with pytest.raises(RuntimeUnavailableError):
        run(launcher.check())
    with pytest.raises(RuntimeUnavailableError):
        run(launcher.launch(spec()))
    assert launcher.launches == []


def test_specs_named_in_fail_launch_cannot_launch() -> None:
    launcher = FakeLauncher(fail_launch={"broken"})
    with pytest.raises(LaunchError, match="broken"):
        run(launcher.launch(spec("broken")))
    _, status = run(launch_and_finish(launcher, spec("fine")))
    assert status.ok


def test_create_launcher_gives_the_default_fake_for_dry_runs() -> None:
    launcher = create_launcher("fake")
    assert isinstance(launcher, FakeLauncher)
    _, status = run(launch_and_finish(launcher, spec()))
    assert status.ok
