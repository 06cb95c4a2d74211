"""Fairness of hand-outs for a skewed workload: 1 heavy customer and 9 light ones, all backlogged.

``--agendas`` (default 20,000) agendas are queued on one insight, the heavy customer submitting 10
times as often as each light one (so about 53% of the queue is the heavy customer's, 5.3% each
light one's), their queued times interleaved as they arrived. An executor then claims
``--batch`` agendas at a time (default 4, ``pop executor``'s default ``--max-running``) until
``--handouts`` (default 2,000) were handed out. Printed per window of ``--window`` hand-outs
(default 200): the heavy customer's share, the lightest and the largest light share, and the
largest deviation of any backlogged customer from an equal share (10% each), under RoundRobin and,
for contrast, FirstInFirstOut. Then each customer's share over all hand-outs.

Target (issue 4): under RoundRobin every backlogged customer within ±10% of an equal share
(a share between 9% and 11%) in every window.

    python benchmarks/fairness.py
    python benchmarks/fairness.py --batch 1 --window 100 --json
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import common
from scheduling import queue_bulk, setup_facility

HEAVY = "heavy"
LIGHT = [f"light-{index}" for index in range(1, 10)]
CUSTOMERS = [HEAVY, *LIGHT]
WEIGHTS = [10.0] + [1.0] * len(LIGHT)
TOLERANCE = 0.10


def hand_outs(args: Any, algorithm: str) -> list[str]:
    """The customer of every agenda handed out, in order (every customer must still have queued
    agendas at the end, so all were backlogged throughout)."""
    import time

    from pop.api import Client
    from pop.config import Settings
    from pop.scheduling.claim import claim_next

    with common.sandbox(args.tmpdir) as box:
        client = Client(Settings(home=box.home))
        (insight,) = setup_facility(client, customers=CUSTOMERS)
        client.facility_update("insight", insight, {"schedulingAlgorithm": algorithm})
        now = int(time.time() * 1000)
        queue_bulk(
            client.store,
            insight=insight,
            customers=CUSTOMERS,
            count=args.agendas,
            start_ms=now - 3_600_000,
            spread_ms=3_600_000,
            weights=WEIGHTS,
        )
        owners: list[str] = []
        while len(owners) < args.handouts:
            claimed = claim_next(
                client.store,
                owner="fairness",
                lease_seconds=60,
                limit=min(args.batch, args.handouts - len(owners)),
                insight_ids=[insight],
            )
            if not claimed:
                break
            owners.extend(
                client.store.agendas.get(agenda_id).customer_id or "" for agenda_id in claimed
            )
        queued_left = Counter(
            row.customer_id for row in client.store.queue.oldest(insight, args.agendas)
        )
        client.close()
    if any(queued_left[customer] == 0 for customer in CUSTOMERS):
        raise SystemExit("a customer ran out of queued agendas: raise --agendas")
    return owners


def windows(owners: list[str], size: int) -> list[dict[str, Any]]:
    equal = 1 / len(CUSTOMERS)
    rows = []
    for start in range(0, len(owners) - size + 1, size):
        counts = Counter(owners[start : start + size])
        shares = {customer: counts[customer] / size for customer in CUSTOMERS}
        light = [shares[customer] for customer in LIGHT]
        deviation = max(abs(share - equal) / equal for share in shares.values())
        rows.append(
            {
                "handouts": f"{start + 1}-{start + size}",
                "heavyShare": shares[HEAVY],
                "lightMin": min(light),
                "lightMax": max(light),
                "maxDeviation": deviation,
                "withinTarget": deviation <= TOLERANCE + 1e-9,
            }
        )
    return rows


def main() -> None:
    parser = common.base_parser(__doc__, runs=1)
    parser.add_argument("--agendas", type=int, default=20_000, help="queued agendas")
    parser.add_argument("--handouts", type=int, default=2_000, help="agendas handed out")
    parser.add_argument("--batch", type=int, default=4, help="claim_next limit")
    parser.add_argument("--window", type=int, default=200, help="hand-outs per window")
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    for algorithm in ("RoundRobin", "FirstInFirstOut"):
        owners = hand_outs(args, algorithm)
        totals = Counter(owners)
        results[algorithm] = {
            "windows": windows(owners, args.window),
            "shares": {customer: totals[customer] / len(owners) for customer in CUSTOMERS},
        }
        results[algorithm]["targetMet"] = all(
            row["withinTarget"] for row in results[algorithm]["windows"]
        )
    if args.json:
        common.print_json(
            {"benchmark": "fairness", "machine": common.machine(args.tmpdir), **results}
        )
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"{args.agendas:,} queued (heavy:light arrival ratio 10:1 each), {args.handouts:,} "
        f"handed out {args.batch} at a time; equal share = 10%, target within ±10% of it"
    )

    def percent(value: float) -> str:
        return f"{value * 100:.1f}%"

    for algorithm, result in results.items():
        common.print_table(
            f"{algorithm}: shares per window of {args.window} hand-outs",
            ["hand-outs", "heavy", "lightest light", "largest light", "max deviation", "met"],
            [
                [
                    row["handouts"],
                    percent(row["heavyShare"]),
                    percent(row["lightMin"]),
                    percent(row["lightMax"]),
                    percent(row["maxDeviation"]),
                    "yes" if row["withinTarget"] else "NO",
                ]
                for row in result["windows"]
            ],
        )
    common.print_table(
        f"share of all {args.handouts:,} hand-outs per customer",
        ["customer", *results],
        [
            [customer, *(percent(result["shares"][customer]) for result in results.values())]
            for customer in CUSTOMERS
        ],
    )


if __name__ == "__main__":
    main()
