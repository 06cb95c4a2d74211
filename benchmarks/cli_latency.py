"""Start-up latency of ``pop`` as a user's install runs it, as ratios to ``python -c pass``.

A fresh virtual environment (``python -m venv``: this machine's Python, no system site-packages)
gets ``pip install`` of this checkout, not editable, with the dependency versions pip picks today.
The checkout's files are copied first (``git ls-files``: tracked and untracked, the ignored ones
left out), so no ``build/`` folder is left in the working tree and none from an earlier build
slips into the wheel. pip takes a minute or two; ``--venv DIR`` keeps the venv for the next run.

In that venv, with this process's environment (as the user's shell has it) and ``POP_HOME`` in a
temporary folder, it times:

- ``python -c pass``: the interpreter's own start-up, the unit of every ratio;
- ``pop --help``;
- ``pop submit AGENDA``: 2 resident ``noop`` ops, the second depending on the first, stored in a
  ``POP_HOME`` of its own (that store grows by one agenda per run);
- ``pop status ID``, ``pop list``, ``pop logs ID``: on a store prepared first with 10 agendas, one
  of them run (3 ``logMessages`` ops, each logging two lines) and nine submitted;
- ``pop submit examples/media/package.json`` (a transcode and a package op), no target: the
  handlers of those types declare payload models, which pydantic checks, so this submit loads
  pydantic where the ``noop`` agenda above does not (``pop.cli.quick_submit``); it shows what an
  agenda of the media handlers costs;
- for reference, ``python -c pass`` of the interpreter running this script, outside the venv: its
  own site-packages (``.pth`` files of editable installs and the like) can make it several times
  slower to start than the venv's, and it is not the unit.

Each command runs ``--runs`` times (default 15) after 2 warm-up rounds, interleaved: every round
runs each command once, so the machine's load drifts alike for all of them. Each row is the
median wall time around the whole process, its ratio to the median of ``python -c pass``, the
target and whether it is met; the child's CPU time (user + system) is printed beside it, steadier
than wall time when other work shares the cores. Every command's last run is checked (exit 0).

Targets (issue #10): ``pop --help`` <= 2.5x ``python -c pass``; ``pop submit``, ``pop status``,
``pop list`` and ``pop logs`` <= 4x.

    python benchmarks/cli_latency.py                          # a fresh venv, removed afterwards
    python benchmarks/cli_latency.py --venv /tmp/pop-venv     # made once, reused after
    python benchmarks/cli_latency.py --venv /tmp/pop-venv --reinstall --runs 30 --json
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import common

WARMUP = 2
ROOT = Path(__file__).resolve().parent.parent
VERSIONS_OF = ("typer", "click", "rich", "pydantic", "sqlite-utils", "av")
UNIT = "python -c pass"
OUTSIDE = "python -c pass, outside the venv"
MEDIA = "pop submit MEDIA (payload models)"
# the ratio target of each command (None: no target)
TARGETS: dict[str, float | None] = {
    UNIT: None,
    "pop --help": 2.5,
    "pop submit AGENDA": 4.0,
    "pop status ID": 4.0,
    "pop list": 4.0,
    "pop logs ID": 4.0,
    MEDIA: None,
    OUTSIDE: None,
}


def checkout_copy(destination: Path) -> Path:
    """This checkout's files as they are now (tracked and untracked, not ignored) copied to
    ``destination``, which is returned."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in sorted({name for name in listed.split("\0") if name}):
        source = ROOT / name
        if not source.is_file():  # deleted in the working tree, not yet committed
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def pip_install(venv: Path, source: Path, *, reinstall: bool) -> None:
    """``pip install SOURCE`` into ``venv`` (not editable); with ``reinstall``, pop alone again."""
    argv = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)]
    if reinstall:
        argv[5:5] = ["--force-reinstall", "--no-deps"]
    completed = subprocess.run(argv, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"pip install failed:\n{completed.stdout}{completed.stderr}")


def prepare_venv(venv: Path, work: Path, *, reinstall: bool) -> str:
    """Make ``venv`` with pop installed unless it has it (or ``reinstall``); what was done."""
    if (venv / "bin" / "pop").is_file() and not reinstall:
        return f"reused {venv}"
    made = not (venv / "bin" / "python").is_file()
    if made:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip_install(venv, checkout_copy(work / "src"), reinstall=reinstall and not made)
    return f"{'made' if made else 'reinstalled pop into'} {venv} (pip install ., not editable)"


def versions(venv: Path) -> dict[str, str]:
    """The installed version of each of :data:`VERSIONS_OF` in ``venv``."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    completed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *VERSIONS_OF],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(completed.stdout)
    return found


def two_op_agenda() -> dict[str, Any]:
    return {
        "title": "cli latency",
        "operations": [
            {"name": "first", "type": common.RESIDENT_TYPE, "payload": {}},
            {
                "name": "second",
                "type": common.RESIDENT_TYPE,
                "params": {"dependsOn": "first"},
                "payload": {},
            },
        ],
    }


def logging_agenda() -> dict[str, Any]:
    """3 ``logMessages`` ops in a chain, each logging two lines: something for ``pop logs``."""
    operations: list[dict[str, Any]] = []
    for index in range(3):
        operation: dict[str, Any] = {
            "name": f"step{index}",
            "type": "logMessages",
            "payload": {"logMessages": [f"step {index} starts", f"step {index} ends"]},
        }
        if index:
            operation["params"] = {"dependsOn": f"step{index - 1}"}
        operations.append(operation)
    return {"title": "cli latency: logs", "operations": operations}


def prepare_store(pop: str, box: common.Sandbox, env: dict[str, str]) -> str:
    """Run one agenda and submit nine into ``env``'s POP_HOME; the id of the run one."""
    agenda = box.write_json("logging.json", logging_agenda())
    ran = common.run_once([pop, "run-local", str(agenda), "--quiet", "--json"], env=env)
    if ran.returncode != 0:
        raise SystemExit(f"pop run-local failed (exit {ran.returncode}):\n{ran.stderr}")
    agenda_id: str = json.loads(ran.stdout)["agendaId"]
    waiting = box.write_json("waiting.json", two_op_agenda())
    for _ in range(9):
        submitted = common.run_once([pop, "submit", str(waiting)], env=env)
        if submitted.returncode != 0:
            raise SystemExit(
                f"pop submit failed (exit {submitted.returncode}):\n{submitted.stderr}"
            )
    return agenda_id


def measure(venv: Path, box: common.Sandbox, *, runs: int) -> dict[str, Any]:
    """Prepare the stores, then time every command of :data:`TARGETS` interleaved."""
    python = str(venv / "bin" / "python")
    pop = str(venv / "bin" / "pop")
    machine_env = {key: value for key, value in os.environ.items() if key != "POP_REGISTRY"}
    env = {**machine_env, "POP_HOME": str(box.home)}
    submit_env = {**machine_env, "POP_HOME": str(box.root / "submit-home")}
    media_env = {**machine_env, "POP_HOME": str(box.root / "media-home")}
    agenda_id = prepare_store(pop, box, env)
    agenda = box.write_json("agenda.json", two_op_agenda())
    commands = {
        UNIT: [python, "-c", "pass"],
        "pop --help": [pop, "--help"],
        "pop submit AGENDA": [pop, "submit", str(agenda)],
        "pop status ID": [pop, "status", agenda_id],
        "pop list": [pop, "list"],
        "pop logs ID": [pop, "logs", agenda_id],
        MEDIA: [pop, "submit", str(ROOT / "examples" / "media" / "package.json")],
        OUTSIDE: [sys.executable, "-c", "pass"],
    }
    timed = common.time_interleaved(
        commands,
        runs=runs,
        warmup=WARMUP,
        env=env,
        envs={"pop submit AGENDA": submit_env, MEDIA: media_env},
        cwd=box.root,
    )
    unit = timed[UNIT].median
    rows: list[dict[str, Any]] = []
    for name, argv in commands.items():
        result = timed[name]
        target = TARGETS[name]
        ratio = result.median / unit
        last = result.last
        rows.append(
            {
                "command": name,
                "argv": argv,
                "medianMs": result.median * 1000,
                "minMs": min(result.seconds) * 1000,
                "maxMs": max(result.seconds) * 1000,
                "cpuMedianMs": result.cpu_median * 1000,
                "ratio": ratio,
                "targetRatio": target,
                "targetMet": None if target is None else ratio <= target,
                "note": "ok: exit 0"
                if last.returncode == 0
                else f"FAILED: exit {last.returncode}: {last.stderr.strip()[:80]}",
            }
        )
    return {"agendaId": agenda_id, "rows": rows}


def main() -> None:
    parser = common.base_parser(__doc__, runs=15)
    parser.add_argument(
        "--venv",
        metavar="DIR",
        type=Path,
        help="use and keep the venv at DIR, made (with pop installed) when it has no bin/pop "
        "(default: a fresh one in the temporary folder, removed afterwards)",
    )
    parser.add_argument(
        "--reinstall",
        action="store_true",
        help="with --venv: pip install this checkout into it again (pop only, dependencies kept)",
    )
    args = parser.parse_args()

    with common.sandbox(args.tmpdir) as box:
        venv = args.venv.resolve() if args.venv else box.root / "venv"
        prepared = prepare_venv(venv, box.root, reinstall=args.reinstall)
        installed = versions(venv)
        measured = measure(venv, box, runs=args.runs)
    rows = measured["rows"]
    if args.json:
        common.print_json(
            {
                "benchmark": "cli_latency",
                "machine": common.machine(args.tmpdir),
                "venv": prepared,
                "versions": installed,
                "runs": args.runs,
                "warmup": WARMUP,
                "targetMet": all(row["targetMet"] is not False for row in rows),
                "rows": rows,
            }
        )
        return
    print(common.machine_line(args.tmpdir))
    print(f"venv: {prepared}; " + ", ".join(f"{name} {installed[name]}" for name in VERSIONS_OF))
    print(f"median of {args.runs} interleaved runs after {WARMUP} warm-up rounds")
    print(f"outside the venv: {sys.executable}")
    common.print_table(
        "command latency, as a ratio to python -c pass",
        ["command", "median ms", "ratio", "target", "met", "cpu ms", "min ms", "max ms", "note"],
        [
            [
                row["command"],
                row["medianMs"],
                f"{row['ratio']:.2f}x",
                "(unit)"
                if row["command"] == UNIT
                else "-"
                if row["targetRatio"] is None
                else f"<= {row['targetRatio']:g}x",
                {None: "", True: "yes", False: "NO"}[row["targetMet"]],
                row["cpuMedianMs"],
                row["minMs"],
                row["maxMs"],
                row["note"],
            ]
            for row in rows
        ],
    )


if __name__ == "__main__":
    main()
