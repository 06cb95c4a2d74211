"""Issue 11 audit, through the real CLI: an unreachable external runtime leaves the agenda
WAITING, and a missing image is one attempt, never retried."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.runtimes.docker.test_runs import containers, shell_agenda, shell_registry


def test_an_unreachable_external_docker_runtime_exits_3_and_the_agenda_waits(
    run_pop: Any, tmp_path: Path
) -> None:
    agenda = tmp_path / "agenda.json"
    agenda.write_text(
        json.dumps({"title": "t", "operations": [{"name": "a", "type": "sample", "payload": {}}]})
    )
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

    ran = run_pop(
        "run-local",
        str(agenda),
        "--launch",
        "local",
        "--external-launch",
        "docker",
        "--json",
        env=nowhere,
    )

    assert ran.returncode == 3, ran.stderr
    error, hint = ran.stderr.splitlines()
    assert error.startswith("error: cannot reach the Docker engine at unix:///nonexistent")
    assert "no such socket" in error
    assert hint.startswith("hint: ") and "dockerd" in hint and "DOCKER_HOST" in hint
    printed = json.loads(ran.stdout)
    assert printed["processingState"] == "WAITING"
    status = run_pop("status", printed["agendaId"], "--json")
    assert status.returncode == 0, status.stderr
    stored = json.loads(status.stdout)
    assert stored["processingState"] == "WAITING"
    assert [op["processingState"] for op in stored["operationProgress"]] == ["WAITING"]
    logs = run_pop("logs", printed["agendaId"], "--json")
    assert logs.returncode == 0, logs.stderr
    assert json.loads(logs.stdout) == []  # no attempt was made


RETRIES = {"limit": 2, "backoffSeconds": 0}


def attempts(run_pop: Any, agenda_id: str) -> list[int]:
    logs = run_pop("logs", agenda_id, "work", "--json")
    assert logs.returncode == 0, logs.stderr
    return [entry["attempt"] for entry in json.loads(logs.stdout)]


def test_a_missing_image_is_one_attempt_although_retries_are_allowed(
    run_pop: Any, tmp_path: Path, docker_engine: Any
) -> None:
    # The same retries do retry a container that fails: they are in force.
    failing = shell_agenda(tmp_path, "echo failing; exit 1", retries=RETRIES)
    busybox = shell_registry(tmp_path, docker_engine.busybox_image)
    retried = run_pop(
        "run-local", str(failing), "--registry", str(busybox), "--launch", "docker", "--json"
    )
    assert retried.returncode == 1, retried.stderr
    assert attempts(run_pop, json.loads(retried.stdout)["agendaId"]) == [1, 2, 3]

    registry = shell_registry(tmp_path, "pop-test-no-such-image:1")
    agenda = shell_agenda(tmp_path, "echo never", retries=RETRIES)

    ran = run_pop(
        "run-local", str(agenda), "--registry", str(registry), "--launch", "docker", "--json"
    )

    assert ran.returncode == 1, ran.stderr
    progress = json.loads(ran.stdout)
    (op,) = progress["operationProgress"]
    assert op["processingStateMessage"] == "failed"
    messages = " ".join(d["message"] for d in op["diagnosticEvents"])
    assert "pop-test-no-such-image:1" in messages and "pop image build" in messages
    assert attempts(run_pop, progress["agendaId"]) == [1]
    assert containers(progress["agendaId"]) == []
