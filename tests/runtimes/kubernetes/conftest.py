"""The simulated cluster (tests/kube) for the kubernetes runtime's tests: never a cluster run."""

from tests.kube.fixtures import core_v1, docker_kubelet, kube_api, kubelet  # noqa: F401
