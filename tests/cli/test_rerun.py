"""``pop rerun`` end to end: the real CLI, the real local runtime, handlers with side effects.

The agenda is five chained shell steps. Each appends "<op> ran" to a side-effect file; op3 also
records the ``LAST_PROGRESS`` it received and reads an input file that is missing at first, so
the first run fails at op3 (issue 3, acceptance "Rerun").
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_errors import assert_one_error_line

RunPop = Callable[..., subprocess.CompletedProcess[str]]
OPS = ["op1", "op2", "op3", "op4", "op5"]


@dataclass(frozen=True)
class Chain:
    """A stored agenda whose first run failed at op3, and the files its steps touch."""

    agenda_id: str
    registry: Path
    side_effects: Path
    last_progress: Path
    input_file: Path
    first_run: dict[str, Any]

    def ran(self) -> list[str]:
        return self.side_effects.read_text(encoding="utf-8").split()[::2]


def step(name: str, script: str, after: str | None) -> dict[str, Any]:
    operation: dict[str, Any] = {"name": name, "type": "step", "payload": {"args": [script]}}
    if after is not None:
        operation["params"] = {"dependsOn": after}
    return operation


@pytest.fixture
def failed_chain(run_pop: RunPop, tmp_path: Path) -> Chain:
    registry = tmp_path / "registry.yaml"
    registry.write_text('handlers:\n  step:\n    command: ["sh", "-c"]\n', encoding="utf-8")
    side_effects = tmp_path / "side-effects.txt"
    last_progress = tmp_path / "op3-last-progress.json"
    input_file = tmp_path / "input.txt"
    operations = []
    for index, name in enumerate(OPS):
        script = f"echo '{name} ran' >> '{side_effects}'"
        if name == "op3":
            script += f" && printf '%s' \"${{LAST_PROGRESS-unset}}\" > '{last_progress}'"
            script += f" && cat '{input_file}'"
        operations.append(step(name, script, OPS[index - 1] if index else None))
    agenda_file = tmp_path / "chain.json"
    agenda_file.write_text(json.dumps({"title": "chain", "operations": operations}))

    first = run_pop("run-local", str(agenda_file), "--registry", str(registry), "--json")

    assert first.returncode == 1, first.stderr
    progress = json.loads(first.stdout)
    states = {op["operation"]: op["processingState"] for op in progress["operationProgress"]}
    assert states == {
        "op1": "COMPLETE",
        "op2": "COMPLETE",
        "op3": "COMPLETE",
        "op4": "WAITING",
        "op5": "WAITING",
    }
    assert last_progress.read_text(encoding="utf-8") == "unset"
    return Chain(
        agenda_id=progress["agendaId"],
        registry=registry,
        side_effects=side_effects,
        last_progress=last_progress,
        input_file=input_file,
        first_run=progress,
    )


def resume(run_pop: RunPop, chain: Chain) -> dict[str, Any]:
    completed = run_pop(
        "run-local", "--resume", chain.agenda_id, "--registry", str(chain.registry), "--json"
    )
    assert completed.returncode == 0, completed.stderr
    progress: dict[str, Any] = json.loads(completed.stdout)
    return progress


def queued(pop_home: Path, agenda_id: str) -> bool:
    connection = sqlite3.connect(pop_home / "pop.db")
    try:
        row = connection.execute(
            "SELECT 1 FROM ready_queue WHERE agenda_id = ?", (agenda_id,)
        ).fetchone()
    finally:
        connection.close()
    return row is not None


def listed(run_pop: RunPop, agenda_id: str) -> dict[str, Any]:
    completed = run_pop("list", "--json")
    assert completed.returncode == 0, completed.stderr
    return next(item for item in json.loads(completed.stdout) if item["agendaId"] == agenda_id)


def test_continue_resumes_at_the_failed_op_which_receives_its_last_progress(
    run_pop: RunPop, pop_home: Path, failed_chain: Chain
) -> None:
    failed_chain.input_file.write_text("restored\n", encoding="utf-8")

    rerun = run_pop("rerun", failed_chain.agenda_id, "--continue")

    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == failed_chain.agenda_id
    assert listed(run_pop, failed_chain.agenda_id)["processingState"] == "WAITING"
    assert queued(pop_home, failed_chain.agenda_id)

    progress = resume(run_pop, failed_chain)

    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )
    assert failed_chain.ran() == ["op1", "op2", "op3", "op3", "op4", "op5"]
    received = json.loads(failed_chain.last_progress.read_text(encoding="utf-8"))
    earlier = next(
        op for op in failed_chain.first_run["operationProgress"] if op["operation"] == "op3"
    )
    assert (received["processingState"], received["processingStateMessage"]) == (
        "COMPLETE",
        "failed",
    )
    assert received == earlier
    assert progress["attemptsCompleted"] == 2
    assert not queued(pop_home, failed_chain.agenda_id)  # run-local took it off the queue


def test_reset_op2_runs_op2_and_everything_after_it_again(
    run_pop: RunPop, failed_chain: Chain
) -> None:
    failed_chain.input_file.write_text("restored\n", encoding="utf-8")
    assert run_pop("rerun", failed_chain.agenda_id, "--continue").returncode == 0
    resume(run_pop, failed_chain)
    ran_before = failed_chain.ran()

    rerun = run_pop("rerun", failed_chain.agenda_id, "--reset", "op2", "--json")

    assert rerun.returncode == 0, rerun.stderr
    reset = json.loads(rerun.stdout)
    states = {op["operation"]: op["processingState"] for op in reset["operationProgress"]}
    assert states == {
        "op1": "COMPLETE",
        "op2": "WAITING",
        "op3": "WAITING",
        "op4": "WAITING",
        "op5": "WAITING",
    }
    assert reset["percentComplete"] == pytest.approx(20.0)

    progress = resume(run_pop, failed_chain)

    assert progress["processingStateMessage"] == "succeeded"
    assert failed_chain.ran()[len(ran_before) :] == ["op2", "op3", "op4", "op5"]
    assert failed_chain.last_progress.read_text(encoding="utf-8") == "unset"  # op3 was reset


def test_skip_execution_only_resets_and_leaves_the_agenda_waiting_unqueued(
    run_pop: RunPop, pop_home: Path, failed_chain: Chain
) -> None:
    rerun = run_pop("rerun", failed_chain.agenda_id, "--skip-execution")

    assert rerun.returncode == 0, rerun.stderr
    item = listed(run_pop, failed_chain.agenda_id)
    assert (item["processingState"], item["processingStateMessage"]) == ("WAITING", "pending")
    assert {op["processingState"] for op in item["operationProgress"]} == {"WAITING"}
    assert item["diagnosticEvents"] == []
    assert not queued(pop_home, failed_chain.agenda_id)
    assert failed_chain.ran() == ["op1", "op2", "op3"]  # nothing ran


@pytest.mark.parametrize(
    ("args", "code", "names"),
    [
        (["ffffffff-no-such-agenda"], 4, ["ffffffff-no-such-agenda"]),
        (["{id}", "--reset", "nosuch,op2,other"], 2, ["nosuch, other"]),
        (["{id}", "--continue", "--reset-all"], 2, ["--reset-all", "--continue"]),
        (["{id}", "--reset", "op2", "--continue"], 2, ["--reset", "--continue"]),
    ],
    ids=["unknown agenda", "unknown ops", "two modes", "reset and continue"],
)
def test_bad_input_gives_one_error_line_and_leaves_the_store_unchanged(
    args: list[str],
    code: int,
    names: list[str],
    run_pop: RunPop,
    pop_home: Path,
    failed_chain: Chain,
    store_snapshot: Callable[[Path], Any],
) -> None:
    before = store_snapshot(pop_home)

    completed = run_pop("rerun", *[arg.format(id=failed_chain.agenda_id) for arg in args])

    assert completed.returncode == code, completed.stderr
    assert_one_error_line(completed, *names)
    assert completed.stdout == ""
    assert store_snapshot(pop_home) == before


def test_resume_of_a_failed_agenda_continues_without_a_rerun_first(run_pop: Any) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "failure.json"
    first = json.loads(run_pop("run-local", str(example), "--json", "-q").stdout)
    again = run_pop("run-local", "--resume", first["agendaId"], "--json", "-q")
    assert again.returncode == 1
    ops = {op["operation"]: op for op in json.loads(again.stdout)["operationProgress"]}
    assert ops["download"]["attemptCount"] == 1  # succeeded before: not launched again
    assert ops["transcode"]["attemptCount"] == 2
    assert ops["package"]["processingState"] == "WAITING"
