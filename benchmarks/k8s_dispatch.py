"""What the kubernetes runtime adds per op, on a simulated cluster: no-op ``sample`` ops, pods
against local processes.

There is no cluster on these machines. The cluster here is the Kubernetes API test server of
``tests/kube/server.py`` with the kubelet simulator of ``tests/kube/kubelet.py`` (it runs each
pod's command as a local process), both started by this script in its own process, so every
figure is a **simulated cluster** figure, never a cluster run: the simulator's own work (HTTP
in Python, the kubelet's status loop, its log reader threads) is part of what is measured
and competes with pop for the same cores.

pop runs an agenda of N independent ``sample`` ops with an empty action list (a launched handler
that succeeds at once with ``{}``) as ``pop run-local AGENDA --registry REG --concurrency C
--cpus C --quiet --json``, once with ``--launch kubernetes`` (``KUBECONFIG`` at the test server,
the registry's ``workVolume`` claim ``pop-work`` mapped by the kubelet to ``$POP_HOME/work``) and
once with ``--launch local``, each run in a fresh ``POP_HOME``, the two alternating run by run
after one untimed warm-up of each. Each run is checked (exit 0, every op succeeded; on the
cluster no pod left behind).

Figures, medians over the timed runs:

- wall time of each whole ``pop run-local`` process, and (k8s - local) / N; CPU time of the pop
  process with the children it waited for (on local: every handler process), of the pod
  processes the kubelet simulator ran (on kubernetes), and of the server and kubelet threads;
  start-up (process start to the first op's start) and shut-down (the last op's end to the
  exit), from the store;
- each op's launch-to-end time (its attempt row's ``ended_time - started_time`` in the store),
  median over the ops, kubernetes beside local: the latency a pod adds to one op;
- API requests from the server's request log: those on pods that are not list or watch (the
  create, the log stream, the delete, a read; the handler's own patches, made with the pod's
  token, are counted too and shown apart) per op, and the list and watch requests in total.

Targets (issue 12, whose measure is the run's wall time): at most 6 requests per op; at most
100 ms overhead per op, the wall-time difference / N. The per-op launch-to-end difference is
shown beside it with the same bound, as a second, stricter verdict: at concurrency C the wall
figure spreads each pod's latency over C ops at once, the launch-to-end one does not (and on
this machine the simulated pods' processes share its 2 cores with pop).

    python benchmarks/k8s_dispatch.py                    # 50 ops, concurrency 10, 3 runs
    python benchmarks/k8s_dispatch.py --ops 20 --concurrency 4 --runs 1 --json
"""

from __future__ import annotations

import contextlib
import importlib
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
from noop_dag import check_pop_run

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # tests.kube: the API test server and kubelet simulator

REQUESTS_TARGET = 6.0
OVERHEAD_TARGET_MS = 100.0
MODES = ("kubernetes", "local")
WORK_CLAIM = "pop-work"
REGISTRY = f"workVolume:\n  persistentVolumeClaim: {{claimName: {WORK_CLAIM}}}\n"
POD_RESOURCES = ("pods", "pods/log", "pods/status")
COLLECTION_VERBS = ("list", "watch")


def kube_test_module(name: str) -> Any:
    """``tests.kube.<name>``, imported by name: test infrastructure, which mypy (run on pop and
    benchmarks) does not check, so it is not followed from here."""
    return importlib.import_module(f"tests.kube.{name}")


def sample_agenda(ops: int) -> dict[str, Any]:
    """``ops`` independent ``sample`` ops that do nothing and succeed with ``{}``."""
    return {
        "title": "k8s dispatch",
        "operations": [
            {"name": f"op{index}", "type": "sample", "payload": {"actions": []}}
            for index in range(ops)
        ],
    }


@dataclass
class Attempts:
    """What the store's op attempt rows (the agenda's own row left out) tell about one run."""

    op_milliseconds: list[float]  # each op's launch-to-end
    startup_seconds: float | None  # process start to the first op's start
    shutdown_seconds: float | None  # the last op's end to the process's exit


def read_attempts(home: Path, *, launched: float, run: common.Run) -> Attempts:
    """:class:`Attempts` of the run that started at epoch ``launched`` (none when the run left
    no store: the run's check says why)."""
    rows: list[tuple[int, int]] = []
    if (home / "pop.db").is_file():
        with contextlib.closing(sqlite3.connect(home / "pop.db")) as db:
            rows = db.execute(
                "SELECT started_time, ended_time FROM attempts "
                "WHERE operation IS NOT NULL AND ended_time IS NOT NULL"
            ).fetchall()
    if not rows:
        return Attempts([], None, None)
    first = min(started for started, _ended in rows) / 1000
    last = max(ended for _started, ended in rows) / 1000
    return Attempts(
        [float(ended - started) for started, ended in rows],
        first - launched,
        launched + run.seconds - last,
    )


@dataclass
class ModeRun:
    """One ``pop run-local`` on one runtime."""

    seconds: float
    pop_cpu_seconds: float  # the pop process and its children: on local, the handlers
    pod_cpu_seconds: float  # the processes the kubelet simulator ran (kubernetes only)
    check: dict[str, Any]
    attempts: Attempts
    simulator_cpu_seconds: float | None = None  # this process's CPU: the server and kubelet
    requests: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    pods_left: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.check["ok"]) and self.pods_left == 0


@contextlib.contextmanager
def simulated_cluster(root: Path, work: Path) -> Iterator[Any]:
    """The API test server and a kubelet simulator (local processes), the work claim mapped
    to ``work``; both stopped afterwards."""
    server = kube_test_module("server").start_api_server(root / "kube-api")
    try:
        kubelet = kube_test_module("kubelet").start_kubelet(server, root / "kubelet")
        try:
            kubelet.map_volume("persistentVolumeClaim", WORK_CLAIM, work)
            yield server
        finally:
            kubelet.stop()
    finally:
        server.stop()


def run_mode(mode: str, args: Any, pop: list[str]) -> ModeRun:
    """One run of the agenda on ``mode`` in a fresh POP_HOME (and a fresh simulated cluster)."""
    with common.sandbox(args.tmpdir) as box:
        agenda = box.write_json("agenda.json", sample_agenda(args.ops))
        registry = box.write_text("registry.yaml", REGISTRY)
        argv = [
            *pop,
            "run-local",
            str(agenda),
            "--registry",
            str(registry),
            "--launch",
            mode,
            "--concurrency",
            str(args.concurrency),
            "--cpus",
            str(args.concurrency),
            "--quiet",
            "--json",
        ]
        env = pop_env(box)
        work = box.home / "work"
        work.mkdir()
        if mode == "local":
            measured = run_measured(argv, env=env, cwd=box.root)
            return ModeRun(
                measured.run.seconds,
                measured.own_cpu_seconds,
                0.0,
                check_pop_run(measured.run.stdout, measured.run.returncode, args.ops)
                | stderr_tail(measured.run),
                read_attempts(box.home, launched=measured.launched, run=measured.run),
            )
        with simulated_cluster(box.root, work) as server:
            env["KUBECONFIG"] = str(server.kubeconfig)
            cpu_before = time.process_time()
            measured = run_measured(argv, env=env, cwd=box.root)
            simulator_cpu = time.process_time() - cpu_before
            requests = Counter(
                (request.verb, request.resource, request.user or "") for request in server.requests
            )
            pods_left = len(server.store.items("pods", server.namespace))
        run = measured.run
        return ModeRun(
            run.seconds,
            measured.own_cpu_seconds,
            run.cpu_seconds - measured.own_cpu_seconds,
            check_pop_run(run.stdout, run.returncode, args.ops) | stderr_tail(run),
            read_attempts(box.home, launched=measured.launched, run=run),
            simulator_cpu,
            requests,
            pods_left,
        )


@dataclass
class Measured:
    """A run, when it started (epoch seconds), and the CPU time of the pop process itself with
    the children it waited for (``run.cpu_seconds`` also holds every other child of this
    process that ended meanwhile: the kubelet simulator's pod processes)."""

    run: common.Run
    launched: float
    own_cpu_seconds: float


def run_measured(argv: list[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """Run ``argv`` as :func:`common.run_once` does (stdin empty, output read to the end),
    reaped with ``wait4`` so its own resource usage is known apart from the pods'."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        launched = time.time()
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        _pid, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run = common.Run(elapsed, cpu, process.returncode, stdout, stderr)
    return Measured(run, launched, usage.ru_utime + usage.ru_stime)


def pop_env(box: common.Sandbox) -> dict[str, str]:
    """The sandbox's environment, with this checkout first on PYTHONPATH: the pop processes
    (and the handler processes the kubelet simulator starts, which inherit it) run the code
    whose test server is in use, whatever pop the interpreter has installed."""
    env = box.env
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return env


def stderr_tail(run: common.Run) -> dict[str, str]:
    return {"stderr": run.stderr.strip()[-500:]} if run.returncode else {}


def median_or_none(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def request_summary(runs: list[ModeRun], ops: int) -> dict[str, Any]:
    """Requests per op (pod requests other than list/watch) and list/watch totals, as medians
    over the runs, with the last run's breakdown by verb, resource and user."""
    per_op, collection, other = [], [], []
    for run in runs:
        named = sum(
            count
            for (verb, resource, _user), count in run.requests.items()
            if resource in POD_RESOURCES and verb not in COLLECTION_VERBS
        )
        listed = sum(
            count for (verb, _r, _u), count in run.requests.items() if verb in COLLECTION_VERBS
        )
        per_op.append(named / ops)
        collection.append(listed)
        other.append(sum(run.requests.values()) - named - listed)
    last = runs[-1].requests
    return {
        "podRequestsPerOp": statistics.median(per_op),
        "podRequestsPerOpRuns": per_op,
        "listAndWatchTotal": statistics.median(collection),
        "otherRequestsTotal": statistics.median(other),
        "breakdownLastRun": [
            {"verb": verb, "resource": resource, "user": user, "count": count}
            for (verb, resource, user), count in sorted(last.items())
        ],
    }


def main() -> None:
    parser = common.base_parser(__doc__, runs=3)
    parser.add_argument("--ops", type=int, default=50, help="sample ops / pods (default 50)")
    parser.add_argument(
        "--concurrency", type=int, default=10, help="ops at once, and --cpus (default 10)"
    )
    args = parser.parse_args()
    pop = common.pop_command()

    results: dict[str, list[ModeRun]] = {mode: [] for mode in MODES}
    for round_index in range(1 + args.runs):  # round 0: the untimed warm-up
        order = MODES if round_index % 2 == 0 else tuple(reversed(MODES))
        for mode in order:
            run = run_mode(mode, args, pop)
            if round_index > 0:
                results[mode].append(run)

    k8s, local = results["kubernetes"], results["local"]
    wall = {mode: statistics.median(run.seconds for run in results[mode]) for mode in MODES}
    timings = {
        mode: {
            "opLaunchToEndMs": median_or_none(
                ms for run in results[mode] for ms in run.attempts.op_milliseconds
            ),
            "popCpuSeconds": median_or_none(run.pop_cpu_seconds for run in results[mode]),
            "podCpuSeconds": median_or_none(run.pod_cpu_seconds for run in results[mode]),
            "startupSeconds": median_or_none(run.attempts.startup_seconds for run in results[mode]),
            "shutdownSeconds": median_or_none(
                run.attempts.shutdown_seconds for run in results[mode]
            ),
        }
        for mode in MODES
    }
    wall_overhead_ms = (wall["kubernetes"] - wall["local"]) / args.ops * 1000
    k8s_op = timings["kubernetes"]["opLaunchToEndMs"]
    local_op = timings["local"]["opLaunchToEndMs"]
    op_overhead_ms = k8s_op - local_op if k8s_op is not None and local_op is not None else None
    requests = request_summary(k8s, args.ops)
    report = {
        "benchmark": "k8s_dispatch",
        "cluster": "simulated cluster (tests/kube API test server + kubelet simulator)",
        "machine": common.machine(args.tmpdir),
        "ops": args.ops,
        "concurrency": args.concurrency,
        "runs": args.runs,
        "wallSeconds": wall,
        "wallSecondsRuns": {mode: [run.seconds for run in results[mode]] for mode in MODES},
        "medians": timings,
        "simulatorCpuSeconds": median_or_none(run.simulator_cpu_seconds for run in k8s),
        "overheadMsPerOp": {"launchToEnd": op_overhead_ms, "wallPerOp": wall_overhead_ms},
        "requests": requests,
        "checks": {
            mode: [run.check | {"podsLeft": run.pods_left} for run in results[mode]]
            for mode in MODES
        },
        "allRunsOk": all(run.ok for mode in MODES for run in results[mode]),
        "targets": {
            "requestsPerOp": {
                "target": f"<= {REQUESTS_TARGET:g} requests/op",
                "met": requests["podRequestsPerOp"] <= REQUESTS_TARGET,
            },
            "overheadPerOp": {
                "target": f"<= {OVERHEAD_TARGET_MS:g} ms overhead/op (wall time / ops)",
                "met": wall_overhead_ms is not None and wall_overhead_ms <= OVERHEAD_TARGET_MS,
            },
            "launchToEndPerOp": {
                "target": f"<= {OVERHEAD_TARGET_MS:g} ms more per op launch-to-end (stricter)",
                "met": op_overhead_ms is not None and op_overhead_ms <= OVERHEAD_TARGET_MS,
            },
        },
    }
    if args.json:
        common.print_json(report)
        return
    print_report(report, k8s, local)


def print_report(report: dict[str, Any], k8s: list[ModeRun], local: list[ModeRun]) -> None:
    args_line = (
        f"{report['ops']} no-op sample ops, --concurrency {report['concurrency']} "
        f"--cpus {report['concurrency']}; median of {report['runs']} runs (+1 warm-up each)"
    )
    print(common.machine_line(report["machine"]["popHomeParent"]))
    print(
        f"SIMULATED CLUSTER (API test server + kubelet simulator), not a cluster run. {args_line}"
    )

    def checks(runs: list[ModeRun]) -> str:
        bad = [run for run in runs if not run.ok]
        if not bad:
            return f"ok ({len(runs)}/{len(runs)} runs)"
        first = bad[0]
        return f"FAILED {len(bad)}/{len(runs)}: {first.check} pods left {first.pods_left}"

    rows = [
        [
            label,
            report["wallSeconds"][mode],
            report["medians"][mode]["popCpuSeconds"],
            report["medians"][mode]["podCpuSeconds"],
            report["medians"][mode]["startupSeconds"],
            report["medians"][mode]["opLaunchToEndMs"],
            report["medians"][mode]["shutdownSeconds"],
            checks(runs),
        ]
        for mode, label, runs in (
            ("kubernetes", "kubernetes (simulated cluster)", k8s),
            ("local", "local", local),
        )
    ]
    common.print_table(
        "pop run-local wall time",
        [
            "--launch",
            "wall s",
            "pop CPU s",
            "pods' CPU s",
            "start-up s",
            "op launch-to-end ms",
            "shut-down s",
            "runs",
        ],
        rows,
    )
    overhead = report["overheadMsPerOp"]
    requests = report["requests"]
    targets = report["targets"]

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    common.print_table(
        "kubernetes vs local",
        ["figure", "value", "target"],
        [
            [
                "overhead per op, launch-to-end (ms, k8s - local)",
                overhead["launchToEnd"],
                f"<= {OVERHEAD_TARGET_MS:g} ms (stricter): "
                f"{verdict(targets['launchToEndPerOp']['met'])}",
            ],
            [
                "overhead per op, wall (ms, (k8s - local) / ops)",
                overhead["wallPerOp"],
                f"<= {OVERHEAD_TARGET_MS:g} ms: {verdict(targets['overheadPerOp']['met'])}",
            ],
            [
                "pod requests per op (not list/watch)",
                requests["podRequestsPerOp"],
                f"<= {REQUESTS_TARGET:g}: {verdict(targets['requestsPerOp']['met'])}",
            ],
            ["list + watch requests, total per run", requests["listAndWatchTotal"], ""],
            ["other requests, total per run", requests["otherRequestsTotal"], ""],
            [
                "simulator CPU per run (server + kubelet, s)",
                report["simulatorCpuSeconds"],
                "",
            ],
        ],
    )
    common.print_table(
        "API requests of the last kubernetes run",
        ["verb", "resource", "user", "count"],
        [
            [item["verb"], item["resource"], item["user"], item["count"]]
            for item in requests["breakdownLastRun"]
        ],
    )


if __name__ == "__main__":
    main()
