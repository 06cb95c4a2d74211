"""Serving the app with uvicorn until SIGINT or SIGTERM: ``pop serve``'s loop.

Layer: server. :func:`serve` binds the socket itself (so ``port=0`` picks a free port whose
number is known before the first request), tells ``on_ready`` the URL once uvicorn accepts
connections, and returns normally after a signal once the requests in flight are answered (the
command then exits 0). Logging: one line per request on stderr (:mod:`pop.server.middleware`),
uvicorn's own only from warnings up.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from pop.errors import InputError, PopError

GRACEFUL_SHUTDOWN_SECONDS = 10


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` when it listens."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_ready()


def listen_url(host: str, port: int, *, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on each accepted connection (it skips
    # sockets of proto 0): otherwise a keep-alive answer waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PopError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="is another server on that port? (--port 0 picks a free one)",
        ) from None
    sock.set_inheritable(True)
    return sock


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name, level in (("pop.server", logging.INFO), ("uvicorn", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False


def serve(
    app: FastAPI,
    *,
    host: str,
    port: int,
    on_ready: Callable[[str], None],
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (TLS with a certificate and key) until SIGINT/SIGTERM."""
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="on",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    try:
        config.load()
    except (OSError, ssl.SSLError) as exc:
        raise InputError(
            f"cannot use --certfile {certfile} and --keyfile {keyfile}: {exc}"
        ) from None
    configure_logging()
    sock = bind(host, port)
    url = listen_url(host, sock.getsockname()[1], tls=certfile is not None)
    server = _Server(config, on_ready=lambda: on_ready(url))
    # uvicorn restores the handlers it found and then raises the signal it caught again: with
    # these, that second delivery does nothing and serve() returns (exit 0)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None
