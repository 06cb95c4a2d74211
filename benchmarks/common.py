"""Helpers shared by the benchmark scripts: temporary POP_HOME, agendas, timing, tables.

Not a benchmark itself. The scripts run as ``python benchmarks/X.py``, so they import this module
as ``common`` (their own folder is first on ``sys.path``). Nothing here touches ``~/.pop``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLAIN_TYPE = "trueCommand"  # a plain command: runs `true`
RESIDENT_TYPE = "noop"  # pop's built-in resident no-op (pop/data/registry.yaml)


@dataclass
class Sandbox:
    """A temporary folder holding POP_HOME, agendas and registry files; ``env`` points at it."""

    root: Path

    @property
    def home(self) -> Path:
        return self.root / "pop-home"

    @property
    def env(self) -> dict[str, str]:
        """The environment of timed ``pop`` processes: POP_HOME here, no POP_REGISTRY, and
        bytecode cached (in this folder) as in an installed pop, even under
        PYTHONDONTWRITEBYTECODE; the warm-up runs fill the cache."""
        skipped = ("POP_REGISTRY", "PYTHONDONTWRITEBYTECODE")
        env = {key: value for key, value in os.environ.items() if key not in skipped}
        env["POP_HOME"] = str(self.home)
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        return env

    def write_json(self, name: str, document: Any) -> Path:
        path = self.root / name
        path.write_text(json.dumps(document), encoding="utf-8")
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path


@contextmanager
def sandbox(parent: str | None = None) -> Iterator[Sandbox]:
    """A fresh temporary folder (removed afterwards) with an empty POP_HOME inside, made in
    ``parent`` (default: the system's temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="pop-bench-", dir=parent) as folder:
        box = Sandbox(Path(folder))
        box.home.mkdir()
        yield box


def independent_agenda(ops: int, op_type: str, *, title: str) -> dict[str, Any]:
    """An agenda of ``ops`` operations of ``op_type`` with no dependencies and empty payloads."""
    return {
        "title": title,
        "operations": [
            {"name": f"op{index}", "type": op_type, "payload": {}} for index in range(ops)
        ],
    }


def plain_command_registry() -> str:
    """A registry file adding the plain-command type ``trueCommand`` (``command: ["true"]``)."""
    return f'handlers:\n  {PLAIN_TYPE}:\n    command: ["true"]\n'


def cache_bytecode() -> None:
    """Compile the ``pop`` package's bytecode into its ``__pycache__`` folders, as a regular
    ``pip install`` does. An editable install run with ``PYTHONDONTWRITEBYTECODE=1`` (set on
    these machines) would otherwise compile every pop module in every timed run, about 100 ms
    that no installed pop pays."""
    import compileall

    import pop

    compileall.compile_dir(Path(pop.__file__).parent, quiet=1)


def pop_command() -> list[str]:
    """The ``pop`` console script of this interpreter (not a pyenv shim), else ``python -m pop``;
    pop's bytecode is cached first (:func:`cache_bytecode`)."""
    cache_bytecode()
    script = Path(sys.executable).parent / "pop"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pop"]


def peer(tool: str) -> str | None:
    """The path of a peer tool, None when it is not installed."""
    return shutil.which(tool)


def not_installed(package: str) -> str:
    return f"not installed (apt-get install {package})"


@dataclass
class Timed:
    """Wall times of repeated runs of one command and the last run's outcome."""

    seconds: list[float]
    returncode: int
    stdout: str
    stderr: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_command(
    argv: Sequence[str],
    *,
    runs: int,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> Timed:
    """Run ``argv`` ``warmup`` times untimed, then ``runs`` times timed (wall clock around the
    whole subprocess, output captured)."""
    seconds: list[float] = []
    completed: subprocess.CompletedProcess[str] | None = None
    for index in range(warmup + runs):
        started = time.perf_counter()
        completed = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, env=env, cwd=cwd, check=False
        )
        elapsed = time.perf_counter() - started
        if index >= warmup:
            seconds.append(elapsed)
    assert completed is not None
    return Timed(seconds, completed.returncode, completed.stdout, completed.stderr)


@dataclass
class Run:
    """One run of a command: wall seconds, the child's CPU seconds (user + system), exit code,
    output."""

    seconds: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str


def run_once(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``argv`` once, stdin empty, stdout and stderr to pipes read to the end: wall time
    around the whole subprocess; CPU time of the child and of the children it waited for (the
    growth of this process's ``RUSAGE_CHILDREN``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        list(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        env=env,
        cwd=cwd,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(elapsed, cpu, completed.returncode, completed.stdout, completed.stderr)


@dataclass
class Interleaved:
    """The timed runs of one command out of :func:`time_interleaved`, and its last run."""

    runs: list[Run]

    @property
    def seconds(self) -> list[float]:
        return [run.seconds for run in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(run.cpu_seconds for run in self.runs)

    @property
    def last(self) -> Run:
        return self.runs[-1]


def time_interleaved(
    commands: Mapping[str, Sequence[str]],
    *,
    runs: int,
    warmup: int = 1,
    env: Mapping[str, str] | None = None,
    envs: Mapping[str, Mapping[str, str]] | None = None,
    cwd: Path | None = None,
) -> dict[str, Interleaved]:
    """Time several commands round by round: each round runs every command once (the order
    rotating from round to round), ``warmup`` rounds untimed first. The machine's load then
    drifts alike for all of them, so their ratios hold better than their absolute times.
    ``envs`` gives some commands (by name) their own environment instead of ``env``."""
    names = list(commands)
    timed: dict[str, Interleaved] = {name: Interleaved([]) for name in names}
    for round_index in range(warmup + runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            own_env = (envs or {}).get(name, env)
            result = run_once(commands[name], env=own_env, cwd=cwd)
            if round_index >= warmup:
                timed[name].runs.append(result)
    return timed


def machine(parent: str | None = None) -> dict[str, Any]:
    """What the figures were measured on (``parent``: where the temporary POP_HOME was)."""
    return {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "loadAverage": os.getloadavg()[0],
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "popHomeParent": parent or tempfile.gettempdir(),
    }


def machine_line(parent: str | None = None) -> str:
    about = machine(parent)
    return (
        f"{about['date']}, {about['cores']} cores, load average {about['loadAverage']:.2f}, "
        f"Python {about['python']}, POP_HOME under {about['popHomeParent']}"
    )


def base_parser(description: str | None, *, runs: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(description or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--runs", type=int, default=runs, help=f"timed runs per row (default {runs})"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    parser.add_argument(
        "--tmpdir",
        metavar="DIR",
        help="where the temporary POP_HOME goes (default: the system temp folder; "
        "e.g. /dev/shm to take the disk out of the figures)",
    )
    return parser


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A small aligned table on stdout (numbers right-aligned)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, expand=False)
    for index, header in enumerate(headers):
        numeric = any(isinstance(row[index], int | float) for row in rows)
        table.add_column(header, justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(format_cell(cell) for cell in row))
    console = Console(width=160, highlight=False)
    with console.capture() as captured:
        console.print(table)
    lines = [line.rstrip() for line in captured.get().splitlines()]
    sys.stdout.write("\n".join(line for line in lines if line) + "\n")


def format_cell(cell: Any) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        digits = 3 if abs(cell) < 10 else 1 if abs(cell) < 1000 else 0
        return f"{cell:,.{digits}f}"
    return str(cell)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
