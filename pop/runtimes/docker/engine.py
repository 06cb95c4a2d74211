"""Reaching the Docker engine: which host, a client for it, and its errors as pop errors.

Layer: runtimes. Used by the docker launcher and the base-image recipe of this package; the only
modules of pop that import the ``docker`` SDK are in ``pop.runtimes.docker``, and they import it
inside functions, so ``import pop.runtimes.docker`` stays cheap.

The engine's usual settings are honoured: an explicit ``docker_host`` (runtime option), else
``DOCKER_HOST``, else the default socket; ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as the
``docker`` CLI reads them.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pop.errors import LaunchError, RuntimeUnavailableError
from pop.runtimes.docker.container_spec import PARENT_LABEL

if TYPE_CHECKING:
    from docker import APIClient, DockerClient

T = TypeVar("T")

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# Streams (one log stream per running container) and short calls share the client's pool.
_MAX_POOL_SIZE = 128
# Blocking calls in flight at once (a stop blocks for its grace: many may run together).
_POOL_THREADS = 64

UNAVAILABLE_HINT = (
    "start the Docker engine (as root: `dockerd &`, or `systemctl start docker`), or point "
    "DOCKER_HOST at a running engine (e.g. unix:///path/to/docker.sock); to use "
    "/var/run/docker.sock without root, add your user to the docker group "
    "(`usermod -aG docker $USER`, then log in again)"
)


_OS_REASONS: tuple[tuple[type[OSError], str], ...] = (
    (FileNotFoundError, "no such socket"),
    (ConnectionRefusedError, "connection refused"),
    (PermissionError, "permission denied"),
)
_OS_MESSAGES = ("No such file or directory", "Connection refused", "Permission denied")


def docker_host_of(options: Mapping[str, Any]) -> str:
    """The engine address a launcher with these runtime options talks to ("" = the default
    socket): the ``docker_host`` option, else ``DOCKER_HOST``."""
    return str(options.get("docker_host") or os.environ.get("DOCKER_HOST") or "")


def connect(docker_host: str, *, timeout: float = 60) -> DockerClient:
    """A client of the engine at ``docker_host`` ("" = ``DOCKER_HOST`` or the default socket),
    with the API version the engine speaks. Blocking (asks the engine its version): call it off
    the event loop. Raises RuntimeUnavailableError when the engine does not answer."""
    import docker
    from docker.utils import kwargs_from_env

    settings: dict[str, Any] = dict(kwargs_from_env())
    if docker_host:
        settings["base_url"] = docker_host
    try:
        return docker.DockerClient(
            **settings, version="auto", timeout=int(timeout), max_pool_size=_MAX_POOL_SIZE
        )
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc


def unavailable(exc: BaseException, docker_host: str) -> RuntimeUnavailableError:
    """The RuntimeUnavailableError (with the dockerd / DOCKER_HOST / docker group hint) for an
    engine that did not answer with ``exc``."""
    where = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    return RuntimeUnavailableError(
        f"cannot reach the Docker engine at {where}: {reason_of(exc)}", hint=UNAVAILABLE_HINT
    )


def reason_of(exc: BaseException) -> str:
    """A short reason for a failed engine call: the OS error at the bottom of the chain when
    there is one (no such socket, connection refused, permission denied), else the message."""
    causes = _chain(exc)
    for kind, reason in _OS_REASONS:
        if any(isinstance(cause, kind) for cause in causes):
            return reason
    text = str(exc)
    for (_, reason), marker in zip(_OS_REASONS, _OS_MESSAGES, strict=True):
        if marker in text:  # requests and urllib3 sometimes keep only the OS error's text
            return reason
    return text or type(exc).__name__


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the engine stopped answering (no connection, a broken or stalled
    stream), not that it answered with an error."""
    import requests
    from urllib3.exceptions import ProtocolError

    answered = (requests.exceptions.HTTPError,)  # docker.errors.APIError is one of these
    lost = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        ProtocolError,
        ConnectionError,
        FileNotFoundError,
    )
    causes = _chain(exc)
    if isinstance(exc, answered):
        return False
    return any(isinstance(cause, lost) for cause in causes)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc``, its causes and contexts, and exceptions held in its args (requests wraps
    urllib3's errors that way), each once."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if any(current is known for known in seen):
            continue
        seen.append(current)
        for linked in (current.__cause__, current.__context__, *current.args):
            if isinstance(linked, BaseException):
                pending.append(linked)
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return seen


class Engine:
    """One launcher's connection: a client made on first use (off the loop) and a thread pool
    for the blocking calls."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self._client: DockerClient | None = None
        self._connect_lock = threading.Lock()  # held while connecting: pool threads only
        self._pool_lock = threading.Lock()  # never held for long: the loop takes it
        self._pool: ThreadPoolExecutor | None = None
        self.engine_id = ""
        self.cpus: int | None = None

    def client(self) -> DockerClient:
        """The client, connected on first use (blocking: from a pool thread only)."""
        import docker

        with self._connect_lock:
            if self._client is None:
                client = connect(self.docker_host)
                try:
                    info = client.info()
                except (docker.errors.DockerException, OSError) as exc:
                    client.close()
                    raise unavailable(exc, self.docker_host) from exc
                self.engine_id, self.cpus = str(info.get("ID", "")), info.get("NCPU")
                self._client = client
            return self._client

    def api(self) -> APIClient:
        return self.client().api

    async def call(self, function: Callable[[APIClient], T]) -> T:
        """``function(api)`` on the pool, with the API client connected there on first use;
        engine failures stay SDK exceptions (or RuntimeUnavailableError from connecting)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="pop-docker")
            pool = self._pool
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, lambda: function(self.api()))

    def close(self) -> None:
        """Close the client and let the pool's threads end; a later call connects again."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        with self._connect_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


async def stop_container(engine: Engine, container_id: str, grace_seconds: float) -> None:
    """``docker stop`` (SIGTERM, SIGKILL after the grace); nothing for a container gone or an
    engine gone (the reader thread reports those)."""
    import docker

    try:
        await engine.call(lambda api: api.stop(container_id, timeout=math.ceil(grace_seconds)))
    except (docker.errors.NotFound, RuntimeUnavailableError):
        return
    except (docker.errors.DockerException, OSError) as exc:
        if not is_connection_error(exc):
            raise LaunchError(f"cannot stop container {container_id[:12]}: {exc}") from exc


async def stop_children(
    engine: Engine, name: str, grace_seconds: float, *, remove: bool = False
) -> None:
    """Stop the running containers a handler started as its externals (label pop.parent);
    with ``remove`` also remove them, ended ones too (the reclaimer's stop: the handler that
    would have removed them is gone)."""
    import docker

    filters = {"label": f"{PARENT_LABEL}={name}"}
    try:
        children = await engine.call(lambda api: api.containers(all=remove, filters=filters))
    except (docker.errors.DockerException, OSError, RuntimeUnavailableError):
        return  # the engine is gone: nothing to stop there
    running = [child["Id"] for child in children if child.get("State") == "running"]
    await asyncio.gather(*(stop_container(engine, child, grace_seconds) for child in running))
    if remove:
        await asyncio.gather(*(remove_container(engine, child["Id"]) for child in children))


async def remove_container(engine: Engine, container_id: str) -> None:
    """Remove a container by force; never raises for one already gone or being removed, nor
    for an engine gone (the reaper finds what is left by its labels)."""
    import docker

    try:
        await engine.call(lambda api: api.remove_container(container_id, force=True))
    except (docker.errors.NotFound, RuntimeUnavailableError):
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # removal already in progress
            return
        raise LaunchError(f"cannot remove container {container_id[:12]}: {exc}") from exc
    except (docker.errors.DockerException, OSError) as exc:
        if not is_connection_error(exc):
            raise LaunchError(f"cannot remove container {container_id[:12]}: {exc}") from exc


def engine_time(text: str | None) -> float | None:
    """Epoch seconds of an engine timestamp (``2026-12-01T14:19:58.160949320Z``, nanoseconds
    cut to microseconds); None for the engine's "never" (year 1) or nothing."""
    if not text or text.startswith("0001-"):
        return None
    main, dot, rest = text.partition(".")
    if dot:
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        main = f"{main}.{digits[:6]}{zone}"
    return datetime.fromisoformat(main.replace("Z", "+00:00")).timestamp()
