"""Media handlers with ``--external-launch docker`` (issue 11, item 3): the handlers stay resident,
each ffmpeg is a ``pop-handlers`` container with its CPU request, its record is in the attempt row
while it runs, the renditions match a local run's, inputs outside the work directory are read,
and a dead executor's ffmpeg container is reclaimed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.example_media import (
    TRANSCODE_EXAMPLE,
    filled,
    make_clip,
    recorded_externals,
    slow_transcode_agenda,
    transcode_rendition,
)

EXAMPLE = TRANSCODE_EXAMPLE

pytestmark = pytest.mark.usefixtures("handlers_image")


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def externals_of(agenda_id: str, *, running: bool = False) -> list[dict[str, Any]]:
    ids = docker(
        "ps", *([] if running else ["-a"]), "-q",
        "--filter", f"label=pop.agendaId={agenda_id}", "--filter", "label=pop.role=external",
    ).split()  # fmt: skip
    return json.loads(docker("inspect", *ids)) if ids else []


def running_ffmpeg(home: Path) -> list[dict[str, Any]]:
    """The running ffmpeg containers of this test's runs: those mounting its POP_HOME (the
    engine is shared with other tests)."""
    ids = docker("ps", "-q", "--filter", "label=pop.role=external").split()
    found = json.loads(docker("inspect", *ids)) if ids else []
    return [
        container
        for container in found
        if any(str(mount["Source"]).startswith(str(home)) for mount in container["Mounts"])
    ]


def test_each_ffmpeg_is_a_pop_handlers_container_with_its_cpu_and_matches_local(
    run_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    clips = tmp_path / "clips"  # outside POP_HOME and the work directory: mounted read-only
    clips.mkdir()
    agenda = filled(EXAMPLE, make_clip(clips), tmp_path)
    ffmpeg = subprocess.run(
        ["python", "-c", "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()  # the binary the image carries: the same encoder as the containers'

    local = run_pop("run-local", str(agenda), "--json", env={"POP_FFMPEG": ffmpeg})
    on_docker = run_pop("run-local", str(agenda), "--external-launch", "docker", "--keep", "--json")

    assert local.returncode == 0, local.stderr
    assert on_docker.returncode == 0, on_docker.stderr
    progress = json.loads(on_docker.stdout)
    assert transcode_rendition(progress) == transcode_rendition(json.loads(local.stdout))
    agenda_id = progress["agendaId"]
    containers = externals_of(agenda_id)
    assert containers, "no ffmpeg container"
    for container in containers:
        assert container["Config"]["Image"] == "pop-handlers:latest"
        assert container["Path"] == "ffmpeg"  # the image's own, not a path of this host
        assert container["HostConfig"]["NanoCpus"] == 1_000_000_000
        assert container["Config"]["Labels"]["pop.operation"] == "transcode"
    recorded = {external["ref"] for external in recorded_externals(pop_home, agenda_id)}
    assert {container["Id"] for container in containers} <= recorded
    docker("rm", "-f", *[container["Id"] for container in containers])


def test_the_attempt_names_the_ffmpeg_container_while_it_runs(
    start_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    process = start_pop(
        "run-local", str(slow_transcode_agenda(tmp_path)), "--external-launch", "docker", "--json"
    )
    (container,) = wait_for(lambda: running_ffmpeg(pop_home), what="the ffmpeg container")
    agenda_id = container["Config"]["Labels"]["pop.agendaId"]

    refs = wait_for(
        lambda: {e["ref"] for e in recorded_externals(pop_home, agenda_id)},
        what="the external's record in the attempt row",
    )
    still_running = docker("inspect", "-f", "{{.State.Running}}", container["Id"]).strip()

    assert container["Id"] in refs
    assert still_running == "true", "the record came only after the container ended"
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr


def test_a_dead_executors_ffmpeg_container_is_reclaimed_and_the_agenda_resumes(
    start_pop: Any, run_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    short_lease = {"POP_LEASE_SECONDS": "2"}
    agenda = slow_transcode_agenda(tmp_path)
    process = start_pop("run-local", str(agenda), "--external-launch", "docker", env=short_lease)
    (container,) = wait_for(lambda: running_ffmpeg(pop_home), what="the ffmpeg container")
    agenda_id = container["Config"]["Labels"]["pop.agendaId"]
    wait_for(lambda: recorded_externals(pop_home, agenda_id), what="the external's record")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(2.5)  # the lease (2 s) lapses

    reclaimed = run_pop("reclaim", "--older-than", "0s", "--json", env=short_lease)

    assert reclaimed.returncode == 0, reclaimed.stderr
    assert externals_of(agenda_id) == []
    with sqlite3.connect(pop_home / "pop.db") as db:
        outcomes = db.execute(
            "SELECT outcome FROM attempts WHERE agenda_id = ? AND operation = 'transcode'",
            (agenda_id,),
        ).fetchall()
    assert outcomes == [("lost",)]
    resumed = run_pop("run-local", "--resume", agenda_id, "--json", timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    analysis = next(op for op in final["operationProgress"] if op["operation"] == "analysis")
    assert analysis["attemptCount"] == 1  # succeeded before the crash: not run again
