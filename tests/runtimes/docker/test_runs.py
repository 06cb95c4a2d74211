"""Agendas on the docker runtime through the real CLI (issue 11's acceptance): the same results as
local, containers gone afterwards (kept with ``--keep``), timeouts, kills and removals from
outside, Ctrl-C, an engine out of reach, and a dead executor's containers reclaimed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import comparable, wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
MANAGED = "app.kubernetes.io/managed-by=pop"

pytestmark = pytest.mark.usefixtures("docker_engine")


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {done.stderr}")
    return done.stdout


def containers(agenda_id: str, *, running_only: bool = False) -> list[dict[str, Any]]:
    """The engine's pop containers of one agenda, inspected."""
    ids = docker(
        "ps", *([] if running_only else ["-a"]), "-q", "--filter", f"label=pop.agendaId={agenda_id}"
    ).split()
    return json.loads(docker("inspect", *ids)) if ids else []


def shell_registry(tmp_path: Path, image: str) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text(f'handlers:\n  shell: {{command: ["sh", "-c"], image: "{image}"}}\n')
    return path


def shell_agenda(tmp_path: Path, script: str, **params: Any) -> Path:
    path = tmp_path / "agenda.json"
    op = {"name": "work", "type": "shell", "payload": {"args": [script]}, "params": params}
    path.write_text(json.dumps({"title": "docker", "operations": [op]}))
    return path


def test_hello_on_docker_equals_local_and_leaves_no_container(
    run_pop: Any, handlers_image: str
) -> None:
    local = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json")
    docker_run = run_pop("run-local", str(EXAMPLES / "hello.json"), "--launch", "docker", "--json")

    assert local.returncode == 0, local.stderr
    assert docker_run.returncode == 0, docker_run.stderr
    on_docker = json.loads(docker_run.stdout)
    assert comparable(on_docker) == comparable(json.loads(local.stdout))
    assert containers(on_docker["agendaId"]) == []


def test_keep_leaves_one_container_per_launched_op_labelled_with_its_attempt(
    run_pop: Any, handlers_image: str
) -> None:
    ran = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "docker", "--keep", "--json"
    )

    assert ran.returncode == 0, ran.stderr
    agenda_id = json.loads(ran.stdout)["agendaId"]
    kept = containers(agenda_id)
    # prepare, shout, whisper and combine are launched `sample` ops; `note` runs resident
    assert sorted(c["Config"]["Labels"]["pop.operation"] for c in kept) == [
        "combine",
        "prepare",
        "shout",
        "whisper",
    ]
    for container in kept:
        labels = container["Config"]["Labels"]
        assert labels["pop.attempt"] == "1" and labels["app.kubernetes.io/managed-by"] == "pop"
        assert container["Config"]["Image"] == "pop-handlers:latest"
        assert container["State"]["Status"] == "exited"
    docker("rm", "-f", *[c["Id"] for c in kept])


def test_a_timeout_fails_the_op_and_the_container_goes(
    run_pop: Any, tmp_path: Path, docker_engine: Any
) -> None:
    registry = shell_registry(tmp_path, docker_engine.busybox_image)
    agenda = shell_agenda(tmp_path, "echo started; sleep 60", timeoutSeconds=2)

    ran = run_pop(
        "run-local", str(agenda), "--registry", str(registry), "--launch", "docker", "--json"
    )

    assert ran.returncode == 1, ran.stderr
    progress = json.loads(ran.stdout)
    (op,) = progress["operationProgress"]
    messages = [d["message"] for d in op["diagnosticEvents"]]
    assert "operation 'work' timed out after 2 s" in messages
    assert containers(progress["agendaId"]) == []


def _started(start_pop: Any, tmp_path: Path, image: str, script: str) -> tuple[Any, str]:
    registry = shell_registry(tmp_path, image)
    agenda = shell_agenda(tmp_path, script)
    process = start_pop(
        "run-local", str(agenda), "--registry", str(registry), "--launch", "docker", "--json"
    )
    ids = wait_for(
        lambda: docker(
            "ps", "-q", "--filter", "label=pop.operation=work", "--filter", f"label={MANAGED}"
        ).split(),
        what="the op's container",
    )
    (agenda_id,) = {
        c["Config"]["Labels"]["pop.agendaId"] for c in json.loads(docker("inspect", *ids))
    }
    return process, agenda_id


SCRIPT = "for i in $(seq 1 12); do echo line $i; done; sleep 60"


def test_docker_kill_fails_the_op_with_exit_137_and_its_last_lines(
    start_pop: Any, tmp_path: Path, docker_engine: Any
) -> None:
    process, agenda_id = _started(start_pop, tmp_path, docker_engine.busybox_image, SCRIPT)
    wait_for(
        lambda: "line 12" in docker("logs", containers(agenda_id)[0]["Id"]), what="the last line"
    )
    docker("kill", containers(agenda_id, running_only=True)[0]["Id"])
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    (op,) = json.loads(stdout)["operationProgress"]
    (diagnostic,) = [d for d in op["diagnosticEvents"] if "137" in d["message"]]
    assert diagnostic["message"] == "command sh exited with code 137"
    assert diagnostic["payload"] == [f"line {n}" for n in range(3, 13)]
    assert containers(agenda_id) == []


def test_a_container_removed_from_outside_fails_the_op_as_removed(
    start_pop: Any, tmp_path: Path, docker_engine: Any
) -> None:
    process, agenda_id = _started(start_pop, tmp_path, docker_engine.busybox_image, SCRIPT)
    docker("rm", "-f", containers(agenda_id)[0]["Id"])
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 1, stderr
    (op,) = json.loads(stdout)["operationProgress"]
    assert any("container removed" in d["message"] for d in op["diagnosticEvents"]), op


def test_ctrl_c_exits_130_and_leaves_no_container_running(
    start_pop: Any, tmp_path: Path, docker_engine: Any
) -> None:
    process, agenda_id = _started(start_pop, tmp_path, docker_engine.busybox_image, SCRIPT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert containers(agenda_id) == []


def test_an_engine_out_of_reach_exits_3_and_the_agenda_runs_on_resume(
    run_pop: Any, handlers_image: str
) -> None:
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    first = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "docker", "--json", env=nowhere
    )

    assert first.returncode == 3
    error, hint = first.stderr.splitlines()
    assert error.startswith("error: cannot reach the Docker engine at unix:///nonexistent")
    assert hint.startswith("hint: ")
    waiting = json.loads(first.stdout)
    assert waiting["processingState"] == "WAITING"

    resumed = run_pop("run-local", "--resume", waiting["agendaId"], "--json")

    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["processingStateMessage"] == "succeeded"


def test_a_dead_executors_container_is_stopped_by_reclaim_and_the_agenda_resumes(
    start_pop: Any, run_pop: Any, tmp_path: Path, docker_engine: Any, pop_home: Path
) -> None:
    registry = shell_registry(tmp_path, docker_engine.busybox_image)
    agenda = tmp_path / "agenda.json"
    slow = 'if [ "$POP_ATTEMPT" -gt 1 ]; then echo again; else sleep 60; fi'
    agenda.write_text(
        json.dumps(
            {
                "title": "reclaim",
                "operations": [
                    {"name": "first", "type": "shell", "payload": {"args": ["echo once"]}},
                    {
                        "name": "work",
                        "type": "shell",
                        "payload": {"args": [slow]},
                        "params": {"dependsOn": "first"},
                    },
                ],
            }
        )
    )
    short_lease = {"POP_LEASE_SECONDS": "2"}
    process = start_pop(
        "run-local", str(agenda), "--registry", str(registry), "--launch", "docker",
        env=short_lease,
    )  # fmt: skip
    ids = wait_for(
        lambda: docker("ps", "-q", "--filter", "label=pop.operation=work").split(),
        what="the op's container",
    )
    (agenda_id,) = {
        c["Config"]["Labels"]["pop.agendaId"] for c in json.loads(docker("inspect", *ids))
    }
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(2.5)  # the lease (2 s) lapses

    reclaimed = run_pop("reclaim", "--older-than", "0s", "--json", env=short_lease)

    assert reclaimed.returncode == 0, reclaimed.stderr
    assert containers(agenda_id) == []
    status = json.loads(run_pop("status", agenda_id, "--json").stdout)
    assert status["processingState"] == "WAITING"
    with sqlite3.connect(pop_home / "pop.db") as db:
        outcomes = db.execute(
            "SELECT outcome FROM attempts WHERE operation = 'work' ORDER BY id"
        ).fetchall()
    assert outcomes == [("lost",)]
    resumed = run_pop("run-local", "--resume", agenda_id, "--registry", str(registry), "--json")
    assert resumed.returncode == 0, resumed.stderr
    final = json.loads(resumed.stdout)
    first = next(op for op in final["operationProgress"] if op["operation"] == "first")
    assert first["attemptCount"] == 1  # succeeded before the crash: not launched again
