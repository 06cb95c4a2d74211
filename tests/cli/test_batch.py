"""``pop batch`` end to end with small command handlers (the media batch is tested in
tests/handlers/media/test_batch_media.py): linking, exit codes, the summary, skipping what
already succeeded, resuming what failed, bad input, concurrency within the CPU budget, and the
library API."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pop.api import Client

RunPop = Callable[..., subprocess.CompletedProcess[str]]

# `check` fails unless its input file says "good"; `hold` sleeps then succeeds (one CPU each)
HANDLERS = {
    "handlers": {
        "check": {"command": ["sh", "-c", 'grep -q good "$0"']},
        "hold": {"command": ["sh", "-c", "sleep 0.4"], "cpuMinRequestCount": "1.0"},
    }
}


def template(op_type: str) -> dict[str, Any]:
    return {
        "title": f"{op_type} batch",
        "agenda": {
            "operations": [
                {"name": "work", "type": op_type, "payload": {"args": ["@<pop.payload::/input>"]}}
            ]
        },
    }


@pytest.fixture
def workspace(tmp_path: Path, pop_home: Path) -> Path:
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump(HANDLERS))
    for name in ("check", "hold"):
        (tmp_path / f"{name}.json").write_text(json.dumps(template(name)))
    media = tmp_path / "media"
    media.mkdir()
    for index in range(4):
        (media / f"clip{index}.mov").write_text("good\n")
    (media / "notes.txt").write_text("not an input\n")
    return tmp_path


def batch(run_pop: RunPop, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pop("batch", "--registry", str(root / "registry.yaml"), *args, "--json")


def agenda_rows(home: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute("SELECT * FROM agenda_progress")]
    finally:
        connection.close()


def op_attempts(home: Path) -> list[dict[str, Any]]:
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    try:
        rows = connection.execute("SELECT * FROM attempts WHERE operation IS NOT NULL")
        return [dict(row) for row in rows]
    finally:
        connection.close()


def test_one_linked_agenda_per_input_and_a_summary(
    run_pop: RunPop, workspace: Path, pop_home: Path
) -> None:
    done = batch(run_pop, workspace, str(workspace / "check.json"), "media", "--glob", "*.mov")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["succeeded"] == 4 and report["failed"] == 0
    inputs = [item["input"] for item in report["items"]]
    assert inputs == [str(workspace / "media" / f"clip{i}.mov") for i in range(4)]
    rows = agenda_rows(pop_home)
    assert {row["link_id"] for row in rows} == {report["linkId"]}
    status = json.loads(run_pop("status", "--link-id", report["linkId"], "--json").stdout)
    assert sorted(item["externalId"] for item in status) == sorted(inputs)


def test_the_table_names_each_input_and_the_counts(run_pop: RunPop, workspace: Path) -> None:
    (workspace / "media" / "clip2.mov").write_text("bad\n")
    done = run_pop(
        "batch", "--registry", str(workspace / "registry.yaml"), str(workspace / "check.json"),
        "media/clip0.mov", "media/clip2.mov", "--link-id", "nightly",
    )  # fmt: skip
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["INPUT", "STATE", "AGENDA", "TIME", "DETAIL"]
    failed = next(line for line in lines if "clip2.mov" in line)
    assert "failed" in failed and "work:" in failed and "exited with code 1" in failed
    assert "1 succeeded, 1 failed, 0 skipped" in lines[-1] and "nightly" in lines[-1]


def test_a_second_run_skips_what_succeeded_and_resumes_what_failed(
    run_pop: RunPop, workspace: Path, pop_home: Path
) -> None:
    (workspace / "media" / "clip3.mov").write_text("bad\n")
    args = (str(workspace / "check.json"), "media", "--glob", "*.mov", "--link-id", "L")
    first = batch(run_pop, workspace, *args)
    assert first.returncode == 1
    report = json.loads(first.stdout)
    assert [item["state"] for item in report["items"]] == ["succeeded"] * 3 + ["failed"]
    failed_id = report["items"][3]["agendaId"]
    attempts_before = len(op_attempts(pop_home))

    again = batch(run_pop, workspace, *args)
    assert again.returncode == 1
    states = [item["state"] for item in json.loads(again.stdout)["items"]]
    assert states == ["skipped"] * 3 + ["failed"]
    assert len(op_attempts(pop_home)) == attempts_before + 1  # only the failed input ran
    connection = sqlite3.connect(f"file:{pop_home / 'pop.db'}?mode=ro", uri=True)
    try:
        recorded = connection.execute(
            "SELECT action, actor FROM changes WHERE object_id = ? ORDER BY id", (failed_id,)
        ).fetchall()
    finally:
        connection.close()
    assert [action for action, _ in recorded] == ["batch", "batch.resume"]
    assert all(actor.startswith("local:") for _, actor in recorded)

    # fixing the file (new size and time) gives it a new agenda, which now succeeds
    (workspace / "media" / "clip3.mov").write_text("good now\n")
    fixed = batch(run_pop, workspace, *args)
    assert fixed.returncode == 0, fixed.stdout
    last = json.loads(fixed.stdout)["items"][3]
    assert last["state"] == "succeeded" and last["agendaId"] != failed_id
    assert len(agenda_rows(pop_home)) == 5


def test_a_stopped_agenda_is_resumed_not_duplicated(
    workspace: Path, pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(registry_path=workspace / "registry.yaml")
    monkeypatch.chdir(workspace)
    planned = client.batch_plan(workspace / "check.json", ["media/clip0.mov"], link_id="L")
    assert planned.items[0].action == "new"  # stored, never run (as after kill -9)
    report = client.batch(workspace / "check.json", ["media/clip0.mov"], link_id="L")
    assert report.items[0].action == "resume"
    assert report.items[0].agenda_id == planned.items[0].agenda_id
    assert report.ok and len(agenda_rows(pop_home)) == 1
    client.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mov"], "input file not found: missing.mov"),
        (["media"], "media is a directory"),
        (["media", "--glob", "*.mp4"], "no input files match '*.mp4'"),
        ([], "no input files"),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(
    run_pop: RunPop, workspace: Path, pop_home: Path, args: list[str], message: str
) -> None:
    done = run_pop(
        "batch",
        "--registry",
        str(workspace / "registry.yaml"),
        str(workspace / "check.json"),
        *args,
    )
    assert done.returncode == 2
    assert message in done.stderr
    assert not (pop_home / "pop.db").exists() or agenda_rows(pop_home) == []


def test_a_template_that_cannot_be_filled_stores_nothing(
    run_pop: RunPop, workspace: Path, pop_home: Path
) -> None:
    broken = template("check")
    broken["agenda"]["operations"][0]["payload"]["args"] = ["@<pop.payload::/missing>"]
    (workspace / "broken.json").write_text(json.dumps(broken))
    done = batch(run_pop, workspace, str(workspace / "broken.json"), "media", "--glob", "*.mov")
    assert done.returncode == 2
    assert "missing" in done.stderr
    assert not (pop_home / "pop.db").exists() or agenda_rows(pop_home) == []


def most_at_once(attempts: list[dict[str, Any]]) -> int:
    spans = [(row["started_time"], row["ended_time"]) for row in attempts]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


def test_concurrency_stays_within_the_cpu_budget(
    run_pop: RunPop, workspace: Path, pop_home: Path
) -> None:
    """--concurrency 8 with a 2-CPU budget: eight agendas run, but never more than two of
    their one-CPU ops at once (from the recorded attempt times)."""
    for index in range(4, 8):
        (workspace / "media" / f"clip{index}.mov").write_text("good\n")
    done = batch(
        run_pop, workspace, str(workspace / "hold.json"), "media", "--glob", "*.mov",
        "--concurrency", "8", "--cpus", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    attempts = op_attempts(pop_home)
    assert len(attempts) == 8
    assert most_at_once(attempts) == 2


def test_concurrency_one_runs_one_agenda_at_a_time(
    run_pop: RunPop, workspace: Path, pop_home: Path
) -> None:
    done = batch(
        run_pop, workspace, str(workspace / "hold.json"), "media", "--glob", "clip[01].mov",
        "--concurrency", "1", "--cpus", "8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert most_at_once(op_attempts(pop_home)) == 1


def test_the_library_api_reports_progress_as_it_goes(
    workspace: Path, pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(registry_path=workspace / "registry.yaml")
    seen: list[tuple[int, int]] = []
    report = client.batch(
        workspace / "check.json",
        [workspace / "media"],
        glob="*.mov",
        concurrency=2,
        on_change=lambda r: seen.append((r.count("running"), r.count("succeeded"))),
    )
    client.close()
    assert report.ok and report.count("succeeded") == 4
    assert max(running for running, _ in seen) == 2
    assert seen[-1] == (0, 4)
    assert report.eta_seconds() == 0.0 or report.eta_seconds() is not None
    assert all(item.seconds is not None and item.seconds > 0 for item in report.items)
    assert os.path.isabs(report.items[0].input)


def test_after_kill_9_the_next_run_takes_the_agendas_back_at_once(
    start_pop: Callable[..., subprocess.Popen[str]],
    run_pop: RunPop,
    workspace: Path,
    pop_home: Path,
    wait_for: Callable[..., Any],
) -> None:
    """The batch process dies while its agendas run; the next run does not wait for their
    leases to lapse: it reclaims them (their launches stopped) and resumes the same agendas."""
    slow = dict(HANDLERS["handlers"])
    slow["hold"] = {"command": ["sh", "-c", "sleep 30"], "cpuMinRequestCount": "1.0"}
    (workspace / "slow.yaml").write_text(yaml.safe_dump({"handlers": slow}))
    args = ("batch", "--registry", str(workspace / "slow.yaml"), str(workspace / "hold.json"))
    first = start_pop(*args, "media", "--glob", "clip[01].mov", "--link-id", "K", "-q")

    def both_running() -> bool:
        try:
            return len(op_attempts(pop_home)) == 2
        except sqlite3.Error:  # not created yet
            return False

    wait_for(both_running, what="both agendas running")
    first.kill()
    first.wait(timeout=10)
    leases = [row["lease_expires"] for row in agenda_rows(pop_home)]
    assert len(leases) == 2 and all(leases)  # the dead run's 30 s leases still hold

    fast = ("batch", "--registry", str(workspace / "registry.yaml"), str(workspace / "hold.json"))
    again = run_pop(*fast, "media", "--glob", "clip[01].mov", "--link-id", "K", "--json")
    assert again.returncode == 0, again.stderr
    resumed = [row for row in op_attempts(pop_home) if row["outcome"] == "succeeded"]
    assert len(resumed) == 2
    # no waiting for the leases to lapse: the resumed attempts started while they still held
    assert max(row["started_time"] for row in resumed) < min(leases)
    report = json.loads(again.stdout)
    assert [item["state"] for item in report["items"]] == ["succeeded", "succeeded"]
    assert len(agenda_rows(pop_home)) == 2  # resumed, not duplicated
    lost = [row for row in op_attempts(pop_home) if row["outcome"] == "lost"]
    assert len(lost) == 2


def test_ctrl_c_stops_the_batch_with_exit_130_and_the_next_run_resumes_it(
    start_pop: Callable[..., subprocess.Popen[str]],
    run_pop: RunPop,
    workspace: Path,
    pop_home: Path,
    wait_for: Callable[..., Any],
) -> None:
    slow = dict(HANDLERS["handlers"])
    slow["hold"] = {"command": ["sh", "-c", "sleep 30"], "cpuMinRequestCount": "1.0"}
    (workspace / "slow.yaml").write_text(yaml.safe_dump({"handlers": slow}))
    first = start_pop(
        "batch", "--registry", str(workspace / "slow.yaml"), str(workspace / "hold.json"),
        "media", "--glob", "clip0.mov", "--link-id", "C", "--json",
    )  # fmt: skip

    def running() -> bool:
        try:
            return len(op_attempts(pop_home)) == 1
        except sqlite3.Error:
            return False

    wait_for(running, what="the agenda running")
    first.send_signal(signal.SIGINT)
    stdout, _ = first.communicate(timeout=30)
    assert first.returncode == 130
    report = json.loads(stdout)
    assert report["items"][0]["state"] == "failed"
    assert "interrupted" in (report["items"][0]["message"] or "")

    again = run_pop(
        "batch", "--registry", str(workspace / "registry.yaml"), str(workspace / "hold.json"),
        "media", "--glob", "clip0.mov", "--link-id", "C", "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    item = json.loads(again.stdout)["items"][0]
    assert item["state"] == "succeeded" and item["agendaId"] == report["items"][0]["agendaId"]
