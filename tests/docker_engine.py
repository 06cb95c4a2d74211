"""A Docker engine for the tests: the one that answers, or our own ``dockerd`` started as root.

The session fixture ``docker_engine`` (tests/conftest.py) calls :func:`engine_session`. It uses
the engine at ``DOCKER_HOST`` when that is set, else the default socket, else the one an earlier
test session started; when none answers and we are root, it starts ``dockerd`` with its own
socket, pidfile, data root (under /var/lib/pop-test-docker, so images survive between runs) and
exec root, and stops it by pid when the last test session using it ends. Test workers
(pytest-xdist) and concurrent sessions share one engine: a file lock makes sure only one starts
it and builds the images; each session registers its pid while it uses the engine.

Without an engine the docker tests fail when ``CI=true`` and are skipped otherwise, saying why.
``POP_TEST_NO_DOCKERD=1`` keeps the tests from starting dockerd.

``python -m tests.docker_engine prepare`` (run by scripts/test) starts an engine when needed and
builds the test images (cached by tag), so the first docker test does not wait for debootstrap.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

STATE_DIR = Path("/var/lib/pop-test-docker")
OWN_SOCKET = "/tmp/pop-test-docker.sock"
OWN_HOST = f"unix://{OWN_SOCKET}"
DEFAULT_HOST = "unix:///var/run/docker.sock"
LOCK_FILE = Path("/tmp/pop-test-docker.lock")
PIDFILE = STATE_DIR / "dockerd.pid"
LOG_FILE = STATE_DIR / "dockerd.log"
OWNED_MARKER = STATE_DIR / "started-by-tests"  # dockerd of this file, to be stopped by it
USERS_DIR = STATE_DIR / "users"  # one file per test session (pid) using our dockerd
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
TEST_LABEL = "pop.test"
NO_DOCKERD = "POP_TEST_NO_DOCKERD"  # set: never start dockerd, use a running engine or none


@dataclass
class DockerEngine:
    """The engine the tests use: its address, the test images, and this session's label."""

    host: str
    base_image: str
    busybox_image: str
    started_here: bool
    session_token: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")

    @property
    def labels(self) -> dict[str, str]:
        """Labels for every test container: the session finalizer removes what has them."""
        return {TEST_LABEL: self.session_token}

    @property
    def env(self) -> dict[str, str]:
        """What a subprocess needs to reach this engine."""
        return {"DOCKER_HOST": self.host}

    def client(self) -> Any:
        """A docker SDK client of this engine ("from outside" the launcher under test)."""
        import docker

        return docker.DockerClient(base_url=self.host, version="auto")

    def remove_test_containers(self) -> None:
        client = self.client()
        try:
            filters = {"label": f"{TEST_LABEL}={self.session_token}"}
            for container in client.containers.list(all=True, filters=filters):
                with contextlib.suppress(Exception):
                    container.remove(force=True)
        finally:
            client.close()


def engine_answers(host: str, timeout: float = 5.0) -> bool:
    import docker

    try:
        client = docker.DockerClient(base_url=host, version="auto", timeout=int(timeout))
    except docker.errors.DockerException:
        return False
    try:
        return bool(client.ping())
    except (docker.errors.DockerException, OSError):
        return False
    finally:
        client.close()


def unavailable(reason: str) -> None:
    """Fail (under CI) or skip the test, saying why there is no engine."""
    message = f"no Docker engine for the docker tests: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the docker tests must run)", pytrace=False)
    pytest.skip(message)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` held for the block: test workers (pytest-xdist) and sessions
    take turns starting dockerd and building images."""
    with open(path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _locked() -> contextlib.AbstractContextManager[None]:
    return file_lock(LOCK_FILE)


def _find_engine() -> tuple[str | None, str]:
    """The address of an engine that answers, or None and why not."""
    explicit = os.environ.get("DOCKER_HOST")
    if explicit:
        if engine_answers(explicit):
            return explicit, ""
        return None, f"DOCKER_HOST={explicit} does not answer"
    for host in (DEFAULT_HOST, OWN_HOST):
        if engine_answers(host):
            return host, ""
    return None, f"no engine answers at {DEFAULT_HOST} or {OWN_HOST}"


def _start_dockerd() -> None:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise RuntimeError("dockerd is not installed (apt-get install -y docker.io)")
    exec_root = Path("/tmp/pop-test-docker-exec")
    for folder in (STATE_DIR / "data", exec_root):
        folder.mkdir(parents=True, exist_ok=True)
    Path(OWN_SOCKET).unlink(missing_ok=True)
    argv = [
        dockerd,
        f"--host={OWN_HOST}",
        f"--pidfile={PIDFILE}",
        f"--data-root={STATE_DIR / 'data'}",
        f"--exec-root={exec_root}",
    ]
    with open(LOG_FILE, "wb") as log:  # this start's log only
        process = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    OWNED_MARKER.write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while not engine_answers(OWN_HOST, timeout=2):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = LOG_FILE.read_text(errors="replace").splitlines()[-15:]
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            OWNED_MARKER.unlink(missing_ok=True)
            raise RuntimeError("dockerd did not come up:\n" + "\n".join(tail))
        time.sleep(0.2)


def _stop_dockerd() -> None:
    """Stop the dockerd the tests started (by the pid it wrote), if no session uses it."""
    try:
        pid = int(PIDFILE.read_text().strip())
    except (OSError, ValueError):
        pid = int(OWNED_MARKER.read_text().strip() or 0) if OWNED_MARKER.exists() else 0
    if pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    OWNED_MARKER.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def _live_users() -> list[Path]:
    USERS_DIR.mkdir(parents=True, exist_ok=True)
    users = []
    for entry in USERS_DIR.iterdir():
        if entry.name.isdigit() and _alive(int(entry.name)):
            users.append(entry)
        else:
            entry.unlink(missing_ok=True)
    return users


def _build_images(host: str) -> tuple[str, str]:
    from pop.runtimes.docker.base_image import build_base_image, busybox_image

    def log(line: str) -> None:
        if not line.startswith("I: "):  # debootstrap's per-package lines
            print(f"[docker_engine] {line}", file=sys.stderr)

    return build_base_image(docker_host=host, log=log), busybox_image(docker_host=host, log=log)


def acquire(*, register: bool = True) -> tuple[DockerEngine | None, str]:
    """An engine with the test images (started and built when needed), or None and why not."""
    with _locked():
        host, reason = _find_engine()
        started = False
        if host is None:
            if os.environ.get(NO_DOCKERD):
                return None, f"{reason}; starting dockerd is turned off ({NO_DOCKERD} is set)"
            if os.geteuid() != 0:
                return None, f"{reason}; not root, so the tests cannot start dockerd"
            try:
                _start_dockerd()
            except (OSError, RuntimeError) as exc:
                return None, f"{reason}; starting dockerd failed: {exc}"
            host, started = OWN_HOST, True
        if register and host == OWN_HOST:
            _live_users()
            (USERS_DIR / str(os.getpid())).touch()
        try:
            base, busybox = _build_images(host)
        except Exception as exc:  # any failure here means: no usable engine, say why
            return None, f"building the test images on {host} failed: {exc}"
    return DockerEngine(host, base, busybox, started_here=started), ""


def release(engine: DockerEngine | None) -> None:
    """Remove this session's test containers; stop our dockerd when no session uses it."""
    if engine is not None:
        with contextlib.suppress(Exception):
            engine.remove_test_containers()
    with _locked():
        (USERS_DIR / str(os.getpid())).unlink(missing_ok=True)
        if OWNED_MARKER.exists() and not _live_users():
            _stop_dockerd()


@contextlib.contextmanager
def engine_session() -> Iterator[DockerEngine]:
    """The body of the ``docker_engine`` session fixture: DOCKER_HOST set for the session."""
    engine, reason = acquire()
    try:
        if engine is None:
            unavailable(reason)
        assert engine is not None
        previous = os.environ.get("DOCKER_HOST")
        os.environ["DOCKER_HOST"] = engine.host
        try:
            yield engine
        finally:
            if previous is None:
                os.environ.pop("DOCKER_HOST", None)
            else:
                os.environ["DOCKER_HOST"] = previous
    finally:
        release(engine)


def prepare() -> int:
    """Start an engine when needed and build the test images, then stop what was started."""
    engine, reason = acquire(register=False)
    if engine is None:
        print(f"docker tests: {reason}", file=sys.stderr)
        return 1
    print(f"docker tests: engine {engine.host}, images {engine.base_image} {engine.busybox_image}")
    release(None)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m tests.docker_engine prepare")
    sys.exit(prepare())
