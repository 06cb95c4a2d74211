"""The launch reaper and ``pop reap containers`` on a real Docker engine.

Containers are started with ``keep=True`` by the docker launcher (so they carry pop's labels),
each test with a label of its own, and every reaper pass here is limited to that label
(``selector`` / ``--selector``): other tests' containers on the same engine are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import subprocess
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pop.api import Client
from pop.runtimes.base import LaunchInfo, LaunchRecord, LaunchSpec
from pop.runtimes.docker import DockerLauncher
from pop.services.launch_reaper import (
    KEPT,
    OPEN_ATTEMPT,
    REMOVED,
    RUNNING,
    TOO_RECENT,
    WOULD_REMOVE,
    ReapedLaunch,
    open_launch_keys,
    reap_launches,
)
from tests.conftest import EXAMPLES
from tests.docker_engine import DockerEngine

T = TypeVar("T")
RunPop = Callable[..., subprocess.CompletedProcess[str]]
MARK = "pop.test.reaper"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=90))


@pytest.fixture
def mark() -> str:
    """This test's own label value: every container here has it, every pass selects it."""
    return secrets.token_hex(4)


@pytest.fixture
def containers(docker_engine: DockerEngine, mark: str) -> Iterator[Callable[..., str]]:
    """``start(script, **labels)``: a kept busybox container with pop's labels; its id, once it
    ran (``wait=False``: at once). Whatever is left is removed at teardown."""
    started: list[str] = []

    async def launch(script: str, wait: bool, labels: dict[str, str]) -> str:
        launcher = DockerLauncher(docker_host=docker_engine.host, keep=True)
        try:
            spec = LaunchSpec(
                name=f"reaper-{secrets.token_hex(3)}",
                command=["sh", "-c", script],
                image=docker_engine.busybox_image,
                labels={**docker_engine.labels, MARK: mark, **labels},
            )
            handle = await launcher.launch(spec)
            if wait:
                await handle.wait()
                await handle.cleanup()  # kept: the container stays
            return handle.record.ref
        finally:
            await launcher.close()

    def start(script: str = "true", *, wait: bool = True, **labels: str) -> str:
        container_id = run(
            launch(script, wait, {k.replace("_", "."): v for k, v in labels.items()})
        )
        started.append(container_id)
        return container_id

    yield start
    client = docker_engine.client()
    try:
        for container_id in started:
            with contextlib.suppress(Exception):  # removed by the test itself
                client.api.remove_container(container_id, force=True)
    finally:
        client.close()


def exists(engine: DockerEngine, container_id: str) -> bool:
    client = engine.client()
    try:
        return any(c.id == container_id for c in client.containers.list(all=True))
    finally:
        client.close()


def reap(
    engine: DockerEngine, mark: str, *, older_than: float = 0, dry_run: bool, **keys: Any
) -> dict[str, ReapedLaunch]:
    async def body() -> list[ReapedLaunch]:
        launcher = DockerLauncher(docker_host=engine.host)
        try:
            return await reap_launches(
                launcher,
                older_than_seconds=older_than,
                dry_run=dry_run,
                open_refs=keys.get("open_refs", set()),
                open_attempts=keys.get("open_attempts", set()),
                selector={MARK: mark},
            )
        finally:
            await launcher.close()

    return {launch.ref: launch for launch in run(body())}


def test_a_dry_run_lists_a_finished_container_past_the_cutoff_and_removes_nothing(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str
) -> None:
    finished = containers()
    reaped = reap(docker_engine, mark, dry_run=True)
    assert list(reaped) == [finished]
    assert reaped[finished].action == WOULD_REMOVE
    assert reaped[finished].status == "would remove"
    assert exists(docker_engine, finished)


def test_without_dry_run_a_finished_container_past_the_cutoff_is_removed(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str
) -> None:
    finished = containers("exit 3")
    reaped = reap(docker_engine, mark, dry_run=False)
    assert reaped[finished].action == REMOVED
    assert not exists(docker_engine, finished)


def test_a_running_container_is_never_removed(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str
) -> None:
    running = containers("sleep 120", wait=False)
    reaped = reap(docker_engine, mark, dry_run=False)
    assert (reaped[running].action, reaped[running].reason) == (KEPT, RUNNING)
    assert reaped[running].status == "kept: running"
    assert exists(docker_engine, running)


def test_containers_of_open_attempts_are_kept_by_ref_and_by_labels(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str
) -> None:
    by_ref = containers()
    by_labels = containers(pop_agendaId="agenda-1", pop_operation="probe", pop_attempt="2")
    other_attempt = containers(pop_agendaId="agenda-1", pop_operation="probe", pop_attempt="1")
    reaped = reap(
        docker_engine,
        mark,
        dry_run=False,
        open_refs={by_ref},
        open_attempts={("agenda-1", "probe", "2")},
    )
    assert reaped[by_ref].status == reaped[by_labels].status == "kept: open attempt"
    assert reaped[other_attempt].action == REMOVED
    assert exists(docker_engine, by_ref) and exists(docker_engine, by_labels)
    assert not exists(docker_engine, other_attempt)


def test_a_container_that_finished_after_the_cutoff_is_kept(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str
) -> None:
    recent = containers()
    reaped = reap(docker_engine, mark, older_than=3600, dry_run=False)
    assert (reaped[recent].action, reaped[recent].reason) == (KEPT, TOO_RECENT)
    assert reaped[recent].age_seconds is not None and reaped[recent].age_seconds < 3600
    assert exists(docker_engine, recent)


def test_open_launch_keys_take_each_open_attempts_launch_and_externals() -> None:
    rows = [
        {
            "agendaId": "a",
            "operation": "transcode",
            "number": 1,
            "launched": {
                "runtime": "resident",
                "ref": "pid:1",
                "externals": [{"ref": "c1", "endedTime": 5}, {"ref": "c2"}, {"name": "x"}],
            },
        },
        {"agendaId": "a", "operation": "probe", "number": 2, "launched": None},
        {"agendaId": "a", "operation": None, "number": 1, "launched": "unreadable"},
    ]
    refs, keys = open_launch_keys(rows)
    assert refs == {"pid:1", "c1", "c2"}
    assert keys == {("a", "transcode", "1"), ("a", "probe", "2")}


def test_launches_without_pops_label_are_not_reaped() -> None:
    class Listing:
        removed: list[str] = []

        async def list_launches(self) -> list[LaunchInfo]:
            record = LaunchRecord("docker", "foreign")
            return [LaunchInfo(record, {"app": "other"}, running=False, finished_at=1.0)]

        async def remove(self, record: LaunchRecord) -> None:
            self.removed.append(record.ref)

    listing = Listing()
    reaped = run(
        reap_launches(listing, older_than_seconds=0, dry_run=False, open_refs=set())  # type: ignore[arg-type]
    )
    assert reaped == [] and listing.removed == []


# -- pop reap containers -----------------------------------------------------------------------


def open_attempt_for(container_id: str) -> str:
    """A stored agenda (examples/hello.json) with an open attempt that launched ``container_id``
    (POP_HOME from the pop_home fixture); the agenda id."""
    client = Client()
    try:
        submission = client.submit(EXAMPLES / "hello.json")
        agenda_id = str(submission.agenda.id)
        attempt_id = client.store.attempts.start(
            agenda_id, "prepare", 1, executor="test", runtime="docker"
        )
        client.store.attempts.record_launch(
            attempt_id, LaunchRecord("docker", container_id, {"name": "x"}).to_json()
        )
        return agenda_id
    finally:
        client.close()


def test_reap_containers_dry_run_lists_and_removes_none(
    docker_engine: DockerEngine, containers: Callable[..., str], mark: str, run_pop: RunPop
) -> None:
    finished = containers(pop_agendaId="0123456789abcdef", pop_operation="shout")
    completed = run_pop(
        "reap", "containers", "--older-than", "0s", "--dry-run", "--selector", f"{MARK}={mark}"
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith(f"{finished[:12]}  reaper-")
    assert "  01234567/shout  " in lines[0]
    assert lines[0].endswith("  would remove")
    assert lines[-1] == "would remove 1 container, kept 0 (cutoff 0s)"
    assert exists(docker_engine, finished)


def test_reap_containers_removes_finished_ones_and_keeps_running_and_open_attempts(
    docker_engine: DockerEngine,
    containers: Callable[..., str],
    mark: str,
    run_pop: RunPop,
    pop_home: Path,
) -> None:
    finished = containers()
    running = containers("sleep 120", wait=False)
    in_open_attempt = containers()
    open_attempt_for(in_open_attempt)
    completed = run_pop(
        "reap", "containers", "--older-than", "0s", "--selector", f"{MARK}={mark}", "--json"
    )
    assert completed.returncode == 0, completed.stderr
    reaped = {item["ref"]: item for item in json.loads(completed.stdout)}
    assert (reaped[finished]["action"], reaped[finished]["reason"]) == ("removed", None)
    assert (reaped[running]["action"], reaped[running]["reason"]) == ("kept", "running")
    assert reaped[in_open_attempt]["reason"] == OPEN_ATTEMPT
    assert reaped[running]["running"] is True and reaped[finished]["finishedAt"] > 0
    assert not exists(docker_engine, finished)
    assert exists(docker_engine, running) and exists(docker_engine, in_open_attempt)
    human = run_pop("reap", "containers", "--older-than", "0s", "--selector", f"{MARK}={mark}")
    assert human.returncode == 0, human.stderr
    statuses = sorted(line.rsplit("  ", 1)[-1] for line in human.stdout.splitlines()[:-1])
    assert statuses == ["kept: open attempt", "kept: running"]


def test_reap_containers_without_an_engine_is_exit_3(run_pop: RunPop) -> None:
    completed = run_pop("reap", "containers", env={"DOCKER_HOST": "unix:///nonexistent"})
    assert completed.returncode == 3
    assert completed.stderr.startswith("error: cannot reach the Docker engine")


@pytest.mark.parametrize("args", [["--older-than", "soon"], ["--selector", "no-equals"]])
def test_reap_containers_refuses_bad_options_with_exit_2(args: list[str], run_pop: RunPop) -> None:
    completed = run_pop("reap", "containers", *args)
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: ")


@pytest.mark.timeout(900)
def test_kept_containers_of_a_docker_run_are_listed_then_removed(
    docker_engine: DockerEngine, handlers_image: str, run_pop: RunPop
) -> None:
    ran = run_pop(
        "run-local",
        str(EXAMPLES / "hello.json"),
        "--launch",
        "docker",
        "--keep",
        "--json",
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    agenda_id = json.loads(ran.stdout)["agendaId"]
    selector = f"pop.agendaId={agenda_id}"
    listed = run_pop(
        "reap", "containers", "--older-than", "0s", "--dry-run", "--json", "--selector", selector
    )
    assert listed.returncode == 0, listed.stderr
    launches = json.loads(listed.stdout)
    operations = sorted(item["operation"] for item in launches)
    assert operations == ["combine", "prepare", "shout", "whisper"]  # "note" is resident
    assert {item["action"] for item in launches} == {"would remove"}
    removed = run_pop("reap", "containers", "--older-than", "0s", "--json", "--selector", selector)
    assert {item["action"] for item in json.loads(removed.stdout)} == {"removed"}
    assert all(not exists(docker_engine, item["ref"]) for item in launches)
