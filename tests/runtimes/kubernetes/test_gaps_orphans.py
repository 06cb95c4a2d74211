"""The orphan pass's "agenda complete" branch (issue 12, item 7; a gap of its audit), on pods
seeded into the Kubernetes API test server of ``tests/kube`` (simulated cluster, never a cluster
run): a running pop pod of an agenda that is COMPLETE in the store, whose attempt the store has
no row for, is deleted by ``pop reap pods --orphans`` and by the executor's services; a running
pod of an agenda that is not complete stays. (The "attempt ended" branch:
test_reap_pods.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.runtimes.kubernetes.test_reap_pods import reap, running, seed

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def agenda_of(completed: Any) -> str:
    assert completed.returncode == 0, completed.stderr
    return str(json.loads(completed.stdout)["agendaId"])


def names_left(kube_api: Any) -> set[str]:
    return {pod["metadata"]["name"] for pod in kube_api.store.items("pods", kube_api.namespace)}


def test_running_pods_of_a_complete_agenda_are_orphans_and_of_a_queued_one_are_not(
    run_pop: Any, kube_api: Any
) -> None:
    complete = agenda_of(run_pop("run-local", str(EXAMPLES / "hello.json"), "--json"))
    queued = agenda_of(run_pop("submit", str(EXAMPLES / "hello.json"), "--json"))
    # attempt 9 of shout: no such attempt row, so only the agenda's state can decide
    no_row = {"pop.operation": "shout", "pop.attempt": "9"}
    seed(kube_api, "of-complete", running(1), **{"pop.agendaId": complete, **no_row})
    seed(kube_api, "of-complete-no-op", running(1), **{"pop.agendaId": complete})
    seed(kube_api, "of-queued", running(1), **{"pop.agendaId": queued, **no_row})

    dry = reap(run_pop, kube_api, "--older-than", "0s", "--orphans", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert {item["name"]: item["action"] for item in json.loads(dry.stdout)} == {
        "of-complete": "would remove",
        "of-complete-no-op": "would remove",
        "of-queued": "kept",
    }
    assert len(names_left(kube_api)) == 3

    done = reap(run_pop, kube_api, "--older-than", "0s", "--orphans")

    assert done.returncode == 0, done.stderr
    found = {item["name"]: item for item in json.loads(done.stdout)}
    for name in ("of-complete", "of-complete-no-op"):
        assert found[name]["action"] == "removed"
        assert found[name]["orphan"] == "its agenda is complete"
    assert (found["of-queued"]["action"], found["of-queued"]["reason"]) == ("kept", "running")
    assert found["of-queued"]["orphan"] is None
    assert names_left(kube_api) == {"of-queued"}
    status = run_pop("status", queued, "--json")
    assert json.loads(status.stdout)["processingState"] == "WAITING"  # the reaper changed nothing


def test_the_executors_services_delete_a_complete_agendas_running_pod(
    run_pop: Any, kube_api: Any
) -> None:
    complete = agenda_of(run_pop("run-local", str(EXAMPLES / "hello.json"), "--json"))
    labels = {"pop.agendaId": complete, "pop.operation": "shout", "pop.attempt": "9"}
    seed(kube_api, "leftover", running(1), **labels)
    seed(kube_api, "unrelated", running(1))

    ran = run_pop(
        "executor", "--launch", "kubernetes", "--once",
        env={"KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert (
        f"reaped    {complete}  kubernetes leftover: removed (orphan: its agenda is complete)"
        in ran.stderr
    ), ran.stderr
    assert "reaped 1 orphan" in ran.stdout
    assert names_left(kube_api) == {"unrelated"}
