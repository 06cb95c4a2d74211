"""``pop serve`` figures, each beside its in-process baseline taken in the same run.

1. Submits per second over HTTP: ``--clients`` (default 8) threads, each with its own keep-alive
   connection (the standard library's ``http.client``: httpx costs as much CPU per request as
   the server's answer, and the clients share the machine with the server), POST
   ``--submits`` (default 2,000) 2-op agendas of the resident ``noop``
   type to a real ``pop serve --no-auth`` (a subprocess on a free port, its own ``POP_HOME``),
   beside ``pop.api.Client.submit`` of the same agenda in a loop in this process on another
   ``POP_HOME``. Target (issue 13): HTTP at least 40% of in-process.
2. ``getAgenda`` latency with ``--queued`` (default 100,000) agendas queued: the store is filled
   in this process by ``Client.submit`` itself, all inside one store transaction (what each row
   holds is what ``pop submit`` stores; only the commits are saved), then a server is started on
   it. ``--calls`` (default 1,000) ``POST /pop/resourcepool/service/getAgenda`` with ``count``
   1 and an ``executorId``, one at a time on one keep-alive connection, after 20 untimed ones;
   then as many ``Client.get_agenda(count=1)`` in this process on the same store (the server
   idle). Median and p99 of each. Targets: HTTP median at most 5 ms, p99 at most 20 ms.
3. ``--agendas`` (default 20) agendas of ``--ops`` (default 10) independent ops that each sleep
   ``--op-seconds`` (default 1 s; a plain command ``sleep``, from a registry file given to every
   process) run by ``pop executor --server URL --insight default --once`` (its own
   ``POP_HOME``) against a server holding them, beside ``pop executor --once`` on a store
   holding the same agendas; both with the same ``--max-running`` (4), ``--concurrency`` (10)
   and a CPU budget that never holds an op back. Wall time around each executor process;
   ``--runs`` (default 3) rounds, alternating which goes first. Target: remote at most 1.1x
   local.

    python benchmarks/serve.py
    python benchmarks/serve.py --quick            # a smoke run with small numbers (seconds)
    python benchmarks/serve.py --queued 20000 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import common
import httpx
from serving import serving

SUBMIT_RATIO_TARGET = 0.40
GET_AGENDA_MEDIAN_TARGET_MS = 5.0
GET_AGENDA_P99_TARGET_MS = 20.0
REMOTE_RATIO_TARGET = 1.10
WARMUP_CALLS = 20
SLEEPER_TYPE = "sleeper"
GET_AGENDA = "/pop/resourcepool/service/getAgenda"


def small_agenda() -> dict[str, Any]:
    return {
        "title": "serve benchmark",
        "operations": [
            {"name": "first", "type": common.RESIDENT_TYPE, "payload": {}},
            {"name": "second", "type": common.RESIDENT_TYPE, "payload": {"in": "@<first.out>"}},
        ],
    }


def sleeper_agenda(ops: int) -> dict[str, Any]:
    return common.independent_agenda(ops, SLEEPER_TYPE, title="serve benchmark: sleepers")


def sleeper_registry(seconds: float) -> str:
    return f'handlers:\n  {SLEEPER_TYPE}:\n    command: ["sleep", "{seconds:g}"]\n'


def in_process_client(home: Path, registry: Path | None = None) -> Any:
    from pop.api import Client
    from pop.config import Settings

    return Client(Settings(home=home), registry_path=registry)


# -- 1. submits per second -----------------------------------------------------------------


def http_submits(url: str, *, submits: int, clients: int) -> float:
    """Submits per second of ``clients`` threads POSTing ``submits`` agendas in all."""
    agenda = small_agenda()
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(WARMUP_CALLS):
            answer = http.post("/pop/agenda", json=agenda)
            answer.raise_for_status()
    lock = threading.Lock()
    left = [submits]
    failures: list[str] = []

    body = json.dumps(agenda).encode()
    address = urlsplit(url)

    def work() -> None:
        # a light client (the standard library's, one keep-alive connection per thread): the
        # clients share these 2 cores with the server, and httpx costs about 1 ms of CPU per
        # request here, as much as the server's whole answer, so it would measure itself
        connection = HTTPConnection(address.hostname or "", address.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        try:
            while True:
                with lock:
                    if left[0] == 0 or failures:
                        return
                    left[0] -= 1
                connection.request("POST", "/pop/agenda", body=body, headers=headers)
                answer = connection.getresponse()
                text = answer.read()
                if answer.status != 200:
                    with lock:
                        failures.append(f"{answer.status} {text[:300]!r}")
        except Exception as exc:  # a client that broke stops the figure, never shortens it
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"POST /pop/agenda FAILED: {failures[0]}")
    return submits / elapsed


def local_submits(home: Path, *, submits: int) -> float:
    """Submits per second of ``Client.submit`` in this process (each its own transaction)."""
    client = in_process_client(home)
    agenda = small_agenda()
    for _ in range(WARMUP_CALLS):
        client.submit(agenda)
    started = time.perf_counter()
    for _ in range(submits):
        client.submit(agenda)
    elapsed = time.perf_counter() - started
    client.close()
    return submits / elapsed


def submit_figures(args: argparse.Namespace, pop: list[str]) -> dict[str, Any]:
    with common.sandbox(args.tmpdir) as box, serving(pop, box.env, "--no-auth") as server:
        http_rate = http_submits(server.url, submits=args.submits, clients=args.clients)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            stored = http.get("/pop/agenda", params={"bycount": "true"}).json()["count"]
        if stored != args.submits + WARMUP_CALLS:  # every timed POST stored its agenda
            raise SystemExit(f"the server holds {stored} agendas, not {args.submits} + warm-up")
    with common.sandbox(args.tmpdir) as box:
        local_rate = local_submits(box.home, submits=args.submits)
    ratio = http_rate / local_rate
    return {
        "submits": args.submits,
        "clients": args.clients,
        "httpPerSecond": http_rate,
        "inProcessPerSecond": local_rate,
        "ratio": ratio,
        "targetMet": ratio >= SUBMIT_RATIO_TARGET,
    }


# -- 2. getAgenda latency at a deep queue --------------------------------------------------


def fill_queue(home: Path, count: int) -> float:
    """Queue ``count`` 1-op agendas through ``Client.submit`` inside one store transaction
    (each row as ``pop submit`` stores it; one commit instead of ``count``). Seconds taken."""
    client = in_process_client(home)
    agenda = {
        "title": "queued",
        "operations": [{"name": "only", "type": common.RESIDENT_TYPE, "payload": {}}],
    }
    started = time.perf_counter()
    with client.store.transaction():
        for _ in range(count):
            client.submit(agenda)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


def latencies(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"medianMs": statistics.median(ordered) * 1000, "p99Ms": p99 * 1000}


def http_get_agenda(url: str, calls: int) -> list[float]:
    body = {"insightId": "default", "count": 1, "executorId": "bench-http"}
    seconds = []
    with httpx.Client(base_url=url, timeout=60) as http:
        for index in range(WARMUP_CALLS + calls):
            started = time.perf_counter()
            answer = http.post(GET_AGENDA, json=body)
            elapsed = time.perf_counter() - started
            if answer.status_code != 200 or answer.json().get("count") != 1:
                raise SystemExit(f"getAgenda FAILED: {answer.status_code} {answer.text[:300]}")
            if index >= WARMUP_CALLS:
                seconds.append(elapsed)
    return seconds


def local_get_agenda(home: Path, calls: int) -> list[float]:
    client = in_process_client(home)
    seconds = []
    for index in range(WARMUP_CALLS + calls):
        started = time.perf_counter()
        handed = client.get_agenda(insight_id="default", count=1, owner="bench-local")
        elapsed = time.perf_counter() - started
        if len(handed) != 1:
            raise SystemExit("Client.get_agenda FAILED: the queue ran dry")
        if index >= WARMUP_CALLS:
            seconds.append(elapsed)
    client.close()
    return seconds


def get_agenda_figures(args: argparse.Namespace, pop: list[str]) -> dict[str, Any]:
    with common.sandbox(args.tmpdir) as box:
        fill_seconds = fill_queue(box.home, args.queued)
        with serving(pop, box.env, "--no-auth") as server:
            http = latencies(http_get_agenda(server.url, args.calls))
            local = latencies(local_get_agenda(box.home, args.calls))
    return {
        "queued": args.queued,
        "fillSeconds": fill_seconds,
        "calls": args.calls,
        "http": http,
        "inProcess": local,
        "medianRatio": http["medianMs"] / local["medianMs"],
        "targetMet": http["medianMs"] <= GET_AGENDA_MEDIAN_TARGET_MS
        and http["p99Ms"] <= GET_AGENDA_P99_TARGET_MS,
    }


# -- 3. a remote executor against a local one ----------------------------------------------


def queue_sleepers(home: Path, registry: Path, args: argparse.Namespace) -> None:
    client = in_process_client(home, registry)
    for _ in range(args.agendas):
        client.submit(sleeper_agenda(args.ops))
    client.close()


def executor_options(args: argparse.Namespace, registry: Path) -> list[str]:
    cpus = args.max_running * args.concurrency
    return [
        "--once", "--json", "--registry", str(registry), "--max-running", str(args.max_running),
        "--concurrency", str(args.concurrency), "--cpus", str(cpus),
    ]  # fmt: skip


def checked(run: common.Run, what: str, agendas: int) -> float:
    import json

    try:
        succeeded = json.loads(run.stdout).get("succeeded")
    except ValueError:
        succeeded = None
    if run.returncode != 0 or succeeded != agendas:
        raise SystemExit(
            f"{what} FAILED (exit {run.returncode}, {succeeded} of {agendas} succeeded):\n"
            f"{run.stderr[-2000:]}"
        )
    return run.seconds


def local_executor_run(args: argparse.Namespace, pop: list[str]) -> float:
    with common.sandbox(args.tmpdir) as box:
        registry = box.write_text("registry.yaml", sleeper_registry(args.op_seconds))
        queue_sleepers(box.home, registry, args)
        run = common.run_once([*pop, "executor", *executor_options(args, registry)], env=box.env)
        return checked(run, "pop executor", args.agendas)


def remote_executor_run(args: argparse.Namespace, pop: list[str]) -> float:
    with common.sandbox(args.tmpdir) as box:
        registry = box.write_text("registry.yaml", sleeper_registry(args.op_seconds))
        queue_sleepers(box.home, registry, args)
        executor_env = {**box.env, "POP_HOME": str(box.root / "executor-home")}
        executor_env.pop("POP_TOKEN", None)
        with serving(pop, box.env, "--no-auth", "--registry", str(registry)) as server:
            argv = [*pop, "executor", "--server", server.url, "--insight", "default"]
            run = common.run_once([*argv, *executor_options(args, registry)], env=executor_env)
        return checked(run, "pop executor --server", args.agendas)


def executor_figures(args: argparse.Namespace, pop: list[str]) -> dict[str, Any]:
    local: list[float] = []
    remote: list[float] = []
    for index in range(args.runs):
        if index % 2 == 0:
            local.append(local_executor_run(args, pop))
            remote.append(remote_executor_run(args, pop))
        else:
            remote.append(remote_executor_run(args, pop))
            local.append(local_executor_run(args, pop))
    waves = -(-args.agendas // args.max_running)
    ratio = statistics.median(remote) / statistics.median(local)
    return {
        "agendas": args.agendas,
        "opsPerAgenda": args.ops,
        "opSeconds": args.op_seconds,
        "maxRunning": args.max_running,
        "concurrency": args.concurrency,
        "idealSeconds": waves * -(-args.ops // args.concurrency) * args.op_seconds,
        "remoteSeconds": statistics.median(remote),
        "localSeconds": statistics.median(local),
        "remoteRuns": remote,
        "localRuns": local,
        "ratio": ratio,
        "targetMet": ratio <= REMOTE_RATIO_TARGET,
    }


# -- the command -----------------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = common.base_parser(__doc__, runs=3)
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke run")
    parser.add_argument("--submits", type=int, default=2000, help="agendas POSTed (figure 1)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--queued", type=int, default=100_000, help="agendas queued (figure 2)")
    parser.add_argument("--calls", type=int, default=1000, help="timed getAgenda calls")
    parser.add_argument("--agendas", type=int, default=20, help="agendas run (figure 3)")
    parser.add_argument("--ops", type=int, default=10, help="sleeping ops per agenda")
    parser.add_argument("--op-seconds", type=float, default=1.0, help="each op's sleep")
    parser.add_argument("--max-running", type=int, default=4, help="agendas at once")
    parser.add_argument("--concurrency", type=int, default=10, help="ops at once per agenda")
    parser.add_argument(
        "--only", choices=("submit", "getagenda", "executor"), help="take one figure only"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.submits, args.queued, args.calls = 100, 1000, 50
        args.agendas, args.ops, args.op_seconds, args.runs = 2, 2, 0.2, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    pop = common.pop_command()
    result: dict[str, Any] = {"machine": common.machine(args.tmpdir)}
    if args.only in (None, "submit"):
        result["submits"] = submit_figures(args, pop)
    if args.only in (None, "getagenda"):
        result["getAgenda"] = get_agenda_figures(args, pop)
    if args.only in (None, "executor"):
        result["executor"] = executor_figures(args, pop)
    if args.json:
        common.print_json(result)
        return
    print_figures(result)


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_figures(result: dict[str, Any]) -> None:
    print(f"pop serve figures ({common.machine_line(result['machine']['popHomeParent'])})")
    headers = [
        "figure",
        "pop serve (HTTP)",
        "baseline: in-process, local executor",
        "ratio",
        "target",
        "verdict",
    ]
    rows: list[list[Any]] = []
    if "submits" in result:
        sub = result["submits"]
        rows.append(
            [
                f"submits/s, {sub['clients']} clients, {sub['submits']} agendas",
                sub["httpPerSecond"],
                sub["inProcessPerSecond"],
                sub["ratio"],
                f">= {SUBMIT_RATIO_TARGET:.2f}",
                verdict(sub["targetMet"]),
            ]
        )
    if "getAgenda" in result:
        get = result["getAgenda"]
        about = f"{get['queued']:,} queued, {get['calls']} calls"
        rows.append(
            [
                f"getAgenda median ms, {about}",
                get["http"]["medianMs"],
                get["inProcess"]["medianMs"],
                get["medianRatio"],
                f"<= {GET_AGENDA_MEDIAN_TARGET_MS:g} ms",
                verdict(get["http"]["medianMs"] <= GET_AGENDA_MEDIAN_TARGET_MS),
            ]
        )
        rows.append(
            [
                f"getAgenda p99 ms, {about}",
                get["http"]["p99Ms"],
                get["inProcess"]["p99Ms"],
                get["http"]["p99Ms"] / get["inProcess"]["p99Ms"],
                f"<= {GET_AGENDA_P99_TARGET_MS:g} ms",
                verdict(get["http"]["p99Ms"] <= GET_AGENDA_P99_TARGET_MS),
            ]
        )
    if "executor" in result:
        run = result["executor"]
        rows.append(
            [
                f"executor wall s, {run['agendas']} agendas x {run['opsPerAgenda']} ops of "
                f"{run['opSeconds']:g} s (ideal {run['idealSeconds']:g} s)",
                run["remoteSeconds"],
                run["localSeconds"],
                run["ratio"],
                f"<= {REMOTE_RATIO_TARGET:.2f}x",
                verdict(run["targetMet"]),
            ]
        )
    common.print_table("", headers, rows)
    if "getAgenda" in result:
        print(f"store filled with {result['getAgenda']['queued']:,} submits in "
              f"{result['getAgenda']['fillSeconds']:.1f} s (one transaction)")  # fmt: skip
    if "executor" in result:
        run = result["executor"]
        print(
            "executor runs (s): remote "
            + ", ".join(f"{s:.2f}" for s in run["remoteRuns"])
            + "; local "
            + ", ".join(f"{s:.2f}" for s in run["localRuns"])
        )


if __name__ == "__main__":
    main()
