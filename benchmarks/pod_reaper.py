"""How long ``pop reap pods`` takes over 5,000 finished pods, on a simulated cluster.

There is no cluster on these machines. The pods live in the Kubernetes API test server of
``tests/kube/server.py``, started by this script in its own process, so every figure is a
**simulated cluster** figure, never a cluster run (the server is Python's threading HTTP server:
its own time per request is part of what is measured).

Each run starts a fresh server and seeds N pods straight into its store (``seed_pod``: no HTTP
request, no kubelet, bound to a node nobody runs, so a delete removes a pod at once), each as pop
leaves them behind: labelled ``app.kubernetes.io/managed-by=pop`` with an agenda, operation and
attempt, phase Succeeded, started 3 h and finished 2 h before the run. Then it times
``pop reap pods --older-than 1h --batch-size 50`` as a whole process (``KUBECONFIG`` at the
server, a fresh ``POP_HOME``) and reads the server's request log: delete and list calls, and the
pods left. Each run is checked: exit 0, the summary line says all N deleted, none left.

For scale, the floor that pop's own API client puts on the run: ``pop reap pods`` sends at most
``REAP_PODS_RATE`` requests a second (``pop/api/launches.py``; a launcher's client: 20) after a
burst of one batch, so N deletes cannot take less than (requests - burst) / rate seconds
whatever the server does.

Target (issue 12): under 10 s for 5,000 pods.

    python benchmarks/pod_reaper.py                   # 5,000 pods, 1 run (+ a small warm-up)
    python benchmarks/pod_reaper.py --pods 500 --runs 3 --json
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from k8s_dispatch import kube_test_module, pop_env

TARGET_SECONDS = 10.0
OLDER_THAN = "1h"
BATCH_SIZE = 50
WARMUP_PODS = 20
FINISHED_AGO = timedelta(hours=2)
RAN_FOR = timedelta(hours=1)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_finished_pods(server: Any, count: int) -> float:
    """Put ``count`` finished pop pods into ``server``'s store; the seconds it took."""
    started = time.perf_counter()
    finished = datetime.now(UTC) - FINISHED_AGO
    status = {
        "phase": "Succeeded",
        "startTime": stamp(finished - RAN_FOR),
        "containerStatuses": [
            {
                "name": "main",
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": stamp(finished - RAN_FOR),
                        "finishedAt": stamp(finished),
                    }
                },
            }
        ],
    }
    for number in range(count):
        agenda = f"bench{number // 10:04d}"
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"pop-{agenda}-op{number % 10}-1",
                "labels": {
                    "app.kubernetes.io/managed-by": "pop",
                    "pop.agendaId": agenda,
                    "pop.operation": f"op{number % 10}",
                    "pop.attempt": "1",
                },
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "pop-handlers:latest"}],
            },
        }
        server.seed_pod(manifest, status=status, created=finished - RAN_FOR)
    return time.perf_counter() - started


def reap_once(pop: list[str], pods: int, tmpdir: str | None) -> dict[str, Any]:
    """Seed ``pods`` into a fresh server, time one ``pop reap pods``, read the server's log."""
    with common.sandbox(tmpdir) as box:
        server = kube_test_module("server").start_api_server(box.root / "kube-api")
        try:
            seed_seconds = seed_finished_pods(server, pods)
            argv = [
                *pop,
                "reap",
                "pods",
                "--older-than",
                OLDER_THAN,
                "--batch-size",
                str(BATCH_SIZE),
            ]
            cpu_before = time.process_time()
            env = pop_env(box) | {"KUBECONFIG": str(server.kubeconfig)}
            run = common.run_once(argv, env=env, cwd=box.root)
            server_cpu = time.process_time() - cpu_before
            deletes = server.count(verb="delete", resource="pods")
            lists = server.count(verb="list", resource="pods")
            total = len(server.requests)
            left = len(server.store.items("pods", server.namespace))
        finally:
            server.stop()
    lines = run.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    batches = -(-pods // BATCH_SIZE)
    expected = f"deleted {pods} pod{'' if pods == 1 else 's'}, kept 0 (cutoff {OLDER_THAN}, "
    expected += f"{batches} batch{'' if batches == 1 else 'es'})"
    ok = run.returncode == 0 and summary == expected and left == 0 and deletes == pods
    return {
        "seconds": run.seconds,
        "popCpuSeconds": run.cpu_seconds,
        "serverCpuSeconds": server_cpu,
        "seedSeconds": seed_seconds,
        "deleteRequests": deletes,
        "listRequests": lists,
        "allRequests": total,
        "podsLeft": left,
        "exitCode": run.returncode,
        "summary": summary,
        "ok": ok,
        "stderr": run.stderr.strip()[-500:] if run.returncode else "",
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=1)
    parser.add_argument("--pods", type=int, default=5000, help="pods seeded (default 5,000)")
    args = parser.parse_args()
    pop = common.pop_command()
    from pop.api.launches import REAP_PODS_RATE

    reap_once(pop, WARMUP_PODS, args.tmpdir)  # untimed: caches warm
    runs = [reap_once(pop, args.pods, args.tmpdir) for _ in range(args.runs)]
    median = statistics.median(run["seconds"] for run in runs)
    last = runs[-1]
    floor = max(0.0, (last["allRequests"] - BATCH_SIZE) / REAP_PODS_RATE)
    report = {
        "benchmark": "pod_reaper",
        "cluster": "simulated cluster (tests/kube API test server)",
        "machine": common.machine(args.tmpdir),
        "pods": args.pods,
        "command": f"pop reap pods --older-than {OLDER_THAN} --batch-size {BATCH_SIZE}",
        "runs": runs,
        "medianSeconds": median,
        "podsPerSecond": args.pods / median,
        "clientRateLimit": {"ratePerSecond": REAP_PODS_RATE, "burst": BATCH_SIZE},
        "rateLimitFloorSeconds": floor,
        "target": f"< {TARGET_SECONDS:g} s",
        "targetMet": median < TARGET_SECONDS and all(run["ok"] for run in runs),
    }
    if args.json:
        common.print_json(report)
        return
    print(common.machine_line(args.tmpdir))
    print(
        f"SIMULATED CLUSTER (API test server), not a cluster run. {args.pods:,} finished pods "
        f"seeded; `{report['command']}`; {args.runs} run(s) (+1 warm-up of {WARMUP_PODS} pods)"
    )
    rows = [
        [
            index + 1,
            run["seconds"],
            run["deleteRequests"],
            run["listRequests"],
            run["allRequests"],
            run["podsLeft"],
            run["popCpuSeconds"],
            run["serverCpuSeconds"],
            run["seedSeconds"],
            ("ok" if run["ok"] else "FAILED") + f": {run['summary'] or run['stderr']}",
        ]
        for index, run in enumerate(runs)
    ]
    common.print_table(
        "pop reap pods",
        [
            "run",
            "wall s",
            "deletes",
            "lists",
            "requests",
            "pods left",
            "pop CPU s",
            "server CPU s",
            "seed s",
            "check",
        ],
        rows,
    )
    verdict = "met" if report["targetMet"] else "MISSED"
    print(
        f"median {median:.2f} s ({report['podsPerSecond']:.0f} pods/s); target "
        f"{report['target']}: {verdict}"
    )
    print(
        f"pop's client rate limit ({REAP_PODS_RATE:g} requests/s, burst {BATCH_SIZE}) alone "
        f"makes {last['allRequests']:,} requests take at least {floor:.1f} s"
    )


if __name__ == "__main__":
    main()
