"""Agendas through the real CLI on the simulated cluster (issue 12's acceptance, first part):
the Kubernetes API test server and the kubelet simulator of ``tests/kube``, never a real
cluster. ``run-local examples/hello.json --launch kubernetes`` equals ``--launch local``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate

from tests.conftest import comparable
from tests.runtimes.kubernetes.conftest import mapped_work

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_hello_on_the_simulated_cluster_equals_local(
    run_pop: Any, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    mapped_work(pop_home, kubelet)
    registry = tmp_path / "registry.yaml"
    registry.write_text("workVolume:\n  persistentVolumeClaim: {claimName: pop-work}\n")
    cluster = {"KUBECONFIG": str(kube_api.kubeconfig)}

    local = run_pop("run-local", str(EXAMPLES / "hello.json"), "--json")
    on_cluster = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "kubernetes",
        "--registry", str(registry), "--json", env=cluster, timeout=120,
    )  # fmt: skip

    assert local.returncode == 0, local.stderr
    assert on_cluster.returncode == 0, on_cluster.stderr
    progress = json.loads(on_cluster.stdout)
    assert comparable(progress) == comparable(json.loads(local.stdout))
    # one pod per launched `sample` op (`note` runs resident), none left without --keep
    assert kube_api.count(verb="create", resource="pods") == 4
    assert kube_api.store.items("pods", kube_api.namespace) == []


def test_every_pod_the_server_saw_is_schema_valid(
    run_pop: Any, pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any
) -> None:
    mapped_work(pop_home, kubelet)
    registry = tmp_path / "registry.yaml"
    registry.write_text("workVolume:\n  persistentVolumeClaim: {claimName: pop-work}\n")

    ran = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "kubernetes", "--keep",
        "--registry", str(registry), "--json", env={"KUBECONFIG": str(kube_api.kubeconfig)},
        timeout=120,
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    pods = kube_api.store.items("pods", kube_api.namespace)
    assert sorted(pod["metadata"]["labels"]["pop.operation"] for pod in pods) == [
        "combine",
        "prepare",
        "shout",
        "whisper",
    ]
    for pod in pods:
        manifest = {key: pod[key] for key in ("apiVersion", "kind", "metadata", "spec")}
        manifest["metadata"] = {
            key: value
            for key, value in pod["metadata"].items()
            if key in ("name", "namespace", "labels", "annotations")
        }
        kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "pop" and labels["pop.attempt"] == "1"
        (container,) = pod["spec"]["containers"]
        env = {item["name"] for item in container["env"]}
        assert {"PAYLOAD", "AGENDA_ID", "MY_POD_NAME", "POD_NAMESPACE"} <= env
        assert container["resources"]["requests"]["cpu"] == "1"
        assert any(volume["name"] == "pop-work" for volume in pod["spec"]["volumes"])
