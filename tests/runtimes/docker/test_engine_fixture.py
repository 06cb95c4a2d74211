"""The docker_engine fixture without an engine: the docker tests fail under CI=true and are
skipped elsewhere, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker_engine import NO_DOCKERD, unavailable

PROJECT = Path(__file__).resolve().parents[3]
A_DOCKER_TEST = "tests/runtimes/docker/test_base_image.py::test_a_built_image_is_not_built_again"


def test_without_an_engine_a_docker_test_is_skipped_saying_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Docker engine for the docker tests: gone"):
        unavailable("gone")


def test_without_an_engine_under_ci_a_docker_test_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: the docker tests must run"):
        unavailable("gone")


@pytest.mark.parametrize(("ci", "outcome"), [("", "1 skipped"), ("true", "1 error")])
def test_a_session_whose_docker_host_does_not_answer(ci: str, outcome: str) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent", "CI": ci, NO_DOCKERD: "1"}
    pytest_options = ["-q", "-p", "no:cacheprovider", "-n", "0", "-rs"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_options, A_DOCKER_TEST],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in result.stdout, result.stdout
    assert "DOCKER_HOST=unix:///nonexistent does not answer" in result.stdout
