"""The simulated cluster (tests/kube) for the kubernetes runtime's tests: never a cluster run."""

from pathlib import Path
from typing import Any

from tests.kube.fixtures import core_v1, docker_kubelet, kube_api, kubelet  # noqa: F401


def mapped_work(pop_home: Path, simulator: Any) -> Path:
    """``POP_HOME/work`` made, and mounted by the kubelet ``simulator`` wherever a pod asks for the
    ``pop-work`` claim (the registry's ``workVolume``)."""
    work = pop_home / "work"
    work.mkdir(parents=True)
    simulator.map_volume("persistentVolumeClaim", "pop-work", work)
    return work
