"""Ops per second through pop's executor for resident no-op ops, store writes included.

For each size (default 200 and 2,000 independent ops of the built-in resident type ``noop``) the
agenda runs in this process through ``pop.api.Client(settings).run_local(agenda,
options=RunOptions(concurrency=50))`` against a temporary POP_HOME. Rows:

- ``executor``: from the runner's start (``on_runner``, after the agenda is stored) until
  ``run_local`` returns: the DAG walk, every op's attempt and progress rows, the final read.
  Target (issue #2): at least 2,000 ops/s.
- ``submit + run``: the whole ``run_local`` call (validation and storing the agenda too).
- ``pop run-local``: the whole process (``pop run-local AGENDA --concurrency 50 --quiet
  --json``), interpreter start-up and imports included, for reference.

Each figure is the median of ``--runs`` runs (default 5) after one warm-up; every run is checked
(COMPLETE/succeeded, every op succeeded). ``--profile`` adds a cProfile of one executor run of
the largest size (top functions by own time).

    python benchmarks/resident_throughput.py
    python benchmarks/resident_throughput.py --ops 2000 --runs 3 --json
    python benchmarks/resident_throughput.py --ops 2000 --profile
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common

CONCURRENCY = 50
TARGET_OPS_PER_SECOND = 2000.0


@dataclass
class InProcessRun:
    executor_seconds: float
    total_seconds: float
    succeeded_ops: int
    state: str


def run_in_process(client: Any, agenda: dict[str, Any]) -> InProcessRun:
    from pop.engine.executor import RunOptions

    marks: dict[str, float] = {}

    def on_runner(_runner: Any) -> None:
        marks["runner"] = time.perf_counter()

    started = time.perf_counter()
    progress = client.run_local(
        agenda, options=RunOptions(concurrency=CONCURRENCY), on_runner=on_runner
    )
    finished = time.perf_counter()
    succeeded = sum(
        1 for op in progress.operation_progress or [] if op.succeeded and op.completed_time
    )
    state = getattr(progress.processing_state, "value", progress.processing_state)
    return InProcessRun(
        executor_seconds=finished - marks["runner"],
        total_seconds=finished - started,
        succeeded_ops=succeeded,
        state=f"{state}/{progress.processing_state_message}",
    )


def profile_executor(client: Any, agenda: dict[str, Any], *, top: int) -> str:
    """cProfile of one in-process run: the top functions by own time, then by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    run_in_process(client, agenda)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def measure_size(
    box: common.Sandbox, client: Any, registry: Path, ops: int, runs: int
) -> list[dict[str, Any]]:
    agenda = common.independent_agenda(ops, common.RESIDENT_TYPE, title=f"{ops} resident no-ops")
    results = [run_in_process(client, agenda) for _ in range(1 + runs)][1:]  # first: warm-up
    failures = [r for r in results if r.succeeded_ops != ops or r.state != "COMPLETE/succeeded"]
    check = (
        f"ok: {ops}/{ops} ops succeeded every run"
        if not failures
        else f"FAILED: {failures[0].state}, {failures[0].succeeded_ops}/{ops} ops succeeded"
    )
    rows = []
    for name, seconds in (
        ("executor", [r.executor_seconds for r in results]),
        ("submit + run", [r.total_seconds for r in results]),
    ):
        median = statistics.median(seconds)
        rows.append(row(name, ops, median, seconds, check))
    agenda_file = box.write_json(f"agenda-{ops}.json", agenda)
    argv = [
        *common.pop_command(),
        "run-local",
        str(agenda_file),
        "--registry",
        str(registry),
        "--concurrency",
        str(CONCURRENCY),
        "--quiet",
        "--json",
    ]
    timed = common.time_command(argv, runs=runs, env=box.env, cwd=box.root)
    note = "ok: exit 0" if timed.returncode == 0 else f"FAILED: exit {timed.returncode}"
    rows.append(row("pop run-local (process)", ops, timed.median, timed.seconds, note))
    return rows


def row(name: str, ops: int, median: float, seconds: list[float], note: str) -> dict[str, Any]:
    return {
        "measure": name,
        "ops": ops,
        "medianSeconds": median,
        "opsPerSecond": ops / median,
        "seconds": seconds,
        "note": note,
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=5)
    parser.add_argument(
        "--ops",
        type=int,
        nargs="+",
        default=[200, 2000],
        help="agenda sizes (default 200 2000)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of the largest size"
    )
    parser.add_argument("--top", type=int, default=25, help="profile lines (default 25)")
    args = parser.parse_args()

    from pop.api import Client
    from pop.config import Settings

    rows: list[dict[str, Any]] = []
    profile = None
    with common.sandbox(args.tmpdir) as box:
        # an empty registry file: only the built-in types, never ./registry.yaml of the cwd
        registry = box.write_text("registry.yaml", "handlers: {}\n")
        client = Client(Settings(home=box.home), registry_path=registry)
        try:
            for ops in args.ops:
                rows.extend(measure_size(box, client, registry, ops, args.runs))
            if args.profile:
                largest = max(args.ops)
                agenda = common.independent_agenda(largest, common.RESIDENT_TYPE, title="profile")
                profile = profile_executor(client, agenda, top=args.top)
        finally:
            client.close()

    executor_rows = [r for r in rows if r["measure"] == "executor"]
    met = all(r["opsPerSecond"] >= TARGET_OPS_PER_SECOND for r in executor_rows)
    if args.json:
        common.print_json(
            {
                "benchmark": "resident_throughput",
                "machine": common.machine(args.tmpdir),
                "concurrency": CONCURRENCY,
                "runs": args.runs,
                "targetOpsPerSecond": TARGET_OPS_PER_SECOND,
                "targetMet": met,
                "rows": rows,
                "profile": profile,
            }
        )
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"resident `noop` ops, concurrency {CONCURRENCY}, median of {args.runs} runs "
        "after 1 warm-up; store writes included"
    )
    common.print_table(
        "throughput",
        ["measure", "ops", "median s", "ops/s", "target", "note"],
        [
            [
                r["measure"],
                r["ops"],
                r["medianSeconds"],
                r["opsPerSecond"],
                f">= {TARGET_OPS_PER_SECOND:,.0f}" if r["measure"] == "executor" else "",
                r["note"],
            ]
            for r in rows
        ],
    )
    print(f"target: executor >= {TARGET_OPS_PER_SECOND:,.0f} ops/s -> {'met' if met else 'missed'}")
    if profile is not None:
        print(profile)


if __name__ == "__main__":
    main()
