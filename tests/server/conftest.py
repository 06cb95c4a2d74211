"""A real ``pop serve`` on a loopback port, for tests that talk HTTP to it.

``start_server(home, *args)`` starts ``python -m pop serve --port 0 ARGS`` with ``POP_HOME=home``,
waits for its ``pop serve: listening on URL`` line on stderr (the port it picked) and returns a
:class:`RunningServer`; ``stop()`` sends SIGTERM and returns the exit code. Its stderr is read
all along (into ``lines``) so the request log never fills the pipe. The module-scoped fixtures
``server`` (``--no-auth``) and ``auth_server`` (tokens required) share one store per module.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import start_pop_at, store_snapshot, wait_for

READY_PREFIX = "pop serve: listening on "


@dataclass
class RunningServer:
    """A ``pop serve`` process, its URL and every line it wrote on stderr so far."""

    process: subprocess.Popen[str]
    home: Path
    lines: list[str] = field(default_factory=list)
    url: str = ""

    def http(self, **options: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **options)  # type: ignore[arg-type]

    def stop(self, *, grace: float = 15.0) -> int:
        """SIGTERM, then the exit code (SIGKILL after ``grace`` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def stderr(self) -> str:
        return "".join(self.lines)


def start_server(
    home: Path, *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None
) -> RunningServer:
    process = start_pop_at(home, "serve", "--port", "0", *args, env=env)
    server = RunningServer(process=process, home=home)

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.lines.append(line)

    threading.Thread(target=read_stderr, daemon=True).start()

    def ready() -> str | None:
        for line in list(server.lines):
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX) :].strip()
        if process.poll() is not None:
            pytest.fail(f"pop serve exited {process.returncode}:\n{server.stderr()}")
        return None

    server.url = wait_for(ready, timeout=timeout, what="pop serve to listen")
    return server


@pytest.fixture(name="start_server")
def start_server_fixture(tmp_path: Path) -> Iterator[Callable[..., RunningServer]]:
    """``start_server(*args, home=None, env=None)``: a server of its own (``env``: extra
    variables such as ``POP_LEASE_SECONDS``), stopped at teardown."""
    started: list[RunningServer] = []

    def start(
        *args: str, home: Path | None = None, env: Mapping[str, str] | None = None
    ) -> RunningServer:
        server = start_server(home or tmp_path / "pop_home", *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _module_server(home: Path, *args: str) -> Iterator[RunningServer]:
    server = start_server(home, *args)
    try:
        with server.http() as http:
            assert http.get("/readyz").status_code == 200  # the store exists from here on
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``pop serve --no-auth`` with its own POP_HOME, shared by the module's tests."""
    yield from _module_server(tmp_path_factory.mktemp("serve") / "pop_home", "--no-auth")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A ``pop serve`` that needs tokens, with its own POP_HOME, shared by the module's tests."""
    yield from _module_server(tmp_path_factory.mktemp("serve-auth") / "pop_home")


def add_token(home: Path, **rights: Any) -> str:
    """A token made on the server's store (``pop token add``); its secret."""
    from pop.api import Client
    from pop.config import Settings

    client = Client(Settings.from_env().with_changes(home=home))
    try:
        _, secret = client.token_add(**rights)
    finally:
        client.close()
    return secret


def the_five_tokens(home: Path) -> dict[str, str]:
    """acme's, umbrella's, both customers', a global and an executor token (insight default)."""
    return {
        "acme": add_token(home, kind="customer", customers=["acme"], name="acme"),
        "umbrella": add_token(home, kind="customer", customers=["umbrella"], name="umbrella"),
        "both": add_token(home, kind="customer", customers=["acme", "umbrella"], name="both"),
        "global": add_token(home, kind="global", name="root"),
        "executor": add_token(home, kind="executor", insights=["default"], name="exec"),
    }


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def without_tokens(home: Path) -> dict[str, Any]:
    """The store but its tokens table (a verified token records when it was last used)."""
    snapshot = store_snapshot(home) or {}
    return {table: rows for table, rows in snapshot.items() if table != "tokens"}
