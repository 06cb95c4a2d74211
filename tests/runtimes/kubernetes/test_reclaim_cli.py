"""``kill -9`` of ``pop executor --launch kubernetes`` while its pod runs, then ``pop reclaim``
(issue 12's acceptance, on the simulated cluster of ``tests/kube``, never a real cluster): the
pod is deleted on the server, the attempt is ``lost`` and the agenda is requeued.
``pop reclaim --kubeconfig`` replaces the stored runtime options and a mistyped one is refused
before anything changes."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import store_snapshot, wait_for
from tests.runtimes.kubernetes.conftest import mapped_work

REGISTRY = """\
workVolume:
  persistentVolumeClaim: {claimName: pop-work}
handlers:
  sleeper:
    command: [python3, -c, "import time; print('up', flush=True); time.sleep(120)"]
"""


def submit_sleeper(run_pop: Any, tmp_path: Path) -> tuple[str, dict[str, str]]:
    """The id of a stored one-op agenda whose op (``sleeper``) runs for two minutes, and the
    environment that names its registry (a lease of 2 s)."""
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY)
    agenda = tmp_path / "agenda.json"
    agenda.write_text(json.dumps({"operations": [{"name": "long", "type": "sleeper"}]}))
    env = {"POP_REGISTRY": str(registry), "POP_LEASE_SECONDS": "2"}
    submitted = run_pop("submit", str(agenda), "--json", env=env)
    assert submitted.returncode == 0, submitted.stderr
    return json.loads(submitted.stdout)["agendaId"], env


def attempts(home: Path, agenda_id: str) -> list[tuple[str | None, Any]]:
    with sqlite3.connect(home / "pop.db") as db:
        rows = db.execute(
            "SELECT outcome, launched FROM attempts WHERE agenda_id = ? AND operation = 'long'",
            (agenda_id,),
        ).fetchall()
    return [(outcome, json.loads(launched) if launched else None) for outcome, launched in rows]


def running_pods(kube_api: Any) -> list[dict[str, Any]]:
    return [
        pod
        for pod in kube_api.store.items("pods", kube_api.namespace)
        if (pod.get("status") or {}).get("phase") == "Running"
    ]


def test_a_killed_executors_pod_is_deleted_and_its_agenda_requeued(
    run_pop: Any,
    start_pop: Any,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
    kubelet: Any,
) -> None:
    mapped_work(pop_home, kubelet)
    agenda_id, env = submit_sleeper(run_pop, tmp_path)

    executor = start_pop(
        "executor", "--launch", "kubernetes", "--no-services",
        env={**env, "KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip
    (pod,) = wait_for(lambda: running_pods(kube_api), what="the op's pod running")
    name = pod["metadata"]["name"]
    # The pod can be running a moment before its launch record reaches the attempt row.
    ((_, launched),) = wait_for(
        lambda: [row for row in attempts(pop_home, agenda_id) if row[1] is not None],
        what="the attempt row with its launch record",
    )
    assert launched["runtime"] == "kubernetes" and launched["ref"] == name
    assert launched["details"]["uid"] == pod["metadata"]["uid"]
    executor.send_signal(signal.SIGKILL)
    executor.wait(timeout=30)
    time.sleep(2.5)  # its lease (2 s) lapses; the pod runs on without it

    # the agenda's runtime options name no kubeconfig (it came from the environment): the
    # command line gives it, and a mistyped one changes nothing
    before = store_snapshot(pop_home)
    typo = run_pop("reclaim", "--older-than", "0s", "--kubeconfig", str(tmp_path / "nope"))
    assert typo.returncode == 2, typo.stderr
    assert typo.stderr.count("error:") == 1 and "nope" in typo.stderr
    assert store_snapshot(pop_home) == before
    assert running_pods(kube_api), "a refused reclaim deleted the pod"
    reclaimed = run_pop(
        "reclaim", "--older-than", "0s", "--kubeconfig", str(kube_api.kubeconfig), "--json",
        env=env,
    )  # fmt: skip

    assert reclaimed.returncode == 0, reclaimed.stderr
    (result,) = json.loads(reclaimed.stdout)
    assert result["agendaId"] == agenda_id and result["action"] == "requeued", result
    assert result["stopped"] == [f"long attempt 1: kubernetes {name}"]
    assert kube_api.count(verb="delete", resource="pods", name=name) == 1
    wait_for(lambda: not kube_api.store.items("pods", kube_api.namespace), what="the pod gone")
    assert [outcome for outcome, _ in attempts(pop_home, agenda_id)] == ["lost"]
    status = run_pop("status", agenda_id, "--json", env=env)
    assert json.loads(status.stdout)["processingState"] == "WAITING"
