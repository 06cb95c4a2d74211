"""The docker runtime on a real engine: what the contract suite does not cover. Containers ended
from outside (``docker kill``, ``docker rm -f``), an engine that stops answering, limits and
mounts as the engine sees them, external children stopped with their parent, records used by
another launcher, listing and removal, ``keep``, name conflicts, and the errors of a missing
image or engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pop.errors import LaunchError, RuntimeUnavailableError
from pop.runtimes import (
    CANCELLED,
    EXITED,
    LOST,
    Handle,
    LaunchRecord,
    LaunchSpec,
    ListingLauncher,
    Mount,
    create_launcher,
)
from pop.runtimes.docker import DockerLauncher
from tests.docker_engine import DockerEngine

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def shell(engine: DockerEngine, name: str, script: str, **fields: Any) -> LaunchSpec:
    """A busybox ``sh -c script`` launch with this session's test labels."""
    labels = {**engine.labels, **fields.pop("labels", {})}
    return LaunchSpec(
        name=name,
        command=["sh", "-c", script],
        image=engine.busybox_image,
        labels=labels,
        **fields,
    )


@contextlib.asynccontextmanager
async def docker_launcher(engine: DockerEngine, **settings: Any) -> AsyncIterator[DockerLauncher]:
    launcher = DockerLauncher(
        docker_host=settings.pop("docker_host", engine.host),
        timeout_grace_seconds=1.0,
        cleanup_grace_seconds=1.0,
        **settings,
    )
    try:
        yield launcher
    finally:
        await launcher.close()


async def first_line(handle: Handle) -> str:
    return await anext(aiter(handle.lines()))


def container_state(engine: DockerEngine, container_id: str) -> dict[str, Any] | None:
    """The engine's inspect of a container, None when it does not exist."""
    import docker

    client = engine.client()
    try:
        return dict(client.api.inspect_container(container_id))
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def test_output_of_both_streams_arrives_and_an_unterminated_last_line_too(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            spec = shell(docker_engine, "streams", "echo out; echo err >&2; printf tail")
            handle = await launcher.launch(spec)
            lines = [line async for line in handle.lines()]
            assert sorted(lines) == ["err", "out", "tail"]
            assert (await handle.wait()).ok
            await handle.cleanup()

    run(body())


def test_docker_kill_from_outside_is_an_exit_with_code_137(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "killed", "echo up; sleep 60"))
            assert await first_line(handle) == "up"
            docker_from_outside(docker_engine, "kill", handle.record.ref)
            status = await handle.wait()
            assert (status.reason, status.code) == (EXITED, 137)
            await handle.cleanup()
            assert container_state(docker_engine, handle.record.ref) is None

    run(body())


def test_docker_rm_f_from_outside_is_lost_container_removed(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "removed", "echo up; sleep 60"))
            assert await first_line(handle) == "up"
            docker_from_outside(docker_engine, "rm", "-f", handle.record.ref)
            status = await handle.wait()
            assert (status.reason, status.code, status.message) == (
                LOST,
                None,
                "container removed",
            )
            await handle.cleanup()  # never raises for a container already gone
            await handle.cleanup()

    run(body())


def test_an_engine_that_stops_answering_loses_the_launch(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    if not docker_engine.host.startswith("unix://"):
        pytest.skip("the engine proxy forwards a unix socket")
    with forwarding_socket(docker_engine.host.removeprefix("unix://"), tmp_path) as proxy:

        async def body() -> None:
            async with docker_launcher(docker_engine, docker_host=proxy.host) as launcher:
                handle = await launcher.launch(shell(docker_engine, "orphan", "echo up; sleep 60"))
                assert await first_line(handle) == "up"
                proxy.stop()  # the engine, as this launcher sees it, is gone
                status = await handle.wait()
                assert (status.reason, status.message) == (
                    LOST,
                    "the Docker engine stopped answering",
                )
                await handle.cleanup()  # nothing to reach: no error either
                # the container still runs on the real engine; the session finalizer removes it
                state = container_state(docker_engine, handle.record.ref)
                assert state is not None and state["State"]["Running"]
                docker_from_outside(docker_engine, "rm", "-f", handle.record.ref)

        run(body())


def test_limits_user_init_and_labels_reach_the_engine(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            spec = shell(
                docker_engine,
                "limited",
                "true",
                cpus=0.5,
                memory="64Mi",
                labels={"pop.agendaId": "a1"},
            )
            handle = await launcher.launch(spec)
            await handle.wait()
            state = container_state(docker_engine, handle.record.ref)
            assert state is not None
            assert state["HostConfig"]["NanoCpus"] == 500_000_000
            assert state["HostConfig"]["Memory"] == 64 * 2**20
            assert state["HostConfig"]["Init"] is True
            assert state["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
            labels = state["Config"]["Labels"]
            assert labels["app.kubernetes.io/managed-by"] == "pop"
            assert labels["pop.launcher"] == launcher.launcher_id
            assert labels["pop.agendaId"] == "a1"
            await handle.cleanup()

    run(body())


def test_sigterm_reaches_the_program_through_init(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            # sleep ignores SIGTERM as PID 1; under docker-init it gets it and ends at once
            handle = await launcher.launch(shell(docker_engine, "init", "echo up; exec sleep 60"))
            await first_line(handle)
            started = time.monotonic()
            await handle.cancel(grace_seconds=30)
            status = await handle.wait()
            assert (status.reason, status.code) == (CANCELLED, 143)
            assert time.monotonic() - started < 15  # not the 30 s grace
            await handle.cleanup()

    run(body())


def test_the_work_dir_is_bind_mounted_and_read_only_mounts_stay_read_only(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    work, media = tmp_path / "work", tmp_path / "media"
    work.mkdir()
    media.mkdir()
    (media / "in.txt").write_text("input\n")
    script = (
        f"cat {media}/in.txt > {work}/out.txt && pwd && "
        f"(echo x > {media}/new.txt) 2>/dev/null || echo read-only"
    )

    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            spec = shell(
                docker_engine,
                "mounts",
                script,
                cwd=str(work),
                mounts=[Mount(str(work), str(work)), Mount(str(media), str(media), True)],
            )
            handle = await launcher.launch(spec)
            assert [line async for line in handle.lines()] == [str(work), "read-only"]
            assert (await handle.wait()).ok
            await handle.cleanup()

    run(body())
    assert (work / "out.txt").read_text() == "input\n"
    assert (work / "out.txt").stat().st_uid == os.getuid()  # the user's file, not root's
    assert not (media / "new.txt").exists()


def test_cancel_stops_the_external_children_labelled_with_the_parent(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            parent = await launcher.launch(
                shell(docker_engine, unique("parent"), "echo up; exec sleep 60")
            )
            await first_line(parent)
            labels = {"pop.parent": parent.record.details["name"], "pop.role": "external"}
            async with docker_launcher(docker_engine) as other:  # as a handler's launcher
                child = await other.launch(
                    shell(docker_engine, "child", "echo up; exec sleep 60", labels=labels)
                )
                await first_line(child)
                await parent.cancel(grace_seconds=5)
                assert (await parent.wait()).reason == CANCELLED
                child_status = await asyncio.wait_for(child.wait(), timeout=15)
                assert (child_status.reason, child_status.code) == (EXITED, 143)
                await child.cleanup()
            await parent.cleanup()

    run(body())


def test_another_launcher_stops_and_removes_a_container_from_its_json_record(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "adopted", "echo up; sleep 60"))
            await first_line(handle)
            record = LaunchRecord.from_json(json.loads(json.dumps(handle.record.to_json())))
            async with docker_launcher(docker_engine) as reclaimer:
                assert await reclaimer.stop(record, grace_seconds=1) is True
                assert container_state(docker_engine, record.ref) is None
                assert await reclaimer.stop(record, grace_seconds=1) is False
            assert not (await handle.wait()).ok
            await handle.cleanup()

    run(body())


def test_stop_with_keep_stops_the_container_and_leaves_it(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "kept", "echo up; sleep 60"))
            await first_line(handle)
            async with docker_launcher(docker_engine, keep=True) as reclaimer:
                assert await reclaimer.stop(handle.record, grace_seconds=1) is True
            state = container_state(docker_engine, handle.record.ref)
            assert state is not None and not state["State"]["Running"]
            await handle.wait()
            await handle.cleanup()
            assert container_state(docker_engine, handle.record.ref) is None

    run(body())


def test_a_record_of_another_engine_is_left_alone(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "elsewhere", "echo up; sleep 60"))
            await first_line(handle)
            details = {**handle.record.details, "engineId": "ANOTHER:ENGINE"}
            record = LaunchRecord("docker", handle.record.ref, details)
            async with docker_launcher(docker_engine) as reclaimer:
                assert await reclaimer.stop(record, grace_seconds=1) is False
            state = container_state(docker_engine, handle.record.ref)
            assert state is not None and state["State"]["Running"]
            await handle.cancel(grace_seconds=1)
            await handle.cleanup()

    run(body())


def test_keep_leaves_the_container_after_cleanup_and_list_and_remove_find_it(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        mark = {"pop.operation": unique("listed")}
        async with docker_launcher(docker_engine, keep=True) as launcher:
            assert isinstance(launcher, ListingLauncher)
            before = time.time()
            handle = await launcher.launch(shell(docker_engine, "listed", "exit 2", labels=mark))
            assert (await handle.wait()).code == 2
            await handle.cleanup()
            assert container_state(docker_engine, handle.record.ref) is not None
            found = [
                info
                for info in await launcher.list_launches()
                if info.labels.get("pop.operation") == mark["pop.operation"]
            ]
            assert len(found) == 1
            info = found[0]
            assert info.record.ref == handle.record.ref
            assert info.record.details["name"] == handle.record.details["name"]
            assert not info.running
            assert info.created_at is not None and info.finished_at is not None
            assert before - 5 < info.created_at <= info.finished_at < time.time() + 5
            await launcher.remove(info.record)
            await launcher.remove(info.record)  # already gone: no error
            assert container_state(docker_engine, handle.record.ref) is None

    run(body())


def test_list_launches_shows_a_running_container_as_running(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "running", "echo up; sleep 60"))
            await first_line(handle)
            infos = {info.record.ref: info for info in await launcher.list_launches()}
            assert infos[handle.record.ref].running
            assert infos[handle.record.ref].finished_at is None
            await handle.cancel(grace_seconds=1)
            await handle.cleanup()

    run(body())


def test_cleanup_removes_the_container(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            handle = await launcher.launch(shell(docker_engine, "removed-at-cleanup", "true"))
            await handle.wait()
            assert container_state(docker_engine, handle.record.ref) is not None
            await handle.cleanup()
            assert container_state(docker_engine, handle.record.ref) is None

    run(body())


def test_a_taken_name_gets_a_suffix(docker_engine: DockerEngine) -> None:
    async def body() -> None:
        name = unique("twin")
        async with docker_launcher(docker_engine) as launcher:
            first = await launcher.launch(shell(docker_engine, name, "echo up; sleep 60"))
            second = await launcher.launch(shell(docker_engine, name, "echo up; sleep 60"))
            assert first.record.details["name"] == name
            suffixed = second.record.details["name"]
            assert suffixed.startswith(f"{name}-") and len(suffixed) == len(name) + 5
            for handle in (first, second):
                await handle.cancel(grace_seconds=1)
                await handle.cleanup()

    run(body())


def test_a_missing_image_is_a_permanent_launch_error_naming_pop_image_build(
    docker_engine: DockerEngine,
) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            spec = LaunchSpec(name="ghost", command=["true"], image="pop-test-no-such-image:1")
            with pytest.raises(LaunchError) as raised:
                await launcher.launch(spec)
            assert raised.value.permanent
            assert "pop-test-no-such-image:1" in raised.value.message
            assert "pop image build" in str(raised.value.hint)
            assert "build it with `pop image build`" in raised.value.message

    run(body())


def test_a_mount_of_a_missing_folder_is_a_permanent_launch_error(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    async def body() -> None:
        async with docker_launcher(docker_engine) as launcher:
            missing = str(tmp_path / "missing")
            spec = shell(docker_engine, "no-source", "true", mounts=[Mount(missing, missing)])
            with pytest.raises(LaunchError, match="missing") as raised:
                await launcher.launch(spec)
            assert raised.value.permanent

    run(body())


def test_check_without_an_engine_says_what_to_do() -> None:
    async def body() -> None:
        launcher = DockerLauncher(docker_host="unix:///nonexistent")
        with pytest.raises(RuntimeUnavailableError) as raised:
            await launcher.check()
        error = raised.value
        assert error.exit_code == 3
        assert "unix:///nonexistent" in error.message
        assert "no such socket" in error.message
        hint = str(error.hint)
        assert "dockerd" in hint and "DOCKER_HOST" in hint and "docker group" in hint
        with pytest.raises(RuntimeUnavailableError):
            await launcher.launch(LaunchSpec(name="x", command=["true"], image="pop-base:x"))
        await launcher.close()

    run(body())


def test_check_against_a_socket_nobody_listens_on_says_connection_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dead.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()  # the file stays, nobody listens

    async def body() -> None:
        launcher = DockerLauncher(docker_host=f"unix://{path}")
        with pytest.raises(RuntimeUnavailableError, match="connection refused"):
            await launcher.check()
        await launcher.close()

    run(body())


def test_docker_host_comes_from_the_options_else_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///from-env.sock")
    from_env = create_launcher("docker")
    from_options = create_launcher("docker", options={"docker_host": "unix:///from-options.sock"})
    assert isinstance(from_env, DockerLauncher) and isinstance(from_options, DockerLauncher)
    assert from_env.docker_host == "unix:///from-env.sock"
    assert from_options.docker_host == "unix:///from-options.sock"
    assert from_env.capabilities.python == "python3"
    assert from_env.capabilities.images and from_env.capabilities.host_cpus

    async def body() -> None:
        with pytest.raises(RuntimeUnavailableError, match=r"from-env\.sock"):
            await from_env.check()

    run(body())


def test_importing_the_docker_runtime_does_not_load_the_sdk() -> None:
    code = (
        "import sys, pop.runtimes.docker; "
        "print(sorted(m for m in sys.modules if m == 'docker' or m.startswith('docker.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- helpers -----------------------------------------------------------------------------------


def docker_from_outside(engine: DockerEngine, *args: str) -> None:
    """A ``docker`` command from outside pop: through the SDK's own client of the engine."""
    client = engine.client()
    try:
        container = client.containers.get(args[-1])
        if args[0] == "kill":
            container.kill()
        elif args[:2] == ("rm", "-f"):
            container.remove(force=True)
        else:
            raise ValueError(args)
    finally:
        client.close()


class ForwardingSocket:
    """A unix socket that forwards every connection to the engine's socket; :meth:`stop` closes
    it and every connection, so a client of it sees the engine stop answering."""

    def __init__(self, target: str, path: Path) -> None:
        self.path = path
        self.host = f"unix://{path}"
        self._target = target
        self._sockets: list[socket.socket] = []
        self._stopped = False
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(path))
        self._listener.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._listener.close()
            self.path.unlink(missing_ok=True)
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self._target)
            with self._lock:
                if self._stopped:  # accepted while stop() ran: it would outlive the stop
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def forwarding_socket(target: str, folder: Path) -> Iterator[ForwardingSocket]:
    proxy = ForwardingSocket(target, folder / "engine.sock")
    try:
        yield proxy
    finally:
        proxy.stop()
