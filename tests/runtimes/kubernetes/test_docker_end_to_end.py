"""End to end on the simulated cluster with real containers (issue 12, item 9): ``pop run-local
examples/hello.json --launch kubernetes`` against the Kubernetes API test server, whose kubelet
simulator runs each pod's container from the ``pop-handlers`` image on the real test Docker
engine (host network, the work volume bind-mounted, the pod's own kubeconfig so handlers patch
their pods). Never a cluster run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import comparable
from tests.runtimes.kubernetes.conftest import mapped_work

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_hello_in_pop_handlers_containers_equals_local(
    run_pop: Any,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
    docker_kubelet: Any,
    handlers_image: str,
) -> None:
    mapped_work(pop_home, docker_kubelet)
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        f"basePodConfig: {{image: {handlers_image}}}\n"
        "workVolume:\n  persistentVolumeClaim: {claimName: pop-work}\n"
    )

    local = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json")
    on_cluster = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "kubernetes", "--keep",
        "--registry", str(registry), "--json",
        env={"KUBECONFIG": str(kube_api.kubeconfig)}, timeout=240,
    )  # fmt: skip

    assert local.returncode == 0, local.stderr
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert comparable(json.loads(on_cluster.stdout)) == comparable(json.loads(local.stdout))
    pods = kube_api.store.items("pods", kube_api.namespace)
    assert len(pods) == 4
    for pod in pods:
        (status,) = pod["status"]["containerStatuses"]
        assert status["containerID"].startswith("docker://")  # a real container ran it
        assert status["image"] == handlers_image
        # the handler reported through its own pod: its final report is in the annotations
        assert "pop.report.progress" in pod["metadata"].get("annotations", {}), pod["metadata"]
