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
