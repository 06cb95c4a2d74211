from tests.kube.fixtures import core_v1, kube_api, kubelet  # noqa: F401
