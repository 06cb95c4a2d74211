"""Shared helpers for the handler SDK tests: run a handler as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pop

REPO_ROOT = Path(pop.__file__).resolve().parent.parent


@dataclass
class HandlerRun:
    """A finished handler process: exit code and its stdout/stderr lines."""

    exit_code: int
    lines: list[str]
    stderr: str

    def progress(self) -> list[dict[str, Any]]:
        return [
            json.loads(line[len("Progress: ") :])
            for line in self.lines
            if line.startswith("Progress: ")
        ]

    def final_progress(self) -> dict[str, Any]:
        return self.progress()[-1]

    def payload(self) -> Any:
        found = [line[len("Payload: ") :] for line in self.lines if line.startswith("Payload: ")]
        return json.loads(found[-1]) if found else None


RunHandler = Callable[..., HandlerRun]


@pytest.fixture
def run_handler_process(tmp_path: Path) -> RunHandler:
    """Run ``python -m pop.handlers REF ARGS`` in ``tmp_path`` with extra env vars."""

    def run(ref: str, *args: str, env: Mapping[str, str] | None = None) -> HandlerRun:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("POP_", "PAYLOAD", "LAST_PROGRESS", "OPERATION_"))
        }
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")])
        )
        environment.update(env or {})
        completed = subprocess.run(
            [sys.executable, "-m", "pop.handlers", ref, *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return HandlerRun(completed.returncode, completed.stdout.splitlines(), completed.stderr)

    return run
