"""Shared fixtures: an isolated ``POP_HOME``, the real ``pop`` CLI as a subprocess, and a dump of
the store for "nothing changed" assertions.

    def test_something(run_pop, pop_home, store_snapshot):
        before = store_snapshot(pop_home)
        completed = run_pop("submit", "agenda.json")
        assert store_snapshot(pop_home) == before

Helpers that module-scoped fixtures need (they cannot use function-scoped ``pop_home``) are plain
functions here and reachable through the session fixture ``pop_cli``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# No per-example deadline: on a busy machine (two test workers, other jobs) an example may take
# far longer than hypothesis's default 200 ms without anything being wrong.
hypothesis_settings.register_profile("pop", deadline=None)
hypothesis_settings.load_profile("pop")

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout these tests belong to
EXAMPLES = REPO_ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

StoreSnapshot = dict[str, Any]


def pop_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``pop`` subprocess: ours without POP_* settings, POP_HOME = home."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("POP_")}
    environment.pop("PAYLOAD", None)
    environment.update({"POP_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"})
    # the checkout under test, whatever `pop` the machine has installed (an editable install of
    # another clone would otherwise answer every subprocess)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (str(REPO_ROOT), environment.get("PYTHONPATH", "")) if path
    )
    environment.update(extra or {})
    return environment


def pop_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pop", *args]


def run_pop_at(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m pop ARGS`` to its end with ``POP_HOME=home``; text output captured."""
    return subprocess.run(
        pop_argv(*args),
        env=pop_env(home, env),
        cwd=cwd or home.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_pop_at(
    home: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    """Start ``python -m pop ARGS`` in the background (stdout and stderr piped, text)."""
    return subprocess.Popen(
        pop_argv(*args),
        env=pop_env(home, env),
        cwd=cwd or home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_process(process: subprocess.Popen[str], *, grace: float = 10.0) -> None:
    """SIGTERM (run-local then stops its handlers), then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def comparable(progress: dict[str, Any]) -> list[tuple[Any, ...]]:
    """An AgendaProgress made comparable across runs of one agenda (on different runtimes):
    each op's name, state and result, with the agenda id taken out."""
    agenda_id = progress["agendaId"]
    return [
        (
            op["operation"],
            op["processingState"],
            op["processingStateMessage"],
            json.dumps(op.get("resultPayload")).replace(agenda_id, "ID"),
        )
        for op in progress["operationProgress"]
    ]


def store_snapshot(home: Path) -> StoreSnapshot | None:
    """Every table of ``home/pop.db`` (rows sorted) plus its schema version; None without a file.

    The store is opened read-only, so taking a snapshot never changes it.
    """
    path = home / "pop.db"
    if not path.exists():
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        snapshot: StoreSnapshot = {"user_version": version}
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        ).fetchall()
        for (table,) in tables:
            rows = connection.execute(f'SELECT * FROM "{table}"').fetchall()
            snapshot[table] = sorted(rows, key=repr)
        return snapshot
    finally:
        connection.close()


def wait_for(
    check: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.1, what: str = ""
) -> Any:
    """Call ``check`` until it returns something truthy; fail the test after ``timeout`` s
    (long by default: it costs nothing when the check passes, and a busy machine is slow)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or check}")
        time.sleep(interval)


@dataclass(frozen=True)
class PopCli:
    """The helpers above, for fixtures of any scope."""

    run: Callable[..., subprocess.CompletedProcess[str]] = run_pop_at
    start: Callable[..., subprocess.Popen[str]] = start_pop_at
    env: Callable[..., dict[str, str]] = pop_env
    snapshot: Callable[[Path], StoreSnapshot | None] = store_snapshot
    wait_for: Callable[..., Any] = wait_for
    stop: Callable[..., None] = stop_process


@pytest.fixture(scope="session")
def pop_cli() -> PopCli:
    return PopCli()


@pytest.fixture
def pop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``POP_HOME`` (not created yet) for this test and any pop code run in-process."""
    home = tmp_path / "pop_home"
    for name in [key for key in os.environ if key.startswith("POP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("POP_HOME", str(home))
    return home


@pytest.fixture
def run_pop(pop_home: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_pop(*args, env=None, timeout=60)``: the real CLI with this test's POP_HOME."""

    def run(
        *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return run_pop_at(pop_home, *args, env=env, timeout=timeout)

    return run


@pytest.fixture
def start_pop(pop_home: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """``start_pop(*args, env=None)``: the CLI in the background; stopped at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        process = start_pop_at(pop_home, *args, env=env)
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)


@pytest.fixture(name="store_snapshot")
def store_snapshot_fixture() -> Callable[[Path], StoreSnapshot | None]:
    """``store_snapshot(home)``: see :func:`store_snapshot`."""
    return store_snapshot


@pytest.fixture(name="wait_for")
def wait_for_fixture() -> Callable[..., Any]:
    """``wait_for(check, timeout=60, what="...")``: poll until ``check()`` is truthy."""
    return wait_for


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """A Docker engine with the test images (tests/docker_engine.py): a running one, or our own
    dockerd started as root and stopped at the end; DOCKER_HOST points at it for the session.
    Without an engine the test fails under CI=true and is skipped elsewhere, saying why."""
    from tests.docker_engine import engine_session

    with engine_session() as engine:
        yield engine


@pytest.fixture(scope="session")
def handlers_image(docker_engine: Any) -> str:
    """The ``pop-handlers:<version>`` image (also ``pop-handlers:latest``, the registry's
    default) in the test engine, built once under a file lock and then found by its recipe
    (tests/docker_images.py)."""
    from tests.docker_images import handlers_image as build_handlers_image

    return build_handlers_image(docker_engine)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a Docker engine, so the summary can count them."""
    for item in items:
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line saying how many docker tests passed, failed and were skipped, so a CI log shows
    that they ran (CI must skip none of them)."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            keywords = getattr(report, "keywords", {}) or {}
            if "docker" in keywords and (report.when == "call" or outcome != "passed"):
                counts[outcome] = counts.get(outcome, 0) + 1
    if counts:
        shown = ", ".join(f"{counts[name]} {name}" for name in counts)
        terminalreporter.write_line(f"docker tests: {shown}")
