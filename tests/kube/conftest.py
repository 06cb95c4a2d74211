"""The fixtures of tests/kube/fixtures.py for the tests of this folder."""

from tests.kube.fixtures import core_v1, docker_kubelet, kube_api, kubelet

__all__ = ["core_v1", "docker_kubelet", "kube_api", "kubelet"]
