"""A real ``pop serve --port 0`` for the benchmarks (serve.py, dashboard.py): started on a
POP_HOME, its stderr read all along, its URL taken from its "listening on" line, stopped when
the block ends."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

READY_PREFIX = "pop serve: listening on "


@dataclass
class Server:
    """A ``pop serve`` subprocess; its stderr is read all along (``lines``)."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    url: str = ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextmanager
def serving(pop: list[str], env: Mapping[str, str], *options: str) -> Iterator[Server]:
    """``pop serve --port 0 OPTIONS`` on ``env``'s POP_HOME, until the block ends."""
    process = subprocess.Popen(
        [*pop, "serve", "--port", "0", *options], env=dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    server = Server(process)

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.lines.append(line)

    threading.Thread(target=read_stderr, daemon=True).start()
    deadline = time.monotonic() + 60
    try:
        while not server.url:
            for line in list(server.lines):
                if line.startswith(READY_PREFIX):
                    server.url = line[len(READY_PREFIX) :].strip()
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"pop serve did not start:\n{''.join(server.lines)}")
            time.sleep(0.02)
        yield server
    finally:
        server.stop()
