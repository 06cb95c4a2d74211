"""The pod of one launch, built from its :class:`LaunchSpec` alone (issue 12, item 2).

Layer: runtimes (kubernetes implementation detail; a pure function, no client import). The
layered registry entry travels as ``spec.options`` and is read typed through
:meth:`pop.registry.PodConfig.from_fields`; everything else (argv, environment, resources,
mounts, labels, timeout) comes from the spec the engine built, so the same spec means the same
pod whoever builds it. The result is the pod as the API takes it (a JSON-ready dict), following
POP's pod (POP-REFERENCE §6.4):

- name ``spec.name`` (``namePrefix`` replaces its ``pop-``); labels made valid (the exact values
  in annotations of the same keys), ``app=<namePrefix|pop>``, ``pop.launcher=<launcher id>``,
  ``app.kubernetes.io/managed-by=pop``;
- one container: image, ``command``/``args``, env plus ``MY_POD_NAME`` and ``POD_NAMESPACE``
  (downward API), ``secretKeyRef`` env and ``envFrom``, ``workingDir``, requests (CPU, memory),
  limits (CPU, ``nvidia.com/gpu``), ``imagePullPolicy`` Always iff ``pullAlways`` (else
  IfNotPresent), privileged iff ``dockerPrivileged``;
- volumes: each named ``configMapSettings`` element, each NFS mount path, ``emptyDir`` ``log`` at
  ``/app/dumps`` iff ``defaultEmptyDirLogging``, and the registry's ``workVolume`` at each
  ``spec.mounts`` target with a ``subPath`` relative to ``work_root``;
- ``serviceAccountName``, ``imagePullSecrets``, tainted-node affinity and toleration,
  ``restartPolicy: Never``, ``activeDeadlineSeconds`` = the timeout + 60 s (the cluster stops a
  pod its executor can no longer stop).

A spec that cannot become a pod (no image, a mount outside the work root or no ``workVolume``, a
pod over 1 MiB) is a permanent LaunchError: the same spec fails the same way every time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from pop.errors import LaunchError
from pop.registry import PodConfig
from pop.runtimes.base import LaunchSpec
from pop.runtimes.kubernetes.names import label_value
from pop.runtimes.names import dns_label

MAX_POD_BYTES = 1024 * 1024  # the API server refuses larger objects (etcd's request limit)
DEADLINE_MARGIN_SECONDS = 60
WORK_VOLUME = "pop-work"
LAUNCHER_LABEL = "pop.launcher"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"


def build_pod(
    spec: LaunchSpec,
    *,
    namespace: str,
    launcher_id: str,
    work_root: str | None,
    config: PodConfig | None = None,
) -> dict[str, Any]:
    """The pod for ``spec`` in ``namespace`` (see the module docstring); ``config`` is the
    entry read from ``spec.options`` when the caller has it already."""
    config = config or PodConfig.from_fields(spec.options)
    image = spec.image or config.image
    if not image:
        raise LaunchError(
            f"cannot launch {spec.name!r}: its registry entry names no image (set image, or "
            "basePodConfig.image)",
            permanent=True,
        )
    name = pod_name(spec.name, config.name_prefix)
    labels, annotations = _labels(spec, config, launcher_id)
    volumes, mounts = _volumes(spec, config, work_root)
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "env": _env(spec, config),
        "resources": _resources(spec, config),
        "imagePullPolicy": "Always" if config.pull_always else "IfNotPresent",
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    if spec.cwd:
        container["workingDir"] = spec.cwd
    if config.env_from:
        container["envFrom"] = [
            {
                **({"prefix": source.prefix} if source.prefix else {}),
                source.kind: {"name": source.name, "optional": source.optional},
            }
            for source in config.env_from
        ]
    if mounts:
        container["volumeMounts"] = mounts
    if config.docker_privileged:
        container["securityContext"] = {"privileged": True}
    pod_spec: dict[str, Any] = {"containers": [container], "restartPolicy": "Never"}
    if volumes:
        pod_spec["volumes"] = volumes
    if config.service_account_name:
        pod_spec["serviceAccountName"] = config.service_account_name
    if config.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in config.image_pull_secrets]
    if spec.timeout_seconds is not None:
        pod_spec["activeDeadlineSeconds"] = (
            math.ceil(spec.timeout_seconds) + DEADLINE_MARGIN_SECONDS
        )
    tainted = config.tainted_nodes
    if tainted is not None:
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 40,
                        "preference": {
                            "matchExpressions": [
                                {"key": "dedicated", "operator": "In", "values": [tainted.selector]}
                            ]
                        },
                    }
                ]
            }
        }
        pod_spec["tolerations"] = [
            {
                "key": "dedicated",
                "operator": "Equal",
                "value": tainted.toleration,
                "effect": "NoSchedule",
            }
        ]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
    size = len(json.dumps(pod, separators=(",", ":")).encode("utf-8"))
    if size > MAX_POD_BYTES:
        raise LaunchError(
            f"cannot launch {spec.name!r}: its pod would be {size:,} bytes, over the API's "
            f"{MAX_POD_BYTES:,} (a payload that large belongs in a file on the work volume)",
            permanent=True,
        )
    return pod


def pod_name(name: str, prefix: str | None) -> str:
    """``name`` with ``prefix`` in place of its ``pop-`` (POP's ``namePrefix``), a DNS label."""
    if prefix and name.startswith("pop-"):
        return dns_label(prefix + name[len("pop-") :])
    return name


def quantity_cpu(cpus: float) -> str:
    """CPUs as a Kubernetes quantity: whole CPUs as ``2``, others in millicores (``500m``)."""
    millis = round(cpus * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _labels(
    spec: LaunchSpec, config: PodConfig, launcher_id: str
) -> tuple[dict[str, str], dict[str, str]]:
    wanted = {
        **{str(key): str(value) for key, value in config.labels.items()},
        **{str(key): str(value) for key, value in spec.labels.items()},
        "app": config.name_prefix.rstrip("-") if config.name_prefix else "pop",
        MANAGED_BY_LABEL: "pop",  # every pod pop makes is pop's (the reaper selects on it)
        LAUNCHER_LABEL: launcher_id,
    }
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    for key, value in wanted.items():
        labels[key] = label_value(value)
        if labels[key] != value:
            annotations[key] = value  # the exact value, for people and for pop
    return labels, annotations


def _env(spec: LaunchSpec, config: PodConfig) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in spec.env.items()]
    for key, ref in config.secret_env_vars.items():
        secret = {"name": ref.name, "key": ref.key, "optional": ref.optional}
        env.append({"name": key, "valueFrom": {"secretKeyRef": secret}})
    env.append({"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    env.append(
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
    )
    return env


def _resources(spec: LaunchSpec, config: PodConfig) -> dict[str, Any]:
    requests: dict[str, str] = {"cpu": quantity_cpu(spec.cpus)}
    memory = spec.memory or config.memory_request_count
    if memory:
        requests["memory"] = str(memory)
    limits: dict[str, str] = {}
    cpu_limit = spec.cpu_limit if spec.cpu_limit is not None else config.cpu_max_request_count
    if cpu_limit is not None:
        limits["cpu"] = quantity_cpu(max(cpu_limit, spec.cpus))
    gpus = config.gpus
    if isinstance(gpus, int) and gpus > 0:
        limits["nvidia.com/gpu"] = str(gpus)
    elif gpus == "all" or (isinstance(gpus, tuple) and gpus):
        raise LaunchError(
            f"cannot launch {spec.name!r}: gpus must be a count of GPUs on kubernetes "
            f"(nvidia.com/gpu), not {gpus!r}",
            permanent=True,
        )
    return {"requests": requests, "limits": limits} if limits else {"requests": requests}


def _volumes(
    spec: LaunchSpec, config: PodConfig, work_root: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for position, setting in enumerate(config.config_map_settings):
        # POP writes the entry's configMapName into the first element
        map_name = setting.config_map_name or (config.config_map_name if position == 0 else None)
        if not (map_name and setting.volume_name and setting.volume_mount_path):
            continue  # POP's core default names no config map until an entry does
        source: dict[str, Any] = {"name": map_name}
        if setting.map_key_paths:
            source["items"] = [
                {"key": item.key, "path": item.path or item.key} for item in setting.map_key_paths
            ]
        volumes.append({"name": setting.volume_name, "configMap": source})
        mounts.append({"name": setting.volume_name, "mountPath": setting.volume_mount_path})
    for number, nfs in enumerate(config.nfs_settings):
        for index, path in enumerate(nfs.nfs_mount_paths):
            volume = f"nfs-{number}-{index}"
            server = {"server": nfs.nfs_server, "path": nfs.nfs_server_path}
            volumes.append({"name": volume, "nfs": {**server, "readOnly": nfs.nfs_read_only}})
            mounts.append({"name": volume, "mountPath": path, "readOnly": nfs.nfs_read_only})
    if config.default_empty_dir_logging:
        volumes.append({"name": "log", "emptyDir": {}})
        mounts.append({"name": "log", "mountPath": "/app/dumps"})
    if spec.mounts:
        volumes.append({"name": WORK_VOLUME, **_work_volume(spec, config)})
        for mount in spec.mounts:
            mounts.append(
                {
                    "name": WORK_VOLUME,
                    "mountPath": mount.target,
                    "subPath": _sub_path(spec, mount.source, work_root),
                    "readOnly": mount.read_only,
                }
            )
    return volumes, mounts


def _work_volume(spec: LaunchSpec, config: PodConfig) -> Mapping[str, Any]:
    if not config.work_volume:
        raise LaunchError(
            f"cannot launch {spec.name!r}: a pod sees the work directory only through the "
            "registry's workVolume (a PersistentVolumeClaim or NFS volume holding "
            "$POP_HOME/work), and the registry sets none",
            hint="add `workVolume: {persistentVolumeClaim: {claimName: pop-work}}` to the "
            "registry (docs/kubernetes.md)",
            permanent=True,
        )
    return config.work_volume


def _sub_path(spec: LaunchSpec, source: str, work_root: str | None) -> str:
    path, root = PurePosixPath(source), PurePosixPath(work_root) if work_root else None
    if root is None or (path != root and root not in path.parents):
        raise LaunchError(
            f"cannot launch {spec.name!r}: {source} is outside the work root {work_root} that "
            "the workVolume holds, so a pod cannot see it",
            permanent=True,
        )
    return str(path.relative_to(root))
