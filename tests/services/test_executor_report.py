"""``pop executor`` says what its retrier and reclaimer did, one stderr line per agenda, and
``--json`` reports it too; ``--no-services`` claims only (issue 10 point 6)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pop.store import Store
from tests.services.store_state import (
    executing_under_dead_lease,
    make_registry,
    make_settings,
    sh_op,
    store_agenda,
)

RunPop = Callable[..., subprocess.CompletedProcess[str]]
NO_BACKOFF = {"POP_RETRY_BACKOFF": "0"}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    make_registry(tmp_path)
    return tmp_path / "registry.yaml"


def failed_agenda(run_pop: RunPop, registry: Path, tmp_path: Path, script: str) -> str:
    """An agenda that ran once with `pop run-local` and failed (a retryable failure): its id."""
    path = tmp_path / "fails.json"
    path.write_text(json.dumps({"title": "fails", "operations": [sh_op("only", script)]}))
    completed = run_pop("run-local", str(path), "--registry", str(registry), "--json")
    assert completed.returncode == 1, completed.stderr
    agenda_id: str = json.loads(completed.stdout)["agendaId"]
    return agenda_id


def stderr_lines(completed: Any) -> list[str]:
    return [line for line in completed.stderr.splitlines() if line.strip()]


def test_executor_once_prints_the_retry_line_of_a_retryable_failed_agenda(
    run_pop: RunPop, registry: Path, tmp_path: Path
) -> None:
    agenda_id = failed_agenda(run_pop, registry, tmp_path, "exit 1")

    completed = run_pop("executor", "--once", "--registry", str(registry), env=NO_BACKOFF)

    assert completed.returncode == 0, completed.stderr
    retried, finished = stderr_lines(completed)
    assert retried == f"retried   {agenda_id}  attempt 2 of 3 after failed"
    assert finished.startswith(f"failed    {agenda_id}")
    assert completed.stdout == "ran 1 agenda: 0 succeeded, 1 failed; retried 1, reclaimed 0\n"


def test_executor_once_json_reports_the_retried_agenda(
    run_pop: RunPop, registry: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "second-time"
    agenda_id = failed_agenda(
        run_pop, registry, tmp_path, f"test -f '{marker}' || {{ touch '{marker}'; exit 1; }}"
    )

    completed = run_pop("executor", "--once", "--registry", str(registry), "--json", env=NO_BACKOFF)

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    report = json.loads(completed.stdout)
    assert (report["agendas"], report["succeeded"], report["failed"]) == ([agenda_id], 1, 0)
    [retried] = report["retried"]
    assert retried["agendaId"] == agenda_id
    assert (retried["action"], retried["attemptsCompleted"], retried["maximumAttempts"]) == (
        "requeued",
        1,
        3,
    )
    assert retried["message"] == "attempt 2 of 3 after failed"
    assert report["reclaimed"] == [] and report["errors"] == []


def test_no_services_runs_claims_only_and_leaves_a_failed_agenda_alone(
    run_pop: RunPop,
    registry: Path,
    tmp_path: Path,
    pop_home: Path,
    store_snapshot: Any,
) -> None:
    failed_agenda(run_pop, registry, tmp_path, "exit 1")
    before = store_snapshot(pop_home)

    completed = run_pop(
        "executor", "--once", "--no-services", "--registry", str(registry), env=NO_BACKOFF
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout == "ran 0 agendas: 0 succeeded, 0 failed\n"
    assert store_snapshot(pop_home) == before


def test_a_failed_agenda_still_in_its_backoff_gets_no_line_and_is_not_run(
    run_pop: RunPop, registry: Path, tmp_path: Path, pop_home: Path, store_snapshot: Any
) -> None:
    failed_agenda(run_pop, registry, tmp_path, "exit 1")
    before = store_snapshot(pop_home)

    completed = run_pop("executor", "--once", "--registry", str(registry), "--json")

    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert (report["agendas"], report["retried"], report["reclaimed"]) == ([], [], [])
    assert store_snapshot(pop_home) == before


@pytest.fixture
def orphan(pop_home: Path) -> str:
    """The id of a stored agenda EXECUTING under the lease of an executor that died."""
    with Store.open(make_settings(pop_home).store_path) as store:
        agenda_id = store_agenda(store, [sh_op("only", "true")])
        executing_under_dead_lease(store, agenda_id)
    return agenda_id


def test_executor_once_prints_the_reclaim_line_of_an_agenda_whose_executor_died(
    run_pop: RunPop, registry: Path, orphan: str
) -> None:
    agenda_id = orphan
    completed = run_pop(
        "executor", "--once", "--registry", str(registry), env={"POP_RECLAIM_GRACE": "0"}
    )

    assert completed.returncode == 0, completed.stderr
    reclaimed, finished = stderr_lines(completed)
    assert reclaimed == f"reclaimed {agenda_id}  lost: its executor stopped; attempt 2 of 3 queued"
    assert finished.startswith(f"succeeded {agenda_id}")
    assert completed.stdout == "ran 1 agenda: 1 succeeded, 0 failed; retried 0, reclaimed 1\n"
    status = json.loads(run_pop("status", agenda_id, "--json").stdout)
    assert (status["processingState"], status["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )


def test_executor_json_lists_the_reclaimed_agenda(
    run_pop: RunPop, registry: Path, orphan: str
) -> None:
    agenda_id = orphan
    completed = run_pop(
        "executor",
        "--once",
        "--registry",
        str(registry),
        "--json",
        env={"POP_RECLAIM_GRACE": "0"},
    )

    assert completed.returncode == 0, completed.stderr
    [reclaimed] = json.loads(completed.stdout)["reclaimed"]
    assert (reclaimed["agendaId"], reclaimed["action"], reclaimed["previousState"]) == (
        agenda_id,
        "requeued",
        "EXECUTING",
    )
