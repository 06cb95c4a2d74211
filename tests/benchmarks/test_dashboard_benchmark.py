"""``benchmarks/dashboard.py --quick`` runs to the end and prints each of its figures' lines:
the agendas page's and the agenda page's server time, the page weight of a first visit and the
event latency. A smoke run only: no figure is checked against its target here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FIGURE_LINES = (
    "agendas page (",
    "agendas page, text search",
    "agendas page, op type filter",
    "agenda page, 20 ops",
    "first visit of /agendas, KB on the wire (gzip;",
    "store change -> event received",
)


@pytest.mark.timeout(600)
def test_the_dashboard_benchmark_prints_its_figures(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("POP_HOME", "POP_TOKEN")}
    ran = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "dashboard.py"), "--quick",
         "--tmpdir", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=540, check=False,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr[-3000:]
    lines = ran.stdout.splitlines()
    for figure in FIGURE_LINES:
        found = [line for line in lines if figure in line]
        assert found, (figure, ran.stdout)
        assert all(("met" in line.split()) or ("MISSED" in line.split()) for line in found)
    assert list(tmp_path.iterdir()) == []  # the temporary POP_HOME was removed
