"""``benchmarks/serve.py --quick`` runs to the end and prints each of its figures' lines: submits
per second over HTTP, getAgenda's median and p99 at a queue, a remote executor's wall time, each
beside its baseline. A smoke run only: no figure is checked against its target here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.quick import run_quick

FIGURE_LINES = (
    "submits/s, 8 clients",
    "getAgenda median ms",
    "getAgenda p99 ms",
    "executor wall s",
)


@pytest.mark.timeout(600)
def test_the_serve_benchmark_prints_its_figures_beside_their_baselines(tmp_path: Path) -> None:
    lines = run_quick("serve.py", tmp_path)
    for figure in FIGURE_LINES:
        (line,) = [line for line in lines if figure in line]
        assert ("met" in line.split()) or ("MISSED" in line.split()), line
    assert list(tmp_path.iterdir()) == []  # every temporary POP_HOME was removed
