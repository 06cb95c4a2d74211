"""A benchmark's ``--quick`` smoke run, as the tests of ``tests/benchmarks/`` make it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def run_quick(script: str, tmp_path: Path) -> list[str]:
    """``python benchmarks/SCRIPT --quick --tmpdir TMP`` without the caller's POP_HOME and token;
    its stdout lines once it exited 0."""
    env = {key: value for key, value in os.environ.items() if key not in ("POP_HOME", "POP_TOKEN")}
    ran = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--quick",
         "--tmpdir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=540, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    return ran.stdout.splitlines()
