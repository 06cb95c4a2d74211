"""The ``pop-handlers`` image for the tests: built once, then found by its recipe.

The session fixture ``handlers_image`` (tests/conftest.py) calls :func:`handlers_image` with the
``docker_engine``. The build runs under a file lock, so two test workers (pytest-xdist) or two
test sessions never build at once: the second finds the image of the same recipe (the base id,
pop's files, the pinned dependencies, the ffmpeg binary) and only checks its tags. A build
after pop's files changed makes a new image (about 30 s with pip's cache warm).

``python -m tests.docker_images prepare`` builds it ahead of a test run (after
``python -m tests.docker_engine prepare``).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pop
from tests.docker_engine import file_lock

if TYPE_CHECKING:
    from pop.runtimes.docker.build import ImageBuild
    from tests.docker_engine import DockerEngine

LOCK_FILE = Path("/tmp/pop-test-handlers-image.lock")


def build_lock() -> contextlib.AbstractContextManager[None]:
    """Held while one process builds (or checks) the handlers image."""
    return file_lock(LOCK_FILE)


def _log(line: str) -> None:
    print(f"[docker_images] {line}", file=sys.stderr)


def build(engine: DockerEngine) -> ImageBuild:
    """``pop-handlers:<version>`` (and ``:latest``) on the test base image, under the lock."""
    from pop.runtimes.docker.build import build_handlers_image

    with build_lock():
        return build_handlers_image(
            version=pop.__version__, base=engine.base_image, docker_host=engine.host, log=_log
        )


def handlers_image(engine: DockerEngine) -> str:
    """The tag of the handlers image in the test engine (built when needed)."""
    return build(engine).tag


def prepare() -> int:
    from tests.docker_engine import acquire, release

    engine, reason = acquire(register=False)
    if engine is None:
        print(f"docker tests: {reason}", file=sys.stderr)
        return 1
    try:
        result = build(engine)
    finally:
        release(None)
    state = "cached" if result.cached else f"built in {result.seconds:.0f} s"
    print(f"docker tests: {result.tag} ({state}, recipe {result.recipe})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare"]:
        sys.exit("usage: python -m tests.docker_images prepare")
    sys.exit(prepare())
