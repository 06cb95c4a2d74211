"""The pod of a launch (issue 12, item 2): built from the LaunchSpec and the layered registry
entry alone, valid against the official Kubernetes schema, POP's pod in every field it sets."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from pop.errors import LaunchError
from pop.runtimes.base import LaunchSpec, Mount
from pop.runtimes.kubernetes.podspec import build_pod, quantity_cpu

WORK_ROOT = "/pop/work"
CLAIM = {"persistentVolumeClaim": {"claimName": "pop-work"}}


def spec(**changes: Any) -> LaunchSpec:
    fields: dict[str, Any] = {
        "name": "pop-1a2b3c4d-transcode-1",
        "command": ["python3", "-m", "pop.handlers", "pop.handlers.sample:run"],
        "args": ["--launchType", "kubernetes"],
        "image": "pop-handlers:0.1.0",
        "env": {"PAYLOAD": "{}", "AGENDA_ID": "7f1c"},
        "cwd": f"{WORK_ROOT}/7f1c/transcode/1",
        "cpus": 1.5,
        "cpu_limit": 2.0,
        "memory": "512Mi",
        "mounts": (Mount(f"{WORK_ROOT}/7f1c", f"{WORK_ROOT}/7f1c"),),
        "labels": {"pop.agendaId": "7f1c", "pop.operation": "Trans Code/1", "pop.attempt": "1"},
        "timeout_seconds": 600.0,
        "options": {"workVolume": CLAIM},
    }
    fields.update(changes)
    return LaunchSpec(**fields)


def pod_of(launch: LaunchSpec, **kwargs: Any) -> dict[str, Any]:
    return build_pod(launch, namespace="media", launcher_id="exec-1", work_root=WORK_ROOT, **kwargs)


@pytest.mark.parametrize("version", ["1.28.0", kubernetes_validate.latest_version()])
def test_the_pod_is_valid_against_the_kubernetes_schema(version: str) -> None:
    options = {
        "workVolume": CLAIM,
        "namePrefix": "pop-samp-",
        "envVars": {"A": "1"},
        "pullAlways": True,
        "dockerPrivileged": True,
        "defaultEmptyDirLogging": True,
        "useTaintedNodes": True,
        "taintedNodeSelector": "media",
        "taintedNodeToleration": "media",
        "configMapName": "pop-config",
        "nfsSettings": [
            {"nfsServer": "nfs.local", "nfsServerPath": "/export", "nfsMountPaths": ["/mnt/a"]}
        ],
        "imagePullSecrets": ["regcred"],
        "gpus": 1,
    }
    kubernetes_validate.validate(pod_of(spec(options=options)), version, strict=True)


def test_the_container_is_what_the_spec_says() -> None:
    pod = pod_of(spec())
    (container,) = pod["spec"]["containers"]
    assert pod["metadata"]["name"] == "pop-1a2b3c4d-transcode-1"
    assert pod["metadata"]["namespace"] == "media"
    assert container["command"] == ["python3", "-m", "pop.handlers", "pop.handlers.sample:run"]
    assert container["args"] == ["--launchType", "kubernetes"]
    assert container["workingDir"] == f"{WORK_ROOT}/7f1c/transcode/1"
    assert container["resources"] == {
        "requests": {"cpu": "1500m", "memory": "512Mi"},
        "limits": {"cpu": "2"},
    }
    assert container["imagePullPolicy"] == "IfNotPresent"
    env = {item["name"]: item for item in container["env"]}
    assert env["PAYLOAD"]["value"] == "{}"
    assert env["MY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == 660
    assert pod["spec"]["serviceAccountName"] == "pop-service"


def test_labels_are_made_valid_and_their_exact_values_kept_in_annotations() -> None:
    pod = pod_of(spec())
    labels, annotations = pod["metadata"]["labels"], pod["metadata"]["annotations"]
    assert labels["pop.agendaId"] == "7f1c" and "pop.agendaId" not in annotations
    assert labels["pop.operation"] != "Trans Code/1"
    assert annotations["pop.operation"] == "Trans Code/1"
    assert labels["app"] == "pop" and labels["pop.launcher"] == "exec-1"


def test_the_work_volume_is_mounted_at_each_mount_with_a_sub_path() -> None:
    pod = pod_of(spec())
    assert {"name": "pop-work", **CLAIM} in pod["spec"]["volumes"]
    (mount,) = pod["spec"]["containers"][0]["volumeMounts"]
    assert mount == {
        "name": "pop-work",
        "mountPath": f"{WORK_ROOT}/7f1c",
        "subPath": "7f1c",
        "readOnly": False,
    }


def test_without_a_work_volume_the_launch_fails_permanently_naming_it() -> None:
    with pytest.raises(LaunchError) as raised:
        pod_of(spec(options={}))
    assert raised.value.permanent and "workVolume" in raised.value.message


def test_a_mount_outside_the_work_root_fails_permanently() -> None:
    with pytest.raises(LaunchError, match="outside the work root") as raised:
        pod_of(spec(mounts=(Mount("/home/me/clips", "/home/me/clips", read_only=True),)))
    assert raised.value.permanent


def test_registry_fields_shape_the_pod() -> None:
    options = {
        "workVolume": CLAIM,
        "namePrefix": "pop-samp-",
        "pullAlways": True,
        "dockerPrivileged": True,
        "defaultEmptyDirLogging": True,
        "useTaintedNodes": True,
        "taintedNodeSelector": "gpu",
        "taintedNodeToleration": "gpu",
        "configMapName": "pop-config",
        "imagePullSecrets": ["regcred"],
        "gpus": 2,
    }
    pod = pod_of(spec(options=options))
    container = pod["spec"]["containers"][0]
    assert pod["metadata"]["name"] == "pop-samp-1a2b3c4d-transcode-1"
    assert pod["metadata"]["labels"]["app"] == "pop-samp"
    assert container["imagePullPolicy"] == "Always"
    assert container["securityContext"] == {"privileged": True}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
    ]
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    assert volumes["log"] == {"name": "log", "emptyDir": {}}
    assert volumes["config-volume"]["configMap"]["name"] == "pop-config"


def test_no_image_and_an_oversized_pod_are_permanent_launch_errors() -> None:
    with pytest.raises(LaunchError, match="names no image") as raised:
        pod_of(spec(image=None))
    assert raised.value.permanent
    huge = {"PAYLOAD": json.dumps({"x": "y" * (1024 * 1024)})}
    with pytest.raises(LaunchError, match="over the API's") as raised:
        pod_of(spec(env=huge))
    assert raised.value.permanent


@pytest.mark.parametrize(("cpus", "text"), [(1.0, "1"), (2.0, "2"), (0.5, "500m"), (1.25, "1250m")])
def test_cpu_quantities(cpus: float, text: str) -> None:
    assert quantity_cpu(cpus) == text
