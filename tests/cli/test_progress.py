"""``pop progress summary`` and ``pop status --link-id`` over a group of agendas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.test_commands import EXAMPLES


def test_progress_summary_covers_every_agenda_of_a_link(run_pop: Any, tmp_path: Path) -> None:
    ran = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json", "-q")
    assert ran.returncode == 0
    for _ in range(2):
        assert (
            run_pop("submit", str(EXAMPLES / "hello.json"), "--link-id", "batch-7").returncode == 0
        )
    result = run_pop("progress", "summary", "--link-id", "batch-7", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["processingState"] == "WAITING"
    assert summary["processingPercent"] == 0.0
    assert len(summary["progressList"]) == 2
    assert {p["linkId"] for p in summary["progressList"]} == {"batch-7"}
    listed = json.loads(run_pop("list", "--link-id", "batch-7", "--json").stdout)
    assert len(listed) == 2


def test_a_failed_member_makes_the_summary_percent_null(run_pop: Any, tmp_path: Path) -> None:
    agenda = json.loads((EXAMPLES / "failure.json").read_text())
    agenda["linkId"] = "group-f"
    path = tmp_path / "linked-failure.json"
    path.write_text(json.dumps(agenda))
    assert run_pop("run-local", str(path), "-q").returncode == 1
    summary = json.loads(run_pop("progress", "summary", "--link-id", "group-f", "--json").stdout)
    assert summary["processingState"] == "COMPLETE"
    assert summary["processingPercent"] is None


def test_a_summary_needs_a_link_id(run_pop: Any) -> None:
    result = run_pop("progress", "summary", "--link-id", " ")
    assert result.returncode == 2
    assert result.stderr.startswith("error:")


def test_status_watch_of_a_link_returns_when_the_group_is_complete(
    run_pop: Any, tmp_path: Path
) -> None:
    agenda = json.loads((EXAMPLES / "hello.json").read_text())
    agenda["linkId"] = "watched"
    path = tmp_path / "linked.json"
    path.write_text(json.dumps(agenda))
    assert run_pop("run-local", str(path), "-q").returncode == 0
    watched = run_pop("status", "--link-id", "watched", "--watch")
    assert watched.returncode == 0, watched.stderr
    assert "COMPLETE  100%" in watched.stdout
