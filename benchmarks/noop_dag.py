"""Whole-process wall time of 200 independent no-op commands at concurrency 2: pop vs its peers.

pop runs an agenda of N independent ops of a plain-command registry entry (``command: ["true"]``)
with ``pop run-local AGENDA --registry REG --concurrency 2 --quiet --json``; beside it, GNU
parallel (``parallel --will-cite -j2 true ::: 1 .. N``) and xargs (``seq N | xargs -P2 -n1 true``,
the numbers fed on stdin) run ``true`` N times, two at a time. Each row is the median wall time of
``--runs`` runs (default 5) after one untimed warm-up, measured around the whole subprocess, all
in this one process. The pop run is checked (exit 0, every op succeeded) and reported.

Target (issue #2): pop at or below GNU parallel's time.

    python benchmarks/noop_dag.py                 # 200 ops, 5 runs
    python benchmarks/noop_dag.py --ops 500 --runs 3 --json

Everything runs in a temporary folder with its own POP_HOME (never ~/.pop).
"""

from __future__ import annotations

import json
import os
from typing import Any

import common

CONCURRENCY = 2


def check_pop_run(stdout: str, returncode: int, ops: int) -> dict[str, Any]:
    """Did the last pop run succeed: exit code, agenda state, ops succeeded."""
    try:
        progress = json.loads(stdout)
    except json.JSONDecodeError:
        return {"exitCode": returncode, "state": "no JSON output", "opsSucceeded": 0, "ok": False}
    succeeded = sum(
        1
        for op in progress.get("operationProgress") or []
        if op.get("processingState") == "COMPLETE"
        and op.get("processingStateMessage") == "succeeded"
    )
    state = f"{progress.get('processingState')}/{progress.get('processingStateMessage')}"
    return {
        "exitCode": returncode,
        "state": state,
        "opsSucceeded": succeeded,
        "ok": returncode == 0 and succeeded == ops,
    }


def effective_settings(registry_path: Any, home: Any, ops: int) -> dict[str, Any]:
    """What the executor will do: concurrency, CPU budget (cores), each op's CPU request."""
    from pop.config import Settings
    from pop.registry import Registry

    entry = Registry.load(registry_path, settings=Settings(home=home)).lookup(common.PLAIN_TYPE)
    cpus = float(os.cpu_count() or 1)
    by_cpu = int(cpus // entry.cpu_request) if entry.cpu_request else ops
    return {
        "concurrency": CONCURRENCY,
        "cpus": cpus,
        "cpuRequestPerOp": entry.cpu_request,
        "opsAtOnce": max(1, min(CONCURRENCY, by_cpu)),
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=5)
    parser.add_argument("--ops", type=int, default=200, help="operations / commands (default 200)")
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    with common.sandbox(args.tmpdir) as box:
        agenda = box.write_json(
            "agenda.json",
            common.independent_agenda(args.ops, common.PLAIN_TYPE, title="noop dag"),
        )
        registry = box.write_text("registry.yaml", common.plain_command_registry())
        settings = effective_settings(registry, box.home, args.ops)
        pop_argv = [
            *common.pop_command(),
            "run-local",
            str(agenda),
            "--registry",
            str(registry),
            "--concurrency",
            str(CONCURRENCY),
            "--quiet",
            "--json",
        ]
        timed = common.time_command(pop_argv, runs=args.runs, env=box.env, cwd=box.root)
        check = check_pop_run(timed.stdout, timed.returncode, args.ops)
        rows.append(
            {
                "tool": "pop run-local",
                "command": f"pop run-local AGENDA --registry REG --concurrency {CONCURRENCY} "
                "--quiet --json",
                "medianSeconds": timed.median,
                "seconds": timed.seconds,
                "note": ("ok" if check["ok"] else "FAILED")
                + f": exit {check['exitCode']}, {check['state']}, "
                f"{check['opsSucceeded']}/{args.ops} ops succeeded",
            }
        )
        numbers = [str(number) for number in range(1, args.ops + 1)]
        peers = [
            (
                "GNU parallel",
                "parallel",
                f"parallel --will-cite -j{CONCURRENCY} true ::: $(seq {args.ops})",
                ["parallel", "--will-cite", f"-j{CONCURRENCY}", "true", ":::", *numbers],
                None,
            ),
            (
                "xargs",
                "findutils",
                f"seq {args.ops} | xargs -P{CONCURRENCY} -n1 true",
                ["xargs", f"-P{CONCURRENCY}", "-n1", "true"],
                "\n".join(numbers) + "\n",
            ),
        ]
        for name, package, shown, argv, stdin in peers:
            row: dict[str, Any] = {"tool": name, "command": shown}
            if common.peer(argv[0]) is None:
                row.update(medianSeconds=None, seconds=[], note=common.not_installed(package))
            else:
                result = common.time_command(
                    argv, runs=args.runs, env=box.env, cwd=box.root, stdin=stdin
                )
                row.update(
                    medianSeconds=result.median,
                    seconds=result.seconds,
                    note="ok" if result.returncode == 0 else f"exit {result.returncode}",
                )
            rows.append(row)

    parallel_row = rows[1]
    target = parallel_row["medianSeconds"]
    verdict = None
    if target is not None:
        verdict = "met" if rows[0]["medianSeconds"] <= target else "missed"
    report = {
        "benchmark": "noop_dag",
        "machine": common.machine(args.tmpdir),
        "ops": args.ops,
        "runs": args.runs,
        "settings": settings,
        "popRun": check,
        "target": "pop at or below GNU parallel",
        "targetMet": verdict,
        "rows": rows,
    }
    if args.json:
        common.print_json(report)
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"{args.ops} independent `true` ops, concurrency {settings['concurrency']}, "
        f"cpus {settings['cpus']:g} (default: cores), cpu request per op "
        f"{settings['cpuRequestPerOp']:g} -> {settings['opsAtOnce']} at once; "
        f"median of {args.runs} runs after 1 warm-up"
    )
    common.print_table(
        "whole-process wall time",
        ["tool", "median s", "per op ms", "note"],
        [
            [
                row["tool"],
                row["medianSeconds"] if row["medianSeconds"] is not None else "-",
                row["medianSeconds"] * 1000 / args.ops if row["medianSeconds"] is not None else "-",
                row["note"],
            ]
            for row in rows
        ],
    )
    print(f"target: pop at or below GNU parallel -> {verdict or 'n/a (parallel not installed)'}")


if __name__ == "__main__":
    main()
