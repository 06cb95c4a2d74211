"""Every agenda under examples/ runs (through the real CLI and the local runtime)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_EXIT = {"hello.json": 0, "failure.json": 1}


@pytest.mark.parametrize("name", sorted(EXPECTED_EXIT))
def test_each_example_runs_with_its_documented_outcome(name: str, tmp_path: Path) -> None:
    env = {**os.environ, "POP_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pop", "run-local", str(ROOT / "examples" / name), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == EXPECTED_EXIT[name], done.stderr
    progress = json.loads(done.stdout)
    assert progress["processingState"] == "COMPLETE"


def test_every_example_file_is_exercised() -> None:
    examples = {path.name for path in (ROOT / "examples").glob("*.json")}
    assert examples == set(EXPECTED_EXIT)


TEMPLATE_EXAMPLES = ROOT / "examples" / "templates"


def run_pop_json(home: Path, *args: str) -> tuple[int, object, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pop", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "POP_HOME": str(home)},
        timeout=120,
        cwd=ROOT,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr


def test_the_template_example_is_added_run_with_its_payload_and_succeeds(tmp_path: Path) -> None:
    code, template, stderr = run_pop_json(
        tmp_path, "template", "add", str(TEMPLATE_EXAMPLES / "hello-template.json"), "--json"
    )
    assert code == 0, stderr
    assert isinstance(template, dict)
    code, submission, stderr = run_pop_json(
        tmp_path,
        "template",
        "run",
        template["id"],
        "--payload",
        str(TEMPLATE_EXAMPLES / "hello-payload.json"),
        "--json",
    )
    assert code == 0, stderr
    assert isinstance(submission, dict)

    code, progress, stderr = run_pop_json(
        tmp_path, "run-local", "--resume", submission["agendaId"], "--json"
    )

    assert code == 0, stderr
    assert isinstance(progress, dict)
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )
    outputs = {op["operation"]: op["resultPayload"] for op in progress["operationProgress"]}
    assert outputs["combine"]["messages"] == ["hello, world!", "hello world..."]


def test_every_template_example_file_is_exercised() -> None:
    files = {path.name for path in TEMPLATE_EXAMPLES.iterdir()}
    # transcode-360p.json: tests/handlers/media/test_batch_media.py
    # abr-ladder.json: tests/handlers/media/test_abr_ladder.py, tests/engine/test_abr_ladder_fake.py
    assert files >= {
        "hello-template.json",
        "hello-payload.json",
        "transcode-360p.json",
        "abr-ladder.json",
    }
