"""Whole-process wall time of 200 independent no-op commands at concurrency 2: pop vs its peers.

pop runs an agenda of N independent ops of a plain-command registry entry (``command: ["true"]``)
with ``pop run-local AGENDA --registry REG --concurrency 2``, twice: with ``--quiet --json`` and
with its default human output (a line per op started and ended on stderr, the status view on
stdout), both into pipes; the two alternate run by run, so the machine's load drifts alike for
both. Beside them, GNU parallel (``parallel --will-cite -j2 true ::: 1 .. N``) and xargs
(``seq N | xargs -P2 -n1 true``, the numbers fed on stdin) run ``true`` N times, two at a time.
Each row is the median wall time of ``--runs`` runs (default 5) after one untimed warm-up,
measured around the whole subprocess, all in this one process. Each pop run is checked (exit 0,
every op succeeded) and reported.

Targets: pop (``--json``) at or below GNU parallel's time (issue #2); pop's human output to a
pipe within 10% of ``--json`` (issue #10: the ratio of the medians, human / json, <= 1.10).

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
HUMAN_TARGET = 1.10  # human output to a pipe / --json, ratio of the medians


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


def check_human_run(stdout: str, stderr: str, returncode: int, ops: int) -> dict[str, Any]:
    """Did the last human-output run succeed: exit code, the status view's state, the
    ``succeeded <op>`` lines on stderr."""
    header = stdout.splitlines()[0] if stdout else ""
    words = header.split()
    state = words[2] if header.startswith("agenda ") and len(words) > 2 else "no status view"
    succeeded = sum(1 for line in stderr.splitlines() if line.startswith("succeeded "))
    return {
        "exitCode": returncode,
        "state": state,
        "opsSucceeded": succeeded,
        "ok": returncode == 0 and succeeded == ops,
    }


def pop_note(check: dict[str, Any], ops: int) -> str:
    return (
        "ok" if check["ok"] else "FAILED"
    ) + f": exit {check['exitCode']}, {check['state']}, {check['opsSucceeded']}/{ops} ops succeeded"


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
        ]
        shown = f"pop run-local AGENDA --registry REG --concurrency {CONCURRENCY}"
        timed = common.time_interleaved(
            {"json": [*pop_argv, "--quiet", "--json"], "human": pop_argv},
            runs=args.runs,
            env=box.env,
            cwd=box.root,
        )
        json_run, human_run = timed["json"].last, timed["human"].last
        check = check_pop_run(json_run.stdout, json_run.returncode, args.ops)
        human_check = check_human_run(
            human_run.stdout, human_run.stderr, human_run.returncode, args.ops
        )
        rows.append(
            {
                "tool": "pop run-local --json",
                "command": f"{shown} --quiet --json",
                "medianSeconds": timed["json"].median,
                "seconds": timed["json"].seconds,
                "note": pop_note(check, args.ops),
            }
        )
        rows.append(
            {
                "tool": "pop run-local (human, to a pipe)",
                "command": f"{shown} 2>&1 | cat",
                "medianSeconds": timed["human"].median,
                "seconds": timed["human"].seconds,
                "note": pop_note(human_check, args.ops),
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

    parallel_row = rows[2]
    target = parallel_row["medianSeconds"]
    verdict = None
    if target is not None:
        verdict = "met" if rows[0]["medianSeconds"] <= target else "missed"
    human_ratio = rows[1]["medianSeconds"] / rows[0]["medianSeconds"]
    human_verdict = "met" if human_ratio <= HUMAN_TARGET else "missed"
    report = {
        "benchmark": "noop_dag",
        "machine": common.machine(args.tmpdir),
        "ops": args.ops,
        "runs": args.runs,
        "settings": settings,
        "popRun": check,
        "popHumanRun": human_check,
        "target": "pop at or below GNU parallel",
        "targetMet": verdict,
        "humanOverJson": human_ratio,
        "humanTarget": f"human output to a pipe <= {HUMAN_TARGET:.2f}x --json",
        "humanTargetMet": human_verdict,
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
    print(
        f"target: pop's human output to a pipe <= {HUMAN_TARGET:.2f}x --json -> "
        f"{human_ratio:.3f}x, {human_verdict}"
    )


if __name__ == "__main__":
    main()
