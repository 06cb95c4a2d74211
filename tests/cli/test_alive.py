"""POP's alive check for ``pop executor`` (issue 12 item 8): ``pop alive`` and the alive file.

``pop alive`` says alive when the file does not exist (no ask for work yet) or was touched
within the threshold, else exit 1 with one line (POP's test vector 54: unset, just updated,
older than the threshold). ``pop executor --alive-file F`` (or ``POP_ALIVE_FILE``) touches F on
each turn of its claim loop that asked for work and got an answer, or had no free slot to ask
for, for the local store and for ``--server``; once the process is gone it stops.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli.test_app import HEAVY, loaded_by
from tests.conftest import start_pop_at, stop_process, wait_for
from tests.server.conftest import add_token, start_server

RunPop = Callable[..., subprocess.CompletedProcess[str]]
StartPop = Callable[..., subprocess.Popen[str]]
NOT_ALIVE = re.compile(r"not alive: last successful ask for work (\d+) s ago \(threshold (\S+) s\)")


def aged(path: Path, seconds: float) -> Path:
    """``path`` (created if missing) with a modification time ``seconds`` in the past."""
    path.touch()
    past = time.time() - seconds
    os.utime(path, (past, past))
    return path


def mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def advances(path: Path, process: subprocess.Popen[str]) -> int:
    """Wait until ``process`` touched ``path`` twice; the later modification time."""
    first = wait_for(lambda: path.exists() and mtime(path), what=f"{path} to be written")
    later: int = wait_for(
        lambda: (process.poll() is None or _fail(process)) and mtime(path) > first and mtime(path),
        what=f"{path} to be touched again",
    )
    return later


def _fail(process: subprocess.Popen[str]) -> bool:
    _, err = process.communicate()
    raise AssertionError(f"the executor exited {process.returncode}: {err}")


def assert_stops_after_exit(path: Path, process: subprocess.Popen[str], run_pop: RunPop) -> None:
    """Once ``process`` has ended, ``path`` is no longer touched and ``pop alive`` fails."""
    last = mtime(path)
    time.sleep(1.0)  # five polls of 0.2 s
    assert mtime(path) == last
    check = run_pop("alive", "--alive-file", str(path), "--threshold", "0.5s")
    assert check.returncode == 1, check.stderr
    match = NOT_ALIVE.fullmatch(check.stderr.strip())
    assert match is not None, check.stderr
    assert match.group(2) == "0.5"


def test_the_check_is_alive_without_a_file_or_when_fresh_and_not_alive_when_old(
    run_pop: RunPop, tmp_path: Path
) -> None:
    alive_file = tmp_path / "alive"

    missing = run_pop("alive", "--alive-file", str(alive_file))
    assert (missing.returncode, missing.stdout, missing.stderr) == (0, "", "")

    alive_file.touch()
    fresh = run_pop("alive", "--alive-file", str(alive_file))
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, "", "")

    aged(alive_file, 74)
    old = run_pop("alive", "--alive-file", str(alive_file))
    assert old.returncode == 1
    assert old.stdout == ""
    (line,) = old.stderr.splitlines()
    match = NOT_ALIVE.fullmatch(line)
    assert match is not None, line
    assert int(match.group(1)) >= 74 and match.group(2) == "30"

    # the threshold takes a duration; the default is POP's 30 s
    assert run_pop("alive", "--alive-file", str(alive_file), "--threshold", "2m").returncode == 0
    minute = run_pop("alive", "--alive-file", str(alive_file), "--threshold", "60")
    assert minute.returncode == 1 and "(threshold 60 s)" in minute.stderr


def test_the_check_reads_pop_alive_file_and_the_option_wins(
    run_pop: RunPop, tmp_path: Path
) -> None:
    old = aged(tmp_path / "old", 100)
    by_env = run_pop("alive", env={"POP_ALIVE_FILE": str(old)})
    assert by_env.returncode == 1 and NOT_ALIVE.fullmatch(by_env.stderr.strip()), by_env.stderr
    missing = tmp_path / "missing"
    both = run_pop("alive", "--alive-file", str(missing), env={"POP_ALIVE_FILE": str(old)})
    assert both.returncode == 0, both.stderr


def test_the_check_refuses_bad_input_with_exit_2(run_pop: RunPop, tmp_path: Path) -> None:
    nothing = run_pop("alive")
    assert nothing.returncode == 2
    assert nothing.stderr.startswith("error: pop alive needs the executor's alive file\n")
    assert "--alive-file" in nothing.stderr and "POP_ALIVE_FILE" in nothing.stderr
    for threshold in ("soon", "0", "-5"):
        bad = run_pop("alive", "--alive-file", str(tmp_path / "a"), "--threshold", threshold)
        assert bad.returncode == 2, (threshold, bad.stderr)
        assert bad.stderr.startswith("error: invalid --threshold"), bad.stderr


def test_the_check_loads_no_models_store_yaml_or_asyncio(tmp_path: Path) -> None:
    for words in (["alive", "--alive-file", str(tmp_path / "none")], ["alive", "--help"]):
        loaded = loaded_by(tmp_path / "home", *words)
        heavy = HEAVY | {"pydantic", "yaml", "sqlite3", "asyncio", "httpx", "kubernetes"}
        assert not loaded & (heavy | {"pop.models", "pop.api", "pop.store", "pop.services"})
    assert not (tmp_path / "home").exists()


def test_a_local_executor_touches_its_alive_file_each_poll_until_it_is_killed(
    start_pop: StartPop, run_pop: RunPop, tmp_path: Path
) -> None:
    alive_file, other = tmp_path / "alive", tmp_path / "from-env"
    executor = start_pop(
        "executor", "--alive-file", str(alive_file), "--poll", "0.2",
        env={"POP_ALIVE_FILE": str(other)},
    )  # fmt: skip

    advances(alive_file, executor)
    assert not other.exists()  # the option wins over POP_ALIVE_FILE
    check = run_pop("alive", "--alive-file", str(alive_file))
    assert check.returncode == 0, check.stderr

    executor.kill()
    executor.communicate()
    assert_stops_after_exit(alive_file, executor, run_pop)


def test_a_busy_executor_with_no_free_slot_stays_alive(
    start_pop: StartPop, run_pop: RunPop, tmp_path: Path
) -> None:
    """Its one slot runs a long agenda, so it asks for nothing: the loop still turns, and the
    probe must not kill the agenda it runs. A stale file from an earlier process goes first."""
    agenda = tmp_path / "long.json"
    sleeper = {"action": "log", "paramsMap": {"logMessage": "long", "sleepMilliseconds": 60000}}
    agenda.write_text(
        json.dumps({"operations": [{"name": "long", "type": "sample", "payload": {
            "actions": [sleeper], "resultPayload": {}}}]}),
        encoding="utf-8",
    )  # fmt: skip
    submitted = run_pop("submit", str(agenda))
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = submitted.stdout.strip()
    alive_file = aged(tmp_path / "alive", 3600)

    executor = start_pop(
        "executor", "--max-running", "1", "--poll", "0.2", "--no-services",
        env={"POP_ALIVE_FILE": str(alive_file)},
    )  # fmt: skip

    def state() -> str:
        shown = run_pop("status", agenda_id, "--json")
        assert shown.returncode == 0, shown.stderr
        return str(json.loads(shown.stdout)["processingState"])

    wait_for(lambda: state() == "EXECUTING", what="the agenda to run")
    since = advances(alive_file, executor)
    assert time.time_ns() - since < 3600 * 10**9  # the stale time is gone
    wait_for(lambda: mtime(alive_file) > since, what="another touch while the slot is busy")
    assert state() == "EXECUTING"  # still running: nothing was claimed meanwhile
    assert run_pop("alive", env={"POP_ALIVE_FILE": str(alive_file)}).returncode == 0

    executor.send_signal(signal.SIGTERM)  # stop claiming
    time.sleep(0.3)
    executor.send_signal(signal.SIGTERM)  # and stop the running agenda
    executor.communicate(timeout=60)


def test_an_executor_that_cannot_start_leaves_no_stale_alive_file(
    run_pop: RunPop, tmp_path: Path, pop_home: Path
) -> None:
    alive_file = aged(tmp_path / "alive", 3600)
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

    ran = run_pop("executor", "--once", "--launch", "docker", "--alive-file", str(alive_file),
                  env=nowhere)  # fmt: skip

    assert ran.returncode == 3, ran.stderr
    assert not alive_file.exists()  # removed at start: it never asked, which counts as alive
    assert run_pop("alive", "--alive-file", str(alive_file)).returncode == 0

    once = run_pop("executor", "--once", env={"POP_ALIVE_FILE": str(alive_file)})
    assert once.returncode == 0, once.stderr
    assert alive_file.exists()  # one answered ask for work, then out of work


def test_an_alive_file_in_a_missing_folder_is_exit_2_before_anything(
    run_pop: RunPop, tmp_path: Path, pop_home: Path
) -> None:
    for given in (str(tmp_path / "nope" / "alive"), str(tmp_path)):
        ran = run_pop("executor", "--once", "--alive-file", given)
        assert ran.returncode == 2, ran.stderr
        assert ran.stderr.startswith(f"error: --alive-file {given!r}"), ran.stderr
        assert not pop_home.exists()


def test_a_remote_executor_touches_its_alive_file_while_the_server_answers(
    run_pop: RunPop, tmp_path: Path
) -> None:
    server_home = tmp_path / "server"
    secret = add_token(server_home, kind="executor", insights=["default"], name="exec")
    server = start_server(server_home)
    alive_file = tmp_path / "alive"
    executor = start_pop_at(
        tmp_path / "executor", "executor", "--server", server.url, "--insight", "default",
        "--alive-file", str(alive_file), "--poll", "0.2", env={"POP_TOKEN": secret},
    )  # fmt: skip
    try:
        advances(alive_file, executor)
        assert run_pop("alive", "--alive-file", str(alive_file)).returncode == 0
        gets = [line for line in server.lines if "getAgenda" in line]
        assert gets, server.stderr()

        server.stop()  # getAgenda gets no answer: nothing runs, so the executor exits 3
        executor.communicate(timeout=120)
        assert executor.returncode == 3
        assert_stops_after_exit(alive_file, executor, run_pop)
    finally:
        stop_process(executor)
        server.stop()
