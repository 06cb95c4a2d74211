"""Fixtures for the Kubernetes API test server and the kubelet simulator (DESIGN §13):
``kube_api``, ``kubelet``, ``docker_kubelet``, ``core_v1``. ``tests/kube/conftest.py`` imports them;
another test folder's conftest does the same (``from tests.kube.fixtures import kube_api, ...``).

    def test_something(kube_api, kubelet, core_v1):
        core_v1.create_namespaced_pod(kube_api.namespace, manifest)
        kube_api.wait_for_pod("name", lambda pod: pod and pod["status"]["phase"] == "Succeeded")

Module-scoped fixtures elsewhere call the plain helpers instead (``start_api_server``,
``start_kubelet``, ``api_client_for``).
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
        assert not server.threads_alive(), server.threads_alive()


@pytest.fixture
def kubelet(kube_api: KubeApiServer, tmp_path: Path) -> Iterator[KubeletSimulator]:
    """A kubelet simulator running the pods of ``kube_api``; stopped (processes killed) after."""
    simulator = start_kubelet(kube_api, tmp_path / "kubelet")
    try:
        yield simulator
    finally:
        simulator.stop()
        assert not simulator.leftovers(), simulator.leftovers()


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
