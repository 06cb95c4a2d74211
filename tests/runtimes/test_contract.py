"""The Launcher contract (pop/runtimes/base.py), run against every runtime available here.

Each program is described once (lines to print, exit code, seconds to live, variables to echo)
and handed to the program through its environment; the local runtime runs it with this Python,
the docker runtime with the ``python3`` of the test base image (the interpreter each launcher
declares in its capabilities), the fake runtime plays the same description through its script.
To add a runtime, add a fixture param and a ``Runtime`` for it in ``runtime()``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pop.errors import InputError, LaunchError
from pop.runtimes import (
    CANCELLED,
    EXITED,
    RUNTIME_NAMES,
    TIMED_OUT,
    Handle,
    Launcher,
    LaunchRecord,
    LaunchSpec,
    create_launcher,
)
from pop.runtimes.docker import DockerLauncher
from pop.runtimes.fake import FakeLauncher, FakeRun
from pop.runtimes.kubernetes.config import resolve_target
from pop.runtimes.kubernetes.launcher import KubernetesLauncher
from pop.runtimes.local import LocalLauncher
from tests.kube.fixtures import core_v1, kube_api, kubelet  # noqa: F401

T = TypeVar("T")

PROGRAM_SOURCE = """
import json, os, sys, time
program = json.loads(os.environ["CONTRACT_PROGRAM"])
for line in program["lines"]:
    print(line, flush=True)
for name in program["echo"]:
    print(os.environ.get(name, ""), flush=True)
time.sleep(program["seconds"])
sys.exit(program["exitCode"])
"""

UNLAUNCHABLE = "unlaunchable"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one test body on a fresh event loop, bounded so a hang fails instead of blocking."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout=20))


def program_spec(
    name: str,
    *,
    lines: list[str] | None = None,
    exit_code: int = 0,
    seconds: float = 0.0,
    echo: list[str] | None = None,
    env: dict[str, str] | None = None,
    timeout_seconds: float | None = None,
    python: str = sys.executable,
    image: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> LaunchSpec:
    program = {"lines": lines or [], "exitCode": exit_code, "seconds": seconds, "echo": echo or []}
    return LaunchSpec(
        name=name,
        command=[python, "-c", PROGRAM_SOURCE],
        image=image,
        env={"CONTRACT_PROGRAM": json.dumps(program), **(env or {})},
        timeout_seconds=timeout_seconds,
        labels=dict(labels or {}),
    )


def play_program(spec: LaunchSpec) -> FakeRun:
    """The fake runtime's reading of a program_spec: what the program would print and do."""
    program = json.loads(spec.env["CONTRACT_PROGRAM"])
    echoed = [spec.env.get(name, "") for name in program["echo"]]
    return FakeRun([*program["lines"], *echoed], program["exitCode"], program["seconds"])


@dataclass
class Runtime:
    """A launcher under test, and how contract programs run on it: ``python`` (what its
    capabilities declare) in ``image`` (image runtimes), with ``labels`` on every launch."""

    launcher: Launcher
    unlaunchable_spec: Callable[[], LaunchSpec]
    image: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def program(self, name: str, **fields: Any) -> LaunchSpec:
        """``program_spec`` for this runtime."""
        python = self.launcher.capabilities.python
        return program_spec(name, python=python, image=self.image, labels=self.labels, **fields)


@pytest.fixture(params=["local", "fake", "docker", "kubernetes"])
def runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    if request.param == "local":
        yield Runtime(
            LocalLauncher(timeout_grace_seconds=1.0, cleanup_grace_seconds=1.0),
            lambda: LaunchSpec(name=UNLAUNCHABLE, command=["pop-test-no-such-program"]),
        )
    elif request.param == "fake":
        yield Runtime(
            FakeLauncher(play_program, fail_launch={UNLAUNCHABLE}),
            lambda: program_spec(UNLAUNCHABLE),
        )
    elif request.param == "kubernetes":
        # the simulated cluster (tests/kube): never a cluster run
        kube_api = request.getfixturevalue("kube_api")
        request.getfixturevalue("kubelet")
        launcher = KubernetesLauncher(
            resolve_target({"kubeconfig": str(kube_api.kubeconfig)}, {}),
            retry_delay=0.1,
            timeout_grace_seconds=1.0,
            cleanup_grace_seconds=1.0,
        )
        yield Runtime(
            launcher,
            lambda: LaunchSpec(name=UNLAUNCHABLE, command=["true"]),  # no image: no pod
            image="pop-test:1",
        )
        asyncio.run(launcher.close())
    else:
        engine = request.getfixturevalue("docker_engine")
        launcher = DockerLauncher(
            docker_host=engine.host, timeout_grace_seconds=1.0, cleanup_grace_seconds=1.0
        )
        yield Runtime(
            launcher,
            lambda: LaunchSpec(
                name=UNLAUNCHABLE,
                command=["true"],
                image="pop-test-no-such-image:1",
                labels=engine.labels,
            ),
            image=engine.base_image,
            labels=engine.labels,
        )
        asyncio.run(launcher.close())


async def collect(handle: Handle) -> list[str]:
    return [line async for line in handle.lines()]


async def first_line(handle: Handle) -> str:
    return await anext(aiter(handle.lines()))


def test_every_runtime_implements_the_protocol(runtime: Runtime) -> None:
    assert isinstance(runtime.launcher, Launcher)
    assert runtime.launcher.name in RUNTIME_NAMES


def test_output_lines_arrive_in_order_and_the_iterator_ends(runtime: Runtime) -> None:
    async def body() -> None:
        lines = [f"line {n}" for n in range(50)]
        handle = await runtime.launcher.launch(runtime.program("ordered", lines=lines))
        assert isinstance(handle, Handle)
        assert await collect(handle) == lines
        await handle.wait()
        await handle.cleanup()

    run(body())


def test_a_zero_exit_is_reported_as_exited_and_ok(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("zero"))
        status = await handle.wait()
        assert (status.reason, status.code, status.ok) == (EXITED, 0, True)
        await handle.cleanup()

    run(body())


def test_a_non_zero_exit_is_reported_as_exited_with_its_code(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("three", exit_code=3))
        status = await handle.wait()
        assert (status.reason, status.code, status.ok) == (EXITED, 3, False)
        await handle.cleanup()

    run(body())


def test_cancel_ends_a_long_running_launch_quickly_as_cancelled(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("long", lines=["up"], seconds=60))
        assert await first_line(handle) == "up"
        started = time.monotonic()
        await asyncio.gather(handle.cancel(grace_seconds=60), handle.cancel(grace_seconds=60))
        await handle.cancel(grace_seconds=60)
        status = await handle.wait()
        # the polite stop ended it: far below the 60 s grace (loose for a busy machine)
        assert time.monotonic() - started < 10
        assert status.reason == CANCELLED
        assert not status.ok
        await handle.cleanup()

    run(body())


def test_cancel_of_a_finished_launch_leaves_its_status_alone(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("done", exit_code=4))
        await handle.wait()
        await handle.cancel(grace_seconds=1)
        status = await handle.wait()
        assert (status.reason, status.code) == (EXITED, 4)
        await handle.cleanup()

    run(body())


def test_timeout_ends_a_launch_as_timed_out(runtime: Runtime) -> None:
    async def body() -> None:
        spec = runtime.program("slow", lines=["up"], seconds=60, timeout_seconds=0.3)
        started = time.monotonic()  # before the launch, so the 0.3 s cannot have begun earlier
        handle = await runtime.launcher.launch(spec)
        status = await handle.wait()
        # its 0.3 s, not the program's minute (loose above for a busy machine)
        assert 0.25 < time.monotonic() - started < 10
        assert status.reason == TIMED_OUT
        assert not status.ok
        assert await collect(handle) == ["up"]
        await handle.cleanup()

    run(body())


def test_wait_is_idempotent(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("twice", exit_code=2))
        first, second = await asyncio.gather(handle.wait(), handle.wait())
        assert first == second == await handle.wait()
        await handle.cleanup()

    run(body())


def test_cleanup_is_idempotent_and_safe_after_cancel(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("tidy", lines=["up"], seconds=60))
        await first_line(handle)
        await handle.cancel(grace_seconds=1)
        await handle.wait()
        await handle.cleanup()
        await handle.cleanup()
        assert (await handle.wait()).reason == CANCELLED
        assert await collect(handle) == []

    run(body())


def test_env_reaches_the_program(runtime: Runtime) -> None:
    async def body() -> None:
        spec = runtime.program(
            "env", echo=["POP_TEST_GREETING"], env={"POP_TEST_GREETING": "héllo"}
        )
        handle = await runtime.launcher.launch(spec)
        assert await collect(handle) == ["héllo"]
        await handle.wait()
        await handle.cleanup()

    run(body())


def test_record_is_json_and_round_trips(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("recorded"))
        record = handle.record
        assert record.runtime == runtime.launcher.name
        assert LaunchRecord.from_json(json.loads(json.dumps(record.to_json()))) == record
        await handle.wait()
        await handle.cleanup()

    run(body())


def test_stop_from_a_record_ends_a_running_launch(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("adopted", lines=["up"], seconds=60))
        await first_line(handle)
        record = LaunchRecord.from_json(json.loads(json.dumps(handle.record.to_json())))
        assert await runtime.launcher.stop(record, grace_seconds=1) is True
        status = await handle.wait()
        assert not status.ok
        assert await runtime.launcher.stop(record, grace_seconds=1) is False
        await handle.cleanup()

    run(body())


def test_stop_returns_false_for_a_finished_launch(runtime: Runtime) -> None:
    async def body() -> None:
        handle = await runtime.launcher.launch(runtime.program("finished"))
        await handle.wait()
        await handle.cleanup()
        assert await runtime.launcher.stop(handle.record, grace_seconds=1) is False

    run(body())


def test_a_launch_that_cannot_start_raises_launch_error(runtime: Runtime) -> None:
    async def body() -> None:
        with pytest.raises(LaunchError):
            await runtime.launcher.launch(runtime.unlaunchable_spec())

    run(body())


def test_check_and_close_succeed_on_a_working_runtime(runtime: Runtime) -> None:
    async def body() -> None:
        await runtime.launcher.check()
        await runtime.launcher.close()
        await runtime.launcher.close()

    run(body())


def test_create_launcher_builds_each_available_runtime_by_name() -> None:
    assert create_launcher("local").name == "local"
    assert create_launcher("fake", keep=True).name == "fake"
    # without contacting the engine: check() does that
    assert (
        create_launcher("docker", options={"docker_host": "unix:///nonexistent"}).name == "docker"
    )


def test_create_launcher_builds_kubernetes_from_its_options_without_contacting_it(
    tmp_path: Path,
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: nowhere, context: {cluster: c, user: u}}]\n"
    )
    launcher = create_launcher(
        "kubernetes", options={"kubeconfig": str(kubeconfig), "namespace": "jobs"}
    )
    assert launcher.name == "kubernetes"
    assert isinstance(launcher, KubernetesLauncher) and launcher.namespace == "jobs"
    assert launcher.capabilities.host_cpus is False
    with pytest.raises(InputError, match="no such file"):
        create_launcher("kubernetes", options={"kubeconfig": str(tmp_path / "nope")})


def test_create_launcher_names_the_valid_runtimes_for_an_unknown_name() -> None:
    with pytest.raises(InputError, match="local, docker, kubernetes, fake"):
        create_launcher("podman")


def test_importing_pop_runtimes_loads_no_implementation() -> None:
    code = (
        "import sys, pop.runtimes; "
        "print(sorted(m for m in sys.modules if m.startswith('pop.runtimes.') "
        "or m in ('subprocess', 'docker', 'kubernetes')))"
    )
    project = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=project
    )
    assert result.stdout.strip() == "[]"  # not even the protocol types: they load on use
