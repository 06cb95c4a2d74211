"""``pop reap pods`` on the simulated cluster (issue 12, item 7): POP's pod reaper vectors
(POP-REFERENCE §8) on pods seeded into the Kubernetes API test server; never a cluster run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

AGE = "240m"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def now() -> datetime:
    """Now, when a pod is seeded (module import may be minutes before a test runs)."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(kube_api: Any, name: str, status: dict[str, Any], **labels: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "pop", **labels},
        },
        "spec": {"containers": [{"name": "main", "image": "pop-handlers:latest"}]},
    }
    kube_api.seed_pod(manifest, status=status)


def finished(
    minutes_ago: float, *, seconds: float = 0.0, phase: str = "Succeeded"
) -> dict[str, Any]:
    end = now() - timedelta(minutes=minutes_ago, seconds=seconds)
    return {
        "phase": phase,
        "startTime": stamp(end - timedelta(minutes=1)),
        "containerStatuses": [
            {
                "name": "main",
                "state": {"terminated": {"exitCode": 0, "finishedAt": stamp(end)}},
            }
        ],
    }


def started_only(minutes_ago: float) -> dict[str, Any]:
    """An abnormal end: no container statuses, only the pod's start time (POP §8)."""
    return {"phase": "Failed", "startTime": stamp(now() - timedelta(minutes=minutes_ago))}


def reap(run_pop: Any, kube_api: Any, *args: str) -> Any:
    return run_pop("reap", "pods", "--json", *args, env={"KUBECONFIG": str(kube_api.kubeconfig)})


def test_pops_age_vectors(run_pop: Any, kube_api: Any) -> None:
    seed(kube_api, "finished-now", finished(0))
    seed(kube_api, "at-the-bound", finished(240))
    seed(kube_api, "past-the-bound", finished(240, seconds=1))
    seed(kube_api, "230-minutes", finished(230))
    seed(kube_api, "starts-in-10", started_only(-10))
    seed(kube_api, "started-now", started_only(0))
    seed(kube_api, "started-239", started_only(239))
    seed(kube_api, "started-250", started_only(250))

    done = reap(run_pop, kube_api, "--older-than", AGE)

    assert done.returncode == 0, done.stderr
    actions = {item["name"]: item["action"] for item in json.loads(done.stdout)}
    assert actions == {
        "finished-now": "kept",
        "at-the-bound": "removed",
        "past-the-bound": "removed",
        "230-minutes": "kept",
        "starts-in-10": "kept",
        "started-now": "kept",
        "started-239": "kept",
        "started-250": "removed",
    }
    left = {pod["metadata"]["name"] for pod in kube_api.store.items("pods", kube_api.namespace)}
    assert left == {"finished-now", "230-minutes", "starts-in-10", "started-now", "started-239"}


def test_dry_run_deletes_nothing(run_pop: Any, kube_api: Any) -> None:
    seed(kube_api, "old", finished(600))

    done = reap(run_pop, kube_api, "--older-than", AGE, "--dry-run")

    assert done.returncode == 0, done.stderr
    assert [item["action"] for item in json.loads(done.stdout)] == ["would remove"]
    assert len(kube_api.store.items("pods", kube_api.namespace)) == 1


@pytest.mark.parametrize(
    ("pods", "batch", "batches"), [(1, 10, 1), (10, 10, 1), (11, 10, 2), (31, 7, 5)]
)
def test_deletes_go_in_batches(
    run_pop: Any, kube_api: Any, pods: int, batch: int, batches: int
) -> None:
    for number in range(pods):
        seed(kube_api, f"old-{number}", finished(600))

    done = run_pop(
        "reap", "pods", "--older-than", "0s", "--batch-size", str(batch),
        env={"KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = f"deleted {pods} pod{'' if pods == 1 else 's'}, kept 0 (cutoff 0s, {batches} batches)"
    assert done.stdout.splitlines()[-1] == summary
    assert kube_api.count(verb="delete", resource="pods") == pods
    assert kube_api.store.items("pods", kube_api.namespace) == []


def test_the_summary_counts_batches_and_a_failing_batch_does_not_stop_the_next(
    run_pop: Any, kube_api: Any
) -> None:
    for number in range(20):
        seed(kube_api, f"old-{number}", finished(600))
    kube_api.forbid("delete", "pods", by_policy=True)  # RBAC grants it: the check passes

    done = run_pop(
        "reap", "pods", "--older-than", "0s", "--batch-size", "8",
        env={"KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "deleted 0 pods, kept 20 (cutoff 0s, 3 batches)"
    assert all("cannot remove" in line for line in lines[:-1])
    assert kube_api.count(verb="delete", resource="pods") == 20  # every batch was tried


def test_past_the_max_runtime_one_batch_runs(run_pop: Any, kube_api: Any) -> None:
    for number in range(50):
        seed(kube_api, f"old-{number}", finished(600))

    done = run_pop(
        "reap", "pods", "--older-than", "0s", "--batch-size", "10", "--max-runtime", "0s",
        env={"KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "deleted 10 pods, kept 40 (cutoff 0s, 1 batches)"
    assert len(kube_api.store.items("pods", kube_api.namespace)) == 40


def test_pods_without_pops_label_and_running_ones_are_left_alone(
    run_pop: Any, kube_api: Any
) -> None:
    seed(kube_api, "running", {"phase": "Running", "startTime": stamp(now() - timedelta(days=2))})
    kube_api.seed_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "someone-elses"},
            "spec": {"containers": [{"name": "c", "image": "x"}]},
        },
        status=finished(600),
    )

    done = reap(run_pop, kube_api, "--older-than", "0s")

    assert done.returncode == 0, done.stderr
    assert [(item["name"], item["action"]) for item in json.loads(done.stdout)] == [
        ("running", "kept")
    ]
    assert len(kube_api.store.items("pods", kube_api.namespace)) == 2


def running(minutes_ago: float) -> dict[str, Any]:
    return {"phase": "Running", "startTime": stamp(now() - timedelta(minutes=minutes_ago))}


def seed_orphans(run_pop: Any, kube_api: Any) -> str:
    """A finished agenda in the store (run locally), then running pods: one of its ended
    attempts (an orphan), one of an agenda this store does not know, one without agenda."""
    ran = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json")
    assert ran.returncode == 0, ran.stderr
    agenda_id = json.loads(ran.stdout)["agendaId"]
    ours = {"pop.agendaId": agenda_id, "pop.operation": "shout", "pop.attempt": "1"}
    seed(kube_api, "orphan", running(1), **ours)
    seed(kube_api, "foreign", running(1), **{**ours, "pop.agendaId": "another-store"})
    seed(kube_api, "anonymous", running(1))
    return agenda_id


def test_orphans_are_deleted_only_with_orphans(run_pop: Any, kube_api: Any) -> None:
    seed_orphans(run_pop, kube_api)

    plain = reap(run_pop, kube_api, "--older-than", "0s")
    with_orphans = reap(run_pop, kube_api, "--older-than", "0s", "--orphans")

    assert plain.returncode == 0, plain.stderr
    kept = {item["name"]: (item["action"], item["reason"]) for item in json.loads(plain.stdout)}
    assert kept == dict.fromkeys(("orphan", "foreign", "anonymous"), ("kept", "running"))
    assert with_orphans.returncode == 0, with_orphans.stderr
    found = {item["name"]: item for item in json.loads(with_orphans.stdout)}
    assert found["orphan"]["action"] == "removed"
    assert found["orphan"]["orphan"] == "its attempt ended (succeeded)"
    assert (found["foreign"]["action"], found["anonymous"]["action"]) == ("kept", "kept")
    names = {pod["metadata"]["name"] for pod in kube_api.store.items("pods", kube_api.namespace)}
    assert names == {"foreign", "anonymous"}


def test_the_executors_services_delete_orphans_and_say_so(run_pop: Any, kube_api: Any) -> None:
    agenda_id = seed_orphans(run_pop, kube_api)

    ran = run_pop(
        "executor", "--launch", "kubernetes", "--once",
        env={"KUBECONFIG": str(kube_api.kubeconfig)},
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    assert f"reaped    {agenda_id}  kubernetes orphan: removed (orphan: its attempt ended" in (
        ran.stderr
    )
    assert "reaped 1 orphan" in ran.stdout
    names = {pod["metadata"]["name"] for pod in kube_api.store.items("pods", kube_api.namespace)}
    assert names == {"foreign", "anonymous"}
