"""Fixtures for the Kubernetes API test server and the kubelet simulator (DESIGN §13).

    def test_something(kube_api, kubelet, core_v1):
        core_v1.create_namespaced_pod(kube_api.namespace, manifest)
        kube_api.wait_for_pod("name", lambda pod: pod and pod["status"]["phase"] == "Succeeded")

Other test folders call the plain helpers instead (``start_api_server``, ``start_kubelet``,
``core_v1_for``) or import these fixtures into their conftest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.kube.kubelet import KubeletSimulator, start_kubelet
from tests.kube.runners import DockerRunner
from tests.kube.server import KubeApiServer, api_client_for, start_api_server


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeApiServer]:
    """A running API test server (namespace ``pop``); kubeconfig at ``kube_api.kubeconfig``."""
    server = start_api_server(tmp_path / "kube-api")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubelet(kube_api: KubeApiServer, tmp_path: Path) -> Iterator[KubeletSimulator]:
    """A kubelet simulator running the pods of ``kube_api``; stopped (processes killed) after."""
    simulator = start_kubelet(kube_api, tmp_path / "kubelet")
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def core_v1(kube_api: KubeApiServer) -> Iterator[client.CoreV1Api]:
    """The official client's CoreV1Api configured from ``kube_api.kubeconfig``."""
    api_client = api_client_for(kube_api)
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def docker_kubelet(
    kube_api: KubeApiServer, tmp_path: Path, docker_engine: Any
) -> Iterator[KubeletSimulator]:
    """A kubelet simulator running each pod's container on the test Docker engine (host
    network, volumes bind-mounted, the pod kubeconfig at /var/run/pop-kube/kubeconfig)."""
    docker_client = docker_engine.client()
    simulator = start_kubelet(
        kube_api,
        tmp_path / "kubelet",
        runner=DockerRunner(docker_client, labels=docker_engine.labels),
    )
    try:
        yield simulator
    finally:
        simulator.stop()
        docker_client.close()
