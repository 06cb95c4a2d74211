"""``pop executor`` and ``pop run-local`` with ``--launch kubernetes`` through the real CLI on the
simulated cluster (issue 12's acceptance): the Kubernetes API test server and the kubelet
simulator of ``tests/kube``, never a real cluster. Fair hand-outs with one pod per op and
``pop reap pods``, a protocol handler reporting only through its pod's annotations, a registry
without ``workVolume``, a forbidding server, CPU requests the cluster (not the executor's budget)
schedules, and a pod that is never scheduled."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunPop = Callable[..., subprocess.CompletedProcess[str]]
POD_USER = "system:serviceaccount:pop:default"  # the token pods get (tests/kube/server.py)
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
WORK_VOLUME = "workVolume:\n  persistentVolumeClaim: {claimName: pop-work}\n"


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def out(completed: subprocess.CompletedProcess[str]) -> Any:
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def on_cluster(kube_api: Any) -> dict[str, str]:
    return {"KUBECONFIG": str(kube_api.kubeconfig)}


def cluster_registry(
    tmp_path: Path, pop_home: Path, kubelet: Any, handlers: str = "", *, work_volume: bool = True
) -> Path:
    """A registry file with ``workVolume`` (the kubelet backs it with ``$POP_HOME/work``) and
    the given ``handlers:`` section."""
    text = ""
    if work_volume:
        work = pop_home / "work"
        work.mkdir(parents=True, exist_ok=True)
        kubelet.map_volume("persistentVolumeClaim", "pop-work", work)
        text = WORK_VOLUME
    if handlers:
        text += "handlers:\n" + textwrap.indent(textwrap.dedent(handlers), "  ")
    registry = tmp_path / "registry.yaml"
    registry.write_text(text, encoding="utf-8")
    return registry


def script(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def op_attempts(pop_home: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Each op's attempt rows in the store: (agenda id, operation, outcome, launch record)."""
    connection = sqlite3.connect(f"file:{pop_home / 'pop.db'}?mode=ro", uri=True)
    try:
        rows = connection.execute(
            "SELECT agenda_id, operation, outcome, launched FROM attempts "
            "WHERE operation IS NOT NULL AND operation != '' ORDER BY id"
        ).fetchall()
    finally:
        connection.close()
    return [
        (agenda, operation, outcome, json.loads(launched or "null"))
        for agenda, operation, outcome, launched in rows
    ]


def pods(kube_api: Any) -> dict[str, Any]:
    return {
        pod["metadata"]["name"]: pod for pod in kube_api.store.items("pods", kube_api.namespace)
    }


def op_of(progress: dict[str, Any], name: str) -> dict[str, Any]:
    return next(op for op in progress["operationProgress"] if op["operation"] == name)


# -- fair hand-outs, a pod per op, pop reap pods ---------------------------------------------------

ONE_SAMPLE_OP = {
    "title": "one launched op",
    "operations": [
        {
            "name": "encode",
            "type": "sample",
            "payload": {
                "actions": [
                    {
                        "action": "log",
                        "paramsMap": {"logMessage": "encoding", "sleepMilliseconds": 300},
                    }
                ],
                "resultPayload": {"done": True},
            },
        }
    ],
}


def test_executor_runs_twelve_agendas_of_two_customers_as_pods_handed_out_in_turn(
    run_pop: RunPop, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    registry = cluster_registry(tmp_path, pop_home, kubelet)
    out(run_pop("pool", "add", "--id", "media", "--title", "Media", "--json"))
    for customer in ("acme", "beta"):
        out(
            run_pop(
                "customer",
                "add",
                "--id",
                customer,
                "--title",
                customer,
                "--pool",
                "media",
                "--json",
            )
        )
    out(
        run_pop(
            "insight", "add", "--id", "fair", "--title", "Fair", "--pool", "media",
            "--algorithm", "RoundRobin", "--mapper", "operationType=sample", "--json",
        )
    )  # fmt: skip
    agenda_file = write_json(tmp_path / "agenda.json", ONE_SAMPLE_OP)
    customer_of: dict[str, str] = {}
    for customer in ("acme",) * 6 + ("beta",) * 6:  # FIFO would hand out six of acme first
        submitted = out(run_pop("submit", str(agenda_file), "--customer", customer, "--json"))
        assert submitted["insightId"] == "fair"
        customer_of[submitted["agendaId"]] = customer

    ran = run_pop(
        "executor", "--launch", "kubernetes", "--keep", "--once", "--max-running", "4",
        "--registry", str(registry), "--json", env=on_cluster(kube_api), timeout=120,
    )  # fmt: skip

    report = out(ran)
    assert (report["succeeded"], report["failed"]) == (12, 0), report
    assert sorted(report["agendas"]) == sorted(customer_of)
    handed_out = [customer_of[agenda_id] for agenda_id in report["agendas"]]
    assert all(first != second for first, second in itertools.pairwise(handed_out)), handed_out
    # every op ran as a pod, and each attempt row names its pod (the very pod: uid and agenda)
    on_server = pods(kube_api)
    attempts = op_attempts(pop_home)
    assert sorted(agenda for agenda, *_ in attempts) == sorted(customer_of)
    assert kube_api.count(verb="create", resource="pods") == 12
    assert sorted(record["ref"] for *_, record in attempts) == sorted(on_server)
    for agenda_id, operation, outcome, record in attempts:
        assert (operation, outcome, record["runtime"]) == ("encode", "succeeded", "kubernetes")
        pod = on_server[record["ref"]]
        assert pod["metadata"]["uid"] == record["details"]["uid"]
        assert pod["metadata"]["labels"]["pop.agendaId"] == agenda_id
        assert pod["status"]["phase"] == "Succeeded"

    listed = run_pop(
        "reap", "pods", "--older-than", "0s", "--dry-run", "--json", env=on_cluster(kube_api)
    )

    entries = out(listed)
    assert sorted(entry["name"] for entry in entries) == sorted(on_server)
    assert {entry["action"] for entry in entries} == {"would remove"}
    assert sorted(pods(kube_api)) == sorted(on_server)  # a dry run deletes nothing
    assert kube_api.count(verb="delete") == 0


# -- a protocol handler that reports only through its pod's annotations ----------------------------

# Prints nothing: merge-patches 10, 50 and 90 % onto its own pod (KUBECONFIG at the server, as the
# kubelet simulator gives every pod), waiting after each for the test's go-<percent> file, then
# the final report with a result.
ANNOTATING_HANDLER = """
    import json, os, sys, time
    from pathlib import Path
    from kubernetes import client, config

    config.load_kube_config()
    api = client.CoreV1Api()
    pod, namespace = os.environ["MY_POD_NAME"], os.environ["POD_NAMESPACE"]
    gates = Path(sys.argv[1])

    def report(percent, state="EXECUTING", message="working", payload=None):
        annotations = {
            "pop.report.progress": json.dumps(
                {"processingState": state, "processingStateMessage": message,
                 "percentComplete": percent},
                separators=(",", ":"),
            )
        }
        if payload is not None:
            annotations["pop.report.payload"] = json.dumps(payload)
        api.patch_namespaced_pod(pod, namespace, {"metadata": {"annotations": annotations}})

    for percent in (10, 50, 90):
        report(percent)
        deadline = time.monotonic() + 120
        while not (gates / f"go-{percent}").exists():
            if time.monotonic() > deadline:
                sys.exit(5)
            time.sleep(0.05)
    report(100, "COMPLETE", "succeeded", {"reportedBy": "annotations"})
"""


def test_a_silent_protocol_command_reports_progress_and_result_through_annotations(
    run_pop: RunPop, start_pop: Any, wait_for: Any, pop_home: Path, tmp_path: Path,
    kube_api: Any, kubelet: Any,
) -> None:  # fmt: skip
    handler = script(tmp_path, "annotating.py", ANNOTATING_HANDLER)
    gates = tmp_path / "gates"
    gates.mkdir()
    registry = cluster_registry(
        tmp_path, pop_home, kubelet,
        f"""\
        annotated:
          command: [python3, {json.dumps(str(handler))}, {json.dumps(str(gates))}]
          protocol: pop
        """,
    )  # fmt: skip
    agenda_file = write_json(
        tmp_path / "agenda.json",
        {"title": "silent", "operations": [{"name": "report", "type": "annotated", "payload": {}}]},
    )

    running = start_pop(
        "run-local", str(agenda_file), "--launch", "kubernetes", "--keep",
        "--registry", str(registry), "--json", env=on_cluster(kube_api),
    )  # fmt: skip

    def listed() -> Any:
        listing = run_pop("list", "--json")
        return listing.returncode == 0 and json.loads(listing.stdout)

    (agenda,) = wait_for(listed, what="the agenda stored by run-local")
    seen = []
    for percent in (10, 50, 90):

        def reported(expected: int = percent) -> Any:
            status = out(run_pop("status", agenda["agendaId"], "--json"))
            op = op_of(status, "report")
            assert op["processingState"] in ("WAITING", "EXECUTING"), op
            return op["percentComplete"] == expected and op

        op = wait_for(reported, what=f"{percent} % in pop status --json")
        seen.append((op["processingState"], op["percentComplete"]))
        (gates / f"go-{percent}").touch()
    stdout, stderr = running.communicate(timeout=60)

    assert running.returncode == 0, stderr
    assert seen == [("EXECUTING", 10.0), ("EXECUTING", 50.0), ("EXECUTING", 90.0)]
    op = op_of(json.loads(stdout), "report")
    assert (op["processingState"], op["processingStateMessage"]) == ("COMPLETE", "succeeded")
    assert op["resultPayload"] == {"reportedBy": "annotations"}
    # the pod's log is empty: everything came from the annotations, patched by the pod itself
    (pod_name,) = pods(kube_api)
    assert kube_api.store.logs[(kube_api.namespace, pod_name)].lines == []
    assert kube_api.count(verb="patch", resource="pods", name=pod_name, user=POD_USER) == 4


# -- a registry without workVolume -----------------------------------------------------------------


def test_without_a_work_volume_the_first_launched_op_fails_naming_it(
    run_pop: RunPop, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    registry = cluster_registry(tmp_path, pop_home, kubelet, work_volume=False)

    ran = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "kubernetes",
        "--registry", str(registry), "--json", env=on_cluster(kube_api), timeout=120,
    )  # fmt: skip

    assert ran.returncode == 1, ran.stderr
    progress = json.loads(ran.stdout)
    prepare = op_of(progress, "prepare")
    assert (prepare["processingState"], prepare["processingStateMessage"]) == (
        "COMPLETE",
        "failed",
    )
    (diagnostic,) = prepare["diagnosticEvents"]
    assert "workVolume" in diagnostic["message"]
    assert prepare["attemptCount"] == 1  # permanent: not retried
    # its dependents never started; no pod was asked for
    for name in ("shout", "whisper", "combine"):
        assert op_of(progress, name)["processingState"] == "WAITING"
    assert "workVolume" in progress["diagnosticEvents"][0]["message"]
    assert kube_api.count(verb="create", resource="pods") == 0


# -- a server that forbids -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "verb", "resource"),
    [
        ("run-local", "list", "pods"),
        ("executor", "list", "pods"),
        # the rights the list does not exercise, found by the check's rules review
        ("run-local", "create", "pods"),
        ("executor", "watch", "pods"),
        ("run-local", "get", "pods/log"),
    ],
)
def test_a_forbidding_server_exits_3_with_one_error_and_one_hint_naming_the_rbac_rule(
    command: str,
    verb: str,
    resource: str,
    run_pop: RunPop,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
    kubelet: Any,
) -> None:
    registry = cluster_registry(tmp_path, pop_home, kubelet)
    agenda_file = write_json(tmp_path / "agenda.json", ONE_SAMPLE_OP)
    kube_api.forbid(verb, resource)
    if command == "run-local":
        args = ["run-local", str(agenda_file)]
    else:
        out(run_pop("submit", str(agenda_file), "--json"))
        args = ["executor", "--once"]

    ran = run_pop(
        *args, "--launch", "kubernetes", "--registry", str(registry), env=on_cluster(kube_api)
    )

    assert ran.returncode == 3, ran.stderr
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], ran.stderr
    assert f"forbids {verb} on {resource} in namespace pop" in lines[0]
    assert f"the Role needs {resource}: {verb}" in lines[1]
    # nothing ran: the agenda waits (queued again for the executor), no pod was asked for
    (agenda,) = out(run_pop("list", "--json"))
    assert agenda["processingState"] == "WAITING"
    assert kube_api.count(verb="create", resource="pods") == 0


# -- CPU requests are the cluster's to schedule ----------------------------------------------------

# Each pod checks in, then waits until all of them have: it ends 0 only if every pod ran at once.
BARRIER = """
    import os, sys, time
    from pathlib import Path

    room, expected = Path(sys.argv[1]), int(sys.argv[2])
    (room / os.environ["MY_POD_NAME"]).touch()
    deadline = time.monotonic() + 20
    while len(list(room.iterdir())) < expected:
        if time.monotonic() > deadline:
            print(f"only {len(list(room.iterdir()))} of {expected} pods ran at once", flush=True)
            sys.exit(7)
        time.sleep(0.05)
    time.sleep(2)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["run-local"],
        ["run-local", "--cpus", "2"],
        ["executor", "--once", "--cpus", "2"],
    ],
    ids=["run-local", "run-local --cpus 2", "executor --cpus 2"],
)
def test_eight_ops_of_two_cpus_each_all_run_as_pods_at_once(
    args: list[str], run_pop: RunPop, pop_home: Path, tmp_path: Path, kube_api: Any,
    kubelet: Any,
) -> None:  # fmt: skip
    barrier = script(tmp_path, "barrier.py", BARRIER)
    room = tmp_path / "room"
    room.mkdir()
    registry = cluster_registry(
        tmp_path, pop_home, kubelet,
        f"""\
        wide:
          command: [python3, {json.dumps(str(barrier))}, {json.dumps(str(room))}, "8"]
          cpuMinRequestCount: "2.0"
          cpuMaxRequestCount: "2.0"
        """,
    )  # fmt: skip
    agenda = {
        "title": "eight wide ops",
        "operations": [{"name": f"wide{index}", "type": "wide"} for index in range(8)],
    }
    agenda_file = write_json(tmp_path / "agenda.json", agenda)
    if args[0] == "run-local":
        args = [*args[:1], str(agenda_file), *args[1:]]
    else:
        out(run_pop("submit", str(agenda_file), "--json"))

    ran = run_pop(
        *args, "--launch", "kubernetes", "--keep", "--registry", str(registry),
        env=on_cluster(kube_api), timeout=120,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stdout + ran.stderr
    (agenda_row,) = out(run_pop("list", "--json"))
    progress = out(run_pop("status", agenda_row["agendaId"], "--json"))
    assert {op["processingStateMessage"] for op in progress["operationProgress"]} == {"succeeded"}
    on_server = pods(kube_api)
    assert len(on_server) == 8 and sorted(path.name for path in room.iterdir()) == sorted(on_server)
    for pod in on_server.values():
        (container,) = pod["spec"]["containers"]
        assert container["resources"]["requests"]["cpu"] == "2"


@pytest.mark.parametrize("command", ["run-local", "executor", "batch"])
def test_the_cpus_help_says_it_does_not_throttle_pods(command: str, run_pop: RunPop) -> None:
    shown = run_pop(command, "--help")

    assert shown.returncode == 0, shown.stderr
    cpus_help = " ".join(shown.stdout.split("--cpus", 1)[1].split("--", 1)[0].split())
    assert "no effect on kubernetes pods" in cpus_help, cpus_help


# -- a pod that is never scheduled -----------------------------------------------------------------


def test_a_pod_never_scheduled_fails_its_op_and_is_deleted(
    run_pop: RunPop, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    registry = cluster_registry(
        tmp_path, pop_home, kubelet,
        """\
        sample:
          handler: pop.handlers.sample:run
          podScheduledTimeoutMs: 2000
        """,
    )  # fmt: skip
    agenda_file = write_json(tmp_path / "agenda.json", ONE_SAMPLE_OP)
    kube_api.make_unschedulable("0/1 nodes are available: 1 Insufficient cpu.")

    ran = run_pop(
        "run-local", str(agenda_file), "--launch", "kubernetes", "--keep",
        "--registry", str(registry), "--json", env=on_cluster(kube_api), timeout=120,
    )  # fmt: skip

    assert ran.returncode == 1, ran.stderr
    encode = op_of(json.loads(ran.stdout), "encode")
    assert (encode["processingState"], encode["processingStateMessage"]) == ("COMPLETE", "failed")
    (diagnostic,) = encode["diagnosticEvents"]
    assert (
        "not scheduled within 2 s: 0/1 nodes are available: 1 Insufficient cpu."
        in (diagnostic["message"])
    )
    # the attempt named its pod, and that pod is gone although --keep keeps the others
    ((_, operation, _, record),) = op_attempts(pop_home)
    assert operation == "encode"
    assert kube_api.count(verb="create", resource="pods") == 1
    assert kube_api.count(verb="delete", resource="pods", name=record["ref"]) == 1
    assert pods(kube_api) == {}
    # the timeout ran from the create: about 2 s, not the default 300 s
    assert 1500 <= encode["completedTime"] - encode["startedTime"] < 30_000
