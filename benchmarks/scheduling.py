"""Scheduling figures: claim latency over a deep queue, submits per second, store size.

1. ``--agendas`` (default 100,000) agendas queued on one insight across ``--customers`` (default
   1,000) customers of its pool, with priorities 0-9 and queued times spread over the last hour.
   They are inserted through the store in one transaction (no validation, for speed). Then, for
   each algorithm (the insight is switched with ``pop.api.Client.facility_update``), the median
   time of ``claim_next(limit=1)`` over ``--claims`` claims (default 300) after 20 untimed ones.
   Target (issue 4): at most 2 ms.
2. Submits per second through ``pop.api.Client.submit`` (``--submits``, default 2,000, a 2-op
   agenda of the resident ``noop`` type) in single-user mode and with 100 customers and 5
   insights (insight selection included). Target: at least 2,000/s. ``--profile`` prints the
   hot spots of the multi-customer run.
3. ``pop submit AGENDA --customer C`` as a whole process, ``--cli-runs`` times (default 30).
4. The size of the store on disk (``pop.db`` plus its WAL) after step 1.

    python benchmarks/scheduling.py
    python benchmarks/scheduling.py --agendas 20000 --claims 100 --json
    python benchmarks/scheduling.py --tmpdir /dev/shm --profile
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common

ALGORITHMS = ("FirstInFirstOut", "RoundRobin", "Priority")
CLAIM_TARGET_MS = 2.0
SUBMIT_TARGET_PER_SECOND = 2000.0
WARMUP_CLAIMS = 20


def small_agenda() -> dict[str, Any]:
    return {
        "title": "scheduling benchmark",
        "operations": [
            {"name": "first", "type": common.RESIDENT_TYPE, "payload": {}},
            {"name": "second", "type": common.RESIDENT_TYPE, "payload": {"in": "@<first.out>"}},
        ],
    }


def setup_facility(client: Any, *, customers: Sequence[str], insights: int = 1) -> list[str]:
    """Pool ``P`` with ``customers`` and ``insights`` insights that take the ``noop`` type."""
    client.facility_add("pool", {"id": "P", "title": "benchmark pool"})
    for customer in customers:
        client.facility_add("customer", {"id": customer, "title": customer, "resourcePoolId": "P"})
    names = [f"insight-{index}" for index in range(insights)]
    for name in names:
        client.facility_add(
            "insight",
            {
                "id": name,
                "title": name,
                "resourcePoolId": "P",
                "mappers": {"operationType": [common.RESIDENT_TYPE]},
            },
        )
    return names


def queue_bulk(
    store: Any,
    *,
    insight: str,
    customers: Sequence[str],
    count: int,
    start_ms: int,
    spread_ms: int,
    seed: int = 7,
    weights: Sequence[float] | None = None,
) -> None:
    """Store ``count`` agendas with progress and queue them on ``insight`` in one transaction:
    customers drawn with ``weights`` (default: in turn), priorities 0-9, ``added`` spread
    evenly over ``spread_ms`` from ``start_ms``."""
    from pop.engine.submission import prepare
    from pop.models import Agenda, AgendaInsight, Operation
    from pop.store.queue import QueuedRow

    generator = random.Random(seed)
    agenda = Agenda(
        title="queued", operations=[Operation(name="only", type=common.RESIDENT_TYPE, payload={})]
    )
    routed = AgendaInsight(resource_pool_id="P", insight_id=insight)
    rows = []
    with store.transaction():
        for index in range(count):
            if weights is None:
                customer = customers[index % len(customers)]
            else:
                customer = generator.choices(customers, weights)[0]
            prepared, progress, operations = prepare(agenda, customer_id=customer, insight=routed)
            store.agendas.insert(prepared)
            store.progress.insert(progress, operations)
            added = start_ms + (index * spread_ms) // max(1, count)
            rows.append(QueuedRow(prepared.id or "", customer, generator.randrange(10), added))
        store.queue.enqueue_many(insight, rows)


def measure_claims(client: Any, insight: str, claims: int) -> list[float]:
    """Seconds of each timed ``claim_next(limit=1)`` on ``insight``."""
    from pop.scheduling.claim import claim_next

    seconds = []
    for index in range(WARMUP_CLAIMS + claims):
        started = time.perf_counter()
        claimed = claim_next(
            client.store, owner="bench", lease_seconds=30, limit=1, insight_ids=[insight]
        )
        elapsed = time.perf_counter() - started
        assert len(claimed) == 1, "the queue ran dry"
        if index >= WARMUP_CLAIMS:
            seconds.append(elapsed)
    return seconds


def store_bytes(home: Path) -> tuple[int, int]:
    """(bytes of ``pop.db``, bytes of its WAL) after a checkpoint."""
    import sqlite3

    connection = sqlite3.connect(home / "pop.db")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    wal = home / "pop.db-wal"
    return (home / "pop.db").stat().st_size, wal.stat().st_size if wal.exists() else 0


def claim_rows(args: Any, parent: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from pop.api import Client
    from pop.config import Settings

    with common.sandbox(parent) as box:
        client = Client(Settings(home=box.home))
        customers = [f"customer-{index:04d}" for index in range(args.customers)]
        (insight,) = setup_facility(client, customers=customers)
        started = time.perf_counter()
        now = int(time.time() * 1000)
        queue_bulk(
            client.store,
            insight=insight,
            customers=customers,
            count=args.agendas,
            start_ms=now - 3_600_000,
            spread_ms=3_600_000,
        )
        fill_seconds = time.perf_counter() - started
        size, wal = store_bytes(box.home)
        rows = []
        for algorithm in ALGORITHMS:
            client.facility_update("insight", insight, {"schedulingAlgorithm": algorithm})
            seconds = measure_claims(client, insight, args.claims)
            median_ms = statistics.median(seconds) * 1000
            rows.append(
                {
                    "algorithm": algorithm,
                    "medianMs": median_ms,
                    "p90Ms": statistics.quantiles(seconds, n=10)[-1] * 1000,
                    "maxMs": max(seconds) * 1000,
                    "targetMet": median_ms <= CLAIM_TARGET_MS,
                }
            )
        client.close()
    store = {
        "agendas": args.agendas,
        "customers": args.customers,
        "fillSeconds": fill_seconds,
        "bytes": size,
        "walBytes": wal,
        "bytesPerAgenda": size / max(1, args.agendas),
    }
    return rows, store


def submit_rate(client: Any, count: int, customers: Sequence[str] | None) -> float:
    agenda = small_agenda()
    client.submit(agenda, customer_id=customers[0] if customers else None)  # warm-up
    started = time.perf_counter()
    for index in range(count):
        client.submit(agenda, customer_id=customers[index % len(customers)] if customers else None)
    return count / (time.perf_counter() - started)


def submit_rows(args: Any, parent: str | None) -> tuple[list[dict[str, Any]], str | None]:
    from pop.api import Client
    from pop.config import Settings

    rows = []
    profile_text = None
    for mode in ("single-user", "100 customers, 5 insights"):
        with common.sandbox(parent) as box:
            client = Client(Settings(home=box.home))
            customers = None
            if mode != "single-user":
                customers = [f"customer-{index:03d}" for index in range(100)]
                setup_facility(client, customers=customers, insights=5)
            rate = submit_rate(client, args.submits, customers)
            rows.append(
                {
                    "mode": mode,
                    "submitsPerSecond": rate,
                    "targetMet": rate >= SUBMIT_TARGET_PER_SECOND,
                }
            )
            if args.profile and customers:
                profiler = cProfile.Profile()
                profiler.enable()
                submit_rate(client, args.submits, customers)
                profiler.disable()
                buffer = io.StringIO()
                pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(15)
                profile_text = buffer.getvalue()
            client.close()
    return rows, profile_text


def cli_row(args: Any, parent: str | None) -> dict[str, Any]:
    from pop.api import Client
    from pop.config import Settings

    with common.sandbox(parent) as box:
        client = Client(Settings(home=box.home))
        setup_facility(client, customers=["acme"])
        client.close()
        agenda = box.write_json("agenda.json", small_agenda())
        timed = common.time_command(
            [*common.pop_command(), "submit", str(agenda), "--customer", "acme"],
            runs=args.cli_runs,
            warmup=2,
            env=box.env,
            cwd=box.root,
        )
    return {
        "command": "pop submit AGENDA --customer acme",
        "runs": args.cli_runs,
        "medianMs": timed.median * 1000,
        "submitsPerSecond": 1 / timed.median,
        "note": "ok: exit 0" if timed.returncode == 0 else f"FAILED: {timed.stderr[:80]}",
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=1)
    parser.add_argument("--agendas", type=int, default=100_000, help="queued agendas")
    parser.add_argument("--customers", type=int, default=1_000, help="customers of the pool")
    parser.add_argument("--claims", type=int, default=300, help="timed claims per algorithm")
    parser.add_argument("--submits", type=int, default=2_000, help="Client.submit calls")
    parser.add_argument("--cli-runs", type=int, default=30, help="timed `pop submit` runs")
    parser.add_argument("--profile", action="store_true", help="profile Client.submit")
    args = parser.parse_args()

    claims, store = claim_rows(args, args.tmpdir)
    submits, profile_text = submit_rows(args, args.tmpdir)
    cli = cli_row(args, args.tmpdir)
    if args.json:
        common.print_json(
            {
                "benchmark": "scheduling",
                "machine": common.machine(args.tmpdir),
                "claims": claims,
                "submits": submits,
                "cli": cli,
                "store": store,
            }
        )
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"{store['agendas']:,} queued agendas, {store['customers']:,} customers, "
        f"filled in {store['fillSeconds']:.1f} s; median of {args.claims} claims after "
        f"{WARMUP_CLAIMS} untimed"
    )
    yes_no = {True: "yes", False: "NO"}
    common.print_table(
        "claim_next(limit=1)",
        ["algorithm", "median ms", "p90 ms", "max ms", "target", "met"],
        [
            [row["algorithm"], row["medianMs"], row["p90Ms"], row["maxMs"], "<= 2 ms",
             yes_no[row["targetMet"]]]
            for row in claims
        ],
    )  # fmt: skip
    common.print_table(
        f"submits through pop.api.Client.submit ({args.submits:,} calls)",
        ["mode", "submits/s", "target", "met"],
        [
            [row["mode"], row["submitsPerSecond"], ">= 2,000/s", yes_no[row["targetMet"]]]
            for row in submits
        ],
    )
    common.print_table(
        "pop submit as a whole process",
        ["command", "runs", "median ms", "submits/s", "note"],
        [[cli["command"], cli["runs"], cli["medianMs"], cli["submitsPerSecond"], cli["note"]]],
    )
    common.print_table(
        "store on disk after filling (WAL checkpointed)",
        ["agendas", "pop.db MiB", "WAL MiB", "bytes per agenda"],
        [
            [
                store["agendas"],
                store["bytes"] / 2**20,
                store["walBytes"] / 2**20,
                store["bytesPerAgenda"],
            ]
        ],
    )
    if profile_text:
        print("\nClient.submit hot spots (own time):")
        print(profile_text)


if __name__ == "__main__":
    main()
