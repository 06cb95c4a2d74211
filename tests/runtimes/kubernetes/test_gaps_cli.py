"""The kubernetes runtime through the real CLI, details issue 12's audit found untested (items 1,
6 and the acceptance), on the simulated cluster of ``tests/kube`` (never a cluster run):

- a mistyped ``--kubeconfig`` or ``--context`` on ``pop batch`` and ``pop reap pods`` exits 2
  with the store unchanged (and nothing asked of the cluster);
- ``pop reclaim --context nope`` exits 2 with the store unchanged; ``pop reclaim`` then deletes a
  dead executor's pod in the namespace its launch record names (``media``), not the namespace of
  the reclaim's own settings;
- a container that exits 3 without a report fails its op with the exit code and its last 10
  lines, as on ``--launch local``.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import store_snapshot, wait_for
from tests.runtimes.kubernetes.conftest import mapped_work
from tests.runtimes.kubernetes.test_reap_pods import finished, seed
from tests.runtimes.kubernetes.test_reclaim_cli import attempts, submit_sleeper

MISTYPED = [
    (["--kubeconfig", "/nope"], "error: --kubeconfig /nope: no such file"),
    (["--context", "nope"], "has no context 'nope'"),
]
WORK_VOLUME = "workVolume:\n  persistentVolumeClaim: {claimName: pop-work}\n"


def template_file(folder: Path) -> Path:
    template = folder / "template.json"
    template.write_text(
        json.dumps(
            {
                "id": "t",
                "agenda": {"operations": [{"name": "a", "type": "sample", "payload": {}}]},
            }
        ),
        encoding="utf-8",
    )
    return template


@pytest.mark.parametrize(("option", "message"), MISTYPED, ids=["kubeconfig", "context"])
@pytest.mark.parametrize("command", ["batch", "reap pods"])
def test_a_mistyped_kubernetes_option_exits_2_and_changes_nothing(
    command: str,
    option: list[str],
    message: str,
    run_pop: Any,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
) -> None:
    # a reachable cluster (KUBECONFIG) with a pod the reaper would delete, and a store that
    # exists: only the mistyped option stands between the command and a change
    seed(kube_api, "old", finished(600))
    run_pop("pool", "list")
    before = store_snapshot(pop_home)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not media, never read")
    argv = {
        "batch": ["batch", str(template_file(tmp_path)), str(clip), "--launch", "kubernetes"],
        "reap pods": ["reap", "pods", "--older-than", "0s", "--orphans"],
    }[command]
    kube_api.reset_requests()

    completed = run_pop(*argv, *option, env={"KUBECONFIG": str(kube_api.kubeconfig)})

    assert completed.returncode == 2, completed.stderr
    error = completed.stderr.splitlines()[0]
    assert error.startswith("error: ") and message in error, completed.stderr
    assert completed.stderr.count("error:") == 1
    assert store_snapshot(pop_home) == before
    assert kube_api.requests == []
    assert [pod["metadata"]["name"] for pod in kube_api.store.items("pods")] == ["old"]


def test_reclaim_refuses_a_mistyped_context_then_deletes_the_pod_in_its_records_namespace(
    run_pop: Any,
    start_pop: Any,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
    kubelet: Any,
) -> None:
    mapped_work(pop_home, kubelet)
    agenda_id, env = submit_sleeper(run_pop, tmp_path)
    # the namespace comes from the executor's environment, so the agenda's stored runtime
    # options do not name it: only the pod's launch record does
    executor = start_pop(
        "executor", "--launch", "kubernetes", "--no-services",
        env={**env, "KUBECONFIG": str(kube_api.kubeconfig), "POP_KUBE_NAMESPACE": "media"},
    )  # fmt: skip

    def running_in_media() -> list[dict[str, Any]]:
        return [
            pod
            for pod in kube_api.store.items("pods", "media")
            if (pod.get("status") or {}).get("phase") == "Running"
        ]

    (pod,) = wait_for(running_in_media, what="the op's pod running in namespace media")
    name = pod["metadata"]["name"]
    ((_, launched),) = wait_for(
        lambda: [row for row in attempts(pop_home, agenda_id) if row[1] is not None],
        what="the attempt row with its launch record",
    )
    assert launched["details"]["namespace"] == "media"
    executor.send_signal(signal.SIGKILL)
    executor.wait(timeout=30)
    time.sleep(2.5)  # its lease (2 s) lapses; the pod runs on without it

    before = store_snapshot(pop_home)
    kube = {**env, "KUBECONFIG": str(kube_api.kubeconfig)}
    typo = run_pop("reclaim", "--older-than", "0s", "--context", "nope", env=kube)
    assert typo.returncode == 2, typo.stderr
    assert typo.stderr.count("error:") == 1 and "has no context 'nope'" in typo.stderr
    assert store_snapshot(pop_home) == before
    assert running_in_media(), "a refused reclaim deleted the pod"

    # the reclaim's own namespace is `elsewhere`; the record's `media` comes first
    reclaimed = run_pop(
        "reclaim", "--older-than", "0s", "--namespace", "elsewhere", "--json", env=kube
    )

    assert reclaimed.returncode == 0, reclaimed.stderr
    (result,) = json.loads(reclaimed.stdout)
    assert result["action"] == "requeued", result
    assert result["stopped"] == [f"long attempt 1: kubernetes {name}"]
    deletes = [
        (request.namespace, request.name)
        for request in kube_api.requests
        if request.verb == "delete" and request.resource == "pods"
    ]
    assert deletes == [("media", name)]
    wait_for(lambda: not kube_api.store.items("pods"), what="the pod gone")
    assert [outcome for outcome, _ in attempts(pop_home, agenda_id)] == ["lost"]


NOISY = (
    "  noisy:\n"
    "    protocol: pop\n"
    '    command: [python3, -c, "import sys\\nfor n in range(1, 16): '
    "print(f'line {n}', flush=True)\\nsys.exit(3)\"]\n"
)


def test_a_container_exiting_3_without_a_report_fails_with_its_last_10_lines(
    run_pop: Any, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    mapped_work(pop_home, kubelet)
    registry = tmp_path / "registry.yaml"
    registry.write_text(WORK_VOLUME + "handlers:\n" + NOISY)
    agenda = tmp_path / "agenda.json"
    agenda.write_text(json.dumps({"operations": [{"name": "loud", "type": "noisy"}]}))
    runs = {}
    for launch in ("local", "kubernetes"):
        ran = run_pop(
            "run-local", str(agenda), "--launch", launch, "--registry", str(registry), "--json",
            env={"KUBECONFIG": str(kube_api.kubeconfig)}, timeout=120,
        )  # fmt: skip
        assert ran.returncode == 1, ran.stderr
        runs[launch] = json.loads(ran.stdout)

    progress = runs["kubernetes"]
    (operation,) = progress["operationProgress"]
    assert (operation["processingState"], operation["processingStateMessage"]) == (
        "COMPLETE",
        "failed",
    )
    (diagnostic,) = operation["diagnosticEvents"]
    assert diagnostic["message"] == "handler exited with code 3 without reporting completion"
    assert diagnostic["payload"] == [f"line {n}" for n in range(6, 16)]
    assert progress["diagnosticEvents"][0]["message"] == (
        "operation 'loud' failed: handler exited with code 3 without reporting completion: line 15"
    )
    # the same diagnostic as the op run as a local process
    (local,) = runs["local"]["operationProgress"]
    assert [(event["message"], event["payload"]) for event in local["diagnosticEvents"]] == [
        (diagnostic["message"], diagnostic["payload"])
    ]
    assert kube_api.count(verb="create", resource="pods") == 1
    assert kube_api.store.items("pods") == []  # deleted after the outcome was recorded
