"""``benchmarks/dashboard.py --quick`` runs to the end and prints each of its figures' lines:
the agendas page's and the agenda page's server time, the page weight of a first visit and the
event latency. A smoke run only: no figure is checked against its target here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.quick import run_quick

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
    lines = run_quick("dashboard.py", tmp_path)
    for figure in FIGURE_LINES:
        found = [line for line in lines if figure in line]
        assert found, (figure, "\n".join(lines))
        assert all(("met" in line.split()) or ("MISSED" in line.split()) for line in found)
    assert list(tmp_path.iterdir()) == []  # the temporary POP_HOME was removed
