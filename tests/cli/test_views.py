"""What a user reads (issue 10, points 1, 2, 5, 7): the real cause of a failure in every human
view, program text verbatim (never markup or emoji), ids that paste, one line per agenda.

Real ``pop`` processes on a real store; "in a terminal" runs pop on a pseudo-terminal 80 columns
wide, "to a pipe" with its output captured.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pop_env

RunPop = Callable[..., subprocess.CompletedProcess[str]]

MARKUP = "[bold]x[/] -map '0:v:0?' :a: :smile: [/]"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run_in_terminal(
    home: Path,
    *args: str,
    columns: int = 80,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """Run ``pop ARGS`` with stdin, stdout and stderr on a pseudo-terminal ``columns`` wide;
    (exit code, everything it wrote with escape sequences removed)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    environment = pop_env(home, {"TERM": "xterm-256color", **(env or {})})
    for key in ("COLUMNS", "NO_COLOR"):
        environment.pop(key, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pop", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=environment,
        cwd=cwd or home.parent,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    data = os.read(leader, 65536)
                except OSError as exc:  # EIO: the process closed the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    return code, ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def write_registry(folder: Path) -> Path:
    """``shout``: a plain command that prints MARKUP and fails with exit code 3."""
    script = f"printf '%s\\n' 'starting'; printf '%s\\n' {json.dumps(MARKUP)} >&2; exit 3"
    registry = folder / "registry.yaml"
    registry.write_text(
        json.dumps({"handlers": {"shout": {"command": ["sh", "-c", script]}}}), encoding="utf-8"
    )
    return registry


def write_agenda(folder: Path) -> Path:
    agenda = {
        "title": f"title {MARKUP}",
        "operations": [
            {"name": "first", "type": "sample", "payload": {"resultPayload": {"ok": True}}},
            {"name": "shout", "type": "shout", "payload": {}, "params": {"dependsOn": "first"}},
        ],
    }
    path = folder / "agenda.json"
    path.write_text(json.dumps(agenda), encoding="utf-8")
    return path


@pytest.fixture
def failed_agenda(run_pop: RunPop, pop_home: Path, tmp_path: Path) -> tuple[str, Path]:
    """An agenda whose op ``shout`` failed printing MARKUP: (its agenda id, the registry)."""
    registry = write_registry(tmp_path)
    completed = run_pop(
        "run-local", str(write_agenda(tmp_path)), "--registry", str(registry), "--json"
    )
    assert completed.returncode == 1, completed.stderr
    return json.loads(completed.stdout)["agendaId"], registry


def test_a_failed_program_s_cause_is_its_exit_code_with_its_last_line(
    run_pop: RunPop, failed_agenda: tuple[str, Path]
) -> None:
    agenda_id, _ = failed_agenda
    status = run_pop("status", agenda_id)
    assert f"command sh exited with code 3: {MARKUP}" in status.stdout
    assert f"  | {MARKUP}" in status.stdout  # the program's last lines, verbatim
    assert "  | starting" in status.stdout


@pytest.mark.parametrize("where", ["pipe", "terminal"])
def test_program_text_shows_verbatim_in_every_view(
    where: str,
    run_pop: RunPop,
    pop_home: Path,
    tmp_path: Path,
    failed_agenda: tuple[str, Path],
) -> None:
    agenda_id, registry = failed_agenda

    def view(*args: str) -> str:
        if where == "pipe":
            completed = run_pop(*args)
            return completed.stdout + completed.stderr
        _, output = run_in_terminal(pop_home, *args, columns=200)
        return output

    cause = f"command sh exited with code 3: {MARKUP}"
    run_local = view("run-local", str(write_agenda(tmp_path)), "--registry", str(registry))
    assert f"failed    shout: {cause}" in run_local  # the live line
    assert "shout      failed  " in run_local and cause in run_local  # the table
    assert f"failed: shout: command sh exited with code 3\n  | starting\n  | {MARKUP}" in (
        run_local.replace("\r", "")
    )
    for args in (("status", agenda_id), ("status", agenda_id, "--watch")):
        assert cause in view(*args), args
    assert f"shout: {cause}" in view("list")
    wide = view("list", "--wide")
    assert f"title {MARKUP}" in wide and f"shout: {cause}" in wide
    assert MARKUP in view("logs", agenda_id)
    submitted = run_pop("submit", str(write_agenda(tmp_path)), "--registry", str(registry))
    executor = view("executor", "--once", "--registry", str(registry))
    assert f"failed    {submitted.stdout.strip()}: shout: {cause}" in executor
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps({"agenda": {"operations": [{"name": "shout", "type": "shout"}]}}),
        encoding="utf-8",
    )
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "one [bold]:v:[red].txt").write_text("x", encoding="utf-8")
    batch = view(
        "batch", str(template), str(tmp_path / "inputs"), "--glob", "*.txt",
        "--registry", str(registry),
    )  # fmt: skip
    assert f"shout: {cause}" in batch
    assert "one [bold]:v:[red].txt" in batch
    assert "✌" not in run_local + batch + executor and "😄" not in run_local + batch


def test_a_resident_handler_s_own_error_is_the_cause_and_its_log_says_it(
    run_pop: RunPop, tmp_path: Path
) -> None:
    truncated = tmp_path / "clip6.mp4"
    truncated.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    agenda = tmp_path / "probe.json"
    agenda.write_text(
        json.dumps({"operations": [{"name": "probe", "type": "analysis",
                                    "payload": {"inputs": [str(truncated)]}}]}),
        encoding="utf-8",
    )  # fmt: skip
    completed = run_pop("run-local", str(agenda))
    assert completed.returncode == 1
    expected = f"Cannot read {truncated} as media: Invalid data found when processing input"
    assert f"failed    probe: {expected}" in completed.stderr
    assert f"failed: probe: {expected}" in completed.stdout
    assert "Resident execution failed" not in completed.stdout
    progress = json.loads(run_pop("list", "--json").stdout)[0]
    logs = run_pop("logs", progress["agendaId"]).stdout
    assert f"input {truncated}" in logs and f"failed: {expected}" in logs


def test_every_agenda_command_takes_the_agenda_id_the_progress_id_or_a_prefix(
    run_pop: RunPop, failed_agenda: tuple[str, Path]
) -> None:
    agenda_id, _ = failed_agenda
    progress_id = json.loads(run_pop("status", agenda_id, "--json").stdout)["id"]
    for given in (agenda_id, progress_id, progress_id[:10], agenda_id[:8]):
        for args in (("status", given), ("logs", given), ("outputs", given, "--json")):
            completed = run_pop(*args)
            assert completed.returncode == 0, (args, completed.stderr)
        shown = json.loads(run_pop("status", given, "--json").stdout)
        assert shown["agendaId"] == agenda_id
    rerun = run_pop("rerun", progress_id, "--continue", "--skip-execution")
    assert rerun.returncode == 0, rerun.stderr
    cancel = run_pop("cancel", progress_id[:12])
    assert cancel.returncode == 0 and agenda_id in cancel.stdout
    missing = run_pop("status", "ffffffff-none")
    assert missing.returncode == 4
    assert missing.stderr.startswith("error: no agenda with id or progress id ffffffff-none")


def test_list_at_80_columns_is_one_line_per_agenda_with_ids_that_paste(
    run_pop: RunPop, pop_home: Path, tmp_path: Path, failed_agenda: tuple[str, Path]
) -> None:
    long_title = {"title": "a title far longer than any terminal line " * 4,
                  "operations": [{"name": "only", "type": "sample", "payload": {}}]}  # fmt: skip
    (tmp_path / "long.json").write_text(json.dumps(long_title), encoding="utf-8")
    assert run_pop("run-local", str(tmp_path / "long.json")).returncode == 0
    waiting = run_pop("submit", str(tmp_path / "long.json")).stdout.strip()
    assert run_pop("cancel", waiting).returncode == 0
    code, screen = run_in_terminal(pop_home, "list")
    assert code == 0
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].split() == ["ID", "STATE", "%", "OPS", "TIME", "MESSAGE"]
    assert len(lines) == 4  # the header and one line per agenda
    assert all(len(line) <= 80 for line in lines), lines
    states = [line.split()[1] for line in lines[1:]]
    assert states == ["failed", "succeeded", "cancelled"]
    for line in lines[1:]:
        short = line.split()[0]
        assert len(short) >= 8
        resolved = json.loads(run_pop("status", short, "--json").stdout)
        assert resolved["agendaId"].startswith(short)
    status = run_pop("status", waiting).stdout
    assert "COMPLETE/failed (cancelled)" in status
    _, wide = run_in_terminal(pop_home, "list", "--wide")
    assert "a title far longer than any terminal line " * 4 in wide.replace("\n", "")


def test_a_waiting_agenda_watched_with_no_executor_names_pop_executor(
    pop_home: Path, tmp_path: Path, run_pop: RunPop
) -> None:
    agenda = {"operations": [{"name": "only", "type": "sample", "payload": {}}]}
    (tmp_path / "a.json").write_text(json.dumps(agenda), encoding="utf-8")
    agenda_id = run_pop("submit", str(tmp_path / "a.json")).stdout.strip()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "pop", "status", agenda_id, "--watch"],
        env=pop_env(pop_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        line = watcher.stdout.readline()  # the notice comes after a few seconds of waiting
        assert "not claimed by any executor" in line and "`pop executor`" in line
        assert run_pop("executor", "--once").returncode == 0
        rest, _ = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert f"agenda {agenda_id}  COMPLETE/succeeded" in rest


def test_the_watch_view_never_starts_a_label_on_a_bar_s_line(
    pop_home: Path, tmp_path: Path, run_pop: RunPop
) -> None:
    sleeper = {
        "name": "slow",
        "type": "sample",
        "payload": {"actions": [{"action": "log",
                                 "paramsMap": {"logMessage": "done", "sleepMilliseconds": 8000}}]},
    }  # fmt: skip
    other = {**sleeper, "name": "other"}
    (tmp_path / "a.json").write_text(json.dumps({"operations": [sleeper, other]}), "utf-8")
    runner = subprocess.Popen(
        [sys.executable, "-m", "pop", "run-local", str(tmp_path / "a.json"), "-q", "--json"],
        env=pop_env(pop_home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        agenda_id = _wait_for_agenda(run_pop)
        code, screen = run_in_terminal(pop_home, "status", agenda_id, "--watch")
        runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert code == 0
    bars = [line for line in screen.splitlines() if "█" in line or "░" in line]
    assert bars, screen  # the watch drew while both ops ran (they run 8 s)
    for line in bars:  # each bar line starts with its own op's name, and holds one bar
        assert line.split()[0] in ("slow", "other"), line
        assert len(re.findall(r"[█░]+", line)) == 1, line


def _wait_for_agenda(run_pop: RunPop) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = json.loads(run_pop("list", "--json").stdout or "[]")
        running = [i for i in items if i["processingState"] == "EXECUTING"]
        if running:
            return str(running[0]["agendaId"])
        time.sleep(0.1)
    pytest.fail("no agenda started running")
