"""``pop run-local --resume``: each launch option given on the command line replaces the stored
value, each one not given keeps it (issue 10 point 12). The stored settings are read from the
store, and the CPU budget is seen at work: two one-CPU ops overlap only with two CPUs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunPop = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "registry.yaml"
    path.write_text('handlers:\n  sh: {command: ["sh", "-c"]}\n', encoding="utf-8")
    return path


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    """While this file is missing both ops fail at once; once it exists each sleeps 1 s."""
    return tmp_path / "ready"


@pytest.fixture
def agenda(tmp_path: Path, marker: Path) -> Path:
    script = f"test -f '{marker}' && sleep 1"
    operations = [
        {"name": name, "type": "sh", "payload": {"args": [script]}} for name in ("x", "y")
    ]
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"title": "two", "operations": operations}), encoding="utf-8")
    return path


def launch_settings(home: Path, agenda_id: str) -> dict[str, Any]:
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    try:
        (text,) = connection.execute(
            "SELECT launch FROM agendas WHERE id = ?", (agenda_id,)
        ).fetchone()
    finally:
        connection.close()
    settings: dict[str, Any] = json.loads(text)
    return settings


def first_run(run_pop: RunPop, agenda: Path, registry: Path, *options: str) -> str:
    """Run the agenda once (it fails: the marker is missing); its id."""
    completed = run_pop("run-local", str(agenda), "--registry", str(registry), "--json", *options)
    assert completed.returncode == 1, completed.stderr
    agenda_id: str = json.loads(completed.stdout)["agendaId"]
    return agenda_id


def resume(run_pop: RunPop, agenda_id: str, registry: Path, *options: str) -> dict[str, Any]:
    completed = run_pop(
        "run-local", "--resume", agenda_id, "--registry", str(registry), "--json", *options
    )
    assert completed.returncode == 0, completed.stderr
    progress: dict[str, Any] = json.loads(completed.stdout)
    return progress


def ran_together(progress: dict[str, Any]) -> bool:
    """Whether ops x and y were running at the same time (their recorded intervals overlap)."""
    x, y = sorted(progress["operationProgress"], key=lambda op: op["operation"])
    return bool(x["startedTime"] < y["completedTime"] and y["startedTime"] < x["completedTime"])


FIRST = ["--cpus", "1", "--concurrency", "7", "--keep", "--external-launch", "fake"]
STORED = {
    "launch": "local",
    "externalLaunch": "fake",
    "concurrency": 7,
    "cpus": 1.0,
    "keep": True,
    "runtimeOptions": {},
}


def test_cpus_alone_on_resume_replaces_the_stored_cpus_and_keeps_the_rest(
    run_pop: RunPop, agenda: Path, registry: Path, marker: Path, pop_home: Path
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, *FIRST)
    assert launch_settings(pop_home, agenda_id) == STORED
    marker.touch()

    progress = resume(run_pop, agenda_id, registry, "--cpus", "2")

    assert progress["processingStateMessage"] == "succeeded"
    assert ran_together(progress), "two CPUs: both one-CPU ops run at once"
    assert launch_settings(pop_home, agenda_id) == {**STORED, "cpus": 2.0}


def test_resume_without_options_keeps_every_stored_setting(
    run_pop: RunPop, agenda: Path, registry: Path, marker: Path, pop_home: Path
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, *FIRST)
    marker.touch()

    progress = resume(run_pop, agenda_id, registry)

    assert progress["processingStateMessage"] == "succeeded"
    assert not ran_together(progress), "the stored budget of one CPU runs one op at a time"
    assert launch_settings(pop_home, agenda_id) == STORED


@pytest.mark.parametrize(
    ("options", "changed"),
    [
        (["--no-keep"], {"keep": False}),
        (["--external-launch", "local"], {"externalLaunch": "local"}),
        (["--concurrency", "3"], {"concurrency": 3}),
        (["--launch", "fake"], {"launch": "fake"}),
        (["--keep", "--concurrency", "2"], {"concurrency": 2}),
    ],
    ids=["--no-keep", "--external-launch", "--concurrency", "--launch", "two options"],
)
def test_each_option_given_on_resume_replaces_only_its_stored_value(
    options: list[str],
    changed: dict[str, Any],
    run_pop: RunPop,
    agenda: Path,
    registry: Path,
    marker: Path,
    pop_home: Path,
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, *FIRST)
    marker.touch()

    resume(run_pop, agenda_id, registry, *options)

    assert launch_settings(pop_home, agenda_id) == {**STORED, **changed}


def test_a_fresh_run_stores_the_defaults_for_options_not_given(
    run_pop: RunPop, agenda: Path, registry: Path, pop_home: Path
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, "--no-keep")

    assert launch_settings(pop_home, agenda_id) == {
        "launch": "local",
        "externalLaunch": None,
        "concurrency": 50,
        "cpus": None,
        "keep": False,
        "runtimeOptions": {},
    }


def test_a_runtime_out_of_reach_on_resume_exits_3_and_keeps_the_stored_settings(
    run_pop: RunPop, agenda: Path, registry: Path, pop_home: Path
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, *FIRST)

    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    completed = run_pop(
        "run-local",
        "--resume",
        agenda_id,
        "--registry",
        str(registry),
        "--launch",
        "docker",
        env=nowhere,
    )

    assert completed.returncode == 3
    assert completed.stderr.startswith("error: cannot reach the Docker engine"), completed.stderr
    assert launch_settings(pop_home, agenda_id) == STORED


def test_a_bad_option_value_on_resume_exits_2_and_changes_nothing(
    run_pop: RunPop,
    agenda: Path,
    registry: Path,
    pop_home: Path,
    store_snapshot: Callable[[Path], Any],
) -> None:
    agenda_id = first_run(run_pop, agenda, registry, *FIRST)
    before = store_snapshot(pop_home)

    completed = run_pop("run-local", "--resume", agenda_id, "--concurrency", "0")

    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert lines[0].startswith("error: ") and "--concurrency" in lines[0]
    assert len(lines) <= 2 and all(line.startswith("hint: ") for line in lines[1:])
    assert store_snapshot(pop_home) == before


def test_run_local_help_offers_keep_and_no_keep(run_pop: RunPop) -> None:
    completed = run_pop("run-local", "-h")

    assert completed.returncode == 0
    assert "--keep" in completed.stdout and "--no-keep" in completed.stdout


def test_the_docker_host_is_stored_with_the_agenda_and_used_again_on_resume(
    run_pop: RunPop, agenda: Path, registry: Path, pop_home: Path
) -> None:
    host = "unix:///nonexistent/pop-test-docker.sock"
    first = run_pop(
        "run-local", str(agenda), "--registry", str(registry), "--launch", "docker",
        "--docker-host", host, "--json",
    )  # fmt: skip
    assert first.returncode == 3, first.stderr
    agenda_id = json.loads(first.stdout)["agendaId"]
    assert launch_settings(pop_home, agenda_id)["runtimeOptions"] == {"docker_host": host}

    again = run_pop("run-local", "--resume", agenda_id, "--registry", str(registry))

    assert again.returncode == 3
    assert again.stderr.startswith(f"error: cannot reach the Docker engine at {host}")


def test_an_agenda_run_by_the_executor_keeps_the_settings_it_ran_with(
    run_pop: RunPop, agenda: Path, registry: Path, marker: Path, pop_home: Path
) -> None:
    """The reclaimer and a later resume rebuild the executor's launchers from these."""
    marker.touch()
    submitted = run_pop("submit", str(agenda), "--registry", str(registry))
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = submitted.stdout.strip()

    ran = run_pop(
        "executor", "--once", "--registry", str(registry), "--cpus", "1", "--keep",
        "--docker-host", "unix:///run/other-engine.sock",
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    settings = launch_settings(pop_home, agenda_id)
    assert (settings["cpus"], settings["keep"]) == (1.0, True)
    assert settings["runtimeOptions"] == {"docker_host": "unix:///run/other-engine.sock"}


def test_a_resume_naming_an_unknown_runtime_changes_nothing_even_when_complete(
    run_pop: RunPop,
    agenda: Path,
    registry: Path,
    pop_home: Path,
    store_snapshot: Callable[[Path], Any],
) -> None:
    agenda_id = first_run(run_pop, agenda, registry)  # COMPLETE/failed: a resume reruns it
    before = store_snapshot(pop_home)

    completed = run_pop("run-local", "--resume", agenda_id, "--launch", "dokcer")

    assert completed.returncode == 2
    assert "'dokcer'" in completed.stderr
    assert store_snapshot(pop_home) == before
