"""``--server`` / ``POP_SERVER`` without a server to answer (issue 13, item 5): each mistake is
one ``error:`` line with the documented exit code, and nothing is written locally."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_errors import assert_one_error_line

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    "args",
    [
        ["submit", str(EXAMPLES / "hello.json")],
        ["status", "0e07c1d2"],
        ["list"],
    ],
)
def test_an_unreachable_server_is_exit_3_naming_it(
    args: list[str], run_pop: Any, pop_home: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    done = run_pop(*args, "--server", url)

    assert done.returncode == 3, done.stderr
    assert_one_error_line(done, "cannot reach the pop server", url)
    assert "hint: is `pop serve` running there?" in done.stderr
    assert not (pop_home / "pop.db").exists()  # nothing was stored here instead


def test_pop_server_in_the_environment_is_used(run_pop: Any, pop_home: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_pop("list", env={"POP_SERVER": url})
    assert done.returncode == 3, done.stderr
    assert_one_error_line(done, url)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["list", "--server", "127.0.0.1:8740"], "not an http:// or https:// URL"),
        (["list", "--server", "http://127.0.0.1:1", "--token-file", "/nope"], "--token-file"),
        (["list", "--token-file", "/nope"], "--token-file needs --server"),
    ],
)
def test_mistakes_are_exit_2(args: list[str], named: str, run_pop: Any, pop_home: Path) -> None:
    done = run_pop(*args)
    assert done.returncode == 2, done.stderr
    assert_one_error_line(done, named)
    assert not (pop_home / "pop.db").exists()
