"""Start-up latency of the ``pop`` command: medians of ``pop --help`` and ``pop submit AGENDA``.

``pop submit`` stores a small agenda (2 resident ``noop`` ops, the second depending on the first)
in a temporary POP_HOME. Each command runs ``--runs`` times (default 20) after 3 warm-ups, with
hyperfine (``hyperfine -N --export-json``) when it is installed, else a Python loop timing the
whole subprocess. ``python -c pass`` is printed beside them as the interpreter's own start-up.

Targets (issue #2): ``pop --help`` <= 150 ms, ``pop submit`` <= 250 ms (medians).

    python benchmarks/cli_latency.py
    python benchmarks/cli_latency.py --runs 50 --json
    python benchmarks/cli_latency.py --loop          # the Python loop even with hyperfine

The timed processes get their own bytecode cache in the temporary folder (see common.Sandbox).
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
from typing import Any

import common

WARMUP = 3


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


def with_hyperfine(
    box: common.Sandbox, commands: list[tuple[str, list[str]]], runs: int
) -> dict[str, list[float]]:
    """Seconds of every timed run per command name, measured by hyperfine."""
    export = box.root / "hyperfine.json"
    argv = ["hyperfine", "-N", "--warmup", str(WARMUP), "--runs", str(runs)]
    argv += ["--style", "none", "--export-json", str(export)]
    for name, command in commands:
        argv += ["--command-name", name, shlex.join(command)]
    completed = subprocess.run(
        argv, capture_output=True, text=True, env=box.env, cwd=box.root, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"hyperfine failed:\n{completed.stderr}")
    results = json.loads(export.read_text(encoding="utf-8"))["results"]
    return {result["command"]: result["times"] for result in results}


def with_loop(
    box: common.Sandbox, commands: list[tuple[str, list[str]]], runs: int
) -> dict[str, list[float]]:
    return {
        name: common.time_command(
            command, runs=runs, warmup=WARMUP, env=box.env, cwd=box.root
        ).seconds
        for name, command in commands
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=20)
    parser.add_argument("--loop", action="store_true", help="time with a Python loop")
    args = parser.parse_args()

    pop = common.pop_command()
    tool = "hyperfine" if common.peer("hyperfine") and not args.loop else "python loop"
    with common.sandbox(args.tmpdir) as box:
        agenda = box.write_json("agenda.json", two_op_agenda())
        commands = [
            ("pop --help", [*pop, "--help"]),
            ("pop submit AGENDA", [*pop, "submit", str(agenda)]),
            ("python -c pass", [sys.executable, "-c", "pass"]),
        ]
        targets_ms = {"pop --help": 150.0, "pop submit AGENDA": 250.0}
        checks = {}
        for name, command in commands:  # one untimed run each: does the command work?
            completed = subprocess.run(
                command, capture_output=True, text=True, env=box.env, cwd=box.root, check=False
            )
            checks[name] = (
                "ok: exit 0"
                if completed.returncode == 0
                else f"FAILED: exit {completed.returncode}: {completed.stderr.strip()[:80]}"
            )
        measure = with_hyperfine if tool == "hyperfine" else with_loop
        times = measure(box, commands, args.runs)

    rows: list[dict[str, Any]] = []
    for name, command in commands:
        seconds = times[name]
        target = targets_ms.get(name)
        median_ms = statistics.median(seconds) * 1000
        rows.append(
            {
                "command": name,
                "argv": command,
                "medianMs": median_ms,
                "minMs": min(seconds) * 1000,
                "maxMs": max(seconds) * 1000,
                "targetMs": target,
                "targetMet": None if target is None else median_ms <= target,
                "note": checks[name],
            }
        )
    if args.json:
        common.print_json(
            {
                "benchmark": "cli_latency",
                "machine": common.machine(args.tmpdir),
                "tool": tool,
                "runs": args.runs,
                "warmup": WARMUP,
                "targetMet": all(row["targetMet"] is not False for row in rows),
                "rows": rows,
            }
        )
        return
    print(common.machine_line(args.tmpdir))
    hint = "" if common.peer("hyperfine") else f"; hyperfine {common.not_installed('hyperfine')}"
    print(f"median of {args.runs} runs after {WARMUP} warm-ups, timed by {tool}{hint}")
    print(f"pop: {shlex.join(pop)}")
    common.print_table(
        "command latency",
        ["command", "median ms", "min ms", "max ms", "target ms", "met", "note"],
        [
            [
                row["command"],
                row["medianMs"],
                row["minMs"],
                row["maxMs"],
                "-" if row["targetMs"] is None else f"<= {row['targetMs']:.0f}",
                {None: "", True: "yes", False: "NO"}[row["targetMet"]],
                row["note"],
            ]
            for row in rows
        ],
    )


if __name__ == "__main__":
    main()
