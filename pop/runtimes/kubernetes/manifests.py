"""The objects that prepare a cluster for pop (``pop k8s manifests``), as plain dicts.

Layer: runtimes. Pure functions: no ``kubernetes`` import, no cluster. :func:`build_manifests`
returns a :class:`ManifestSet` (the objects, each with the comment printed above it);
``to_yaml()`` is the multi-document stream committed under ``deploy/kubernetes/``, ``objects()``
the list ``--json`` prints. Called by :class:`pop.api.k8s.K8sMixin`.

What they hold: the Namespace; ServiceAccount ``pop-service`` with a Role (pods
create/get/list/watch/delete/patch, pods/log get, configmaps get) and its RoleBinding; the
registry ConfigMap; the ``pop-work`` PVC (ReadWriteMany); the pod reaper CronJob; with
``executor``: the ``pop-store`` PVC (ReadWriteOnce) and a one-replica Deployment running
``pop executor --launch kubernetes``, its liveness probe ``pop alive`` (POP's alive check).
Every object is labelled ``app.kubernetes.io/managed-by=pop`` and ``app.kubernetes.io/name=pop``.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

from pop.errors import InputError
from pop.runtimes.kubernetes.config import DEFAULT_NAMESPACE, NAMESPACE_ENV

__all__ = [
    "DEFAULT_NAMESPACE",
    "LABELS",
    "ROLE_RULES",
    "Manifest",
    "ManifestSet",
    "build_manifests",
    "check_image",
    "check_namespace",
    "default_image",
]

SERVICE_ACCOUNT = "pop-service"
ROLE = "pop-service"
REGISTRY_CONFIGMAP = "pop-registry"
REGISTRY_KEY = "registry.yaml"
REGISTRY_DIR = "/etc/pop"
WORK_CLAIM = "pop-work"
STORE_CLAIM = "pop-store"
EXECUTOR = "pop-executor"
REAPER = "pop-pod-reaper"
POP_HOME = "/var/lib/pop"
WORK_SIZE = "10Gi"
STORE_SIZE = "1Gi"
REAPER_SCHEDULE = "17 * * * *"
REAPER_AGE = "24h"
HANDLERS_REPOSITORY = "pop-handlers"
# POP's alive check: the executor touches this file after each answered ask for work (the
# container's own /tmp: a restarted container starts without it, "no ask yet", alive), and the
# liveness probe fails when that is older than POP's 30 s (monitor.alive.lastRequestMilliseconds)
ALIVE_FILE = "/tmp/pop-alive"
ALIVE_THRESHOLD = "30s"

LABELS = {"app.kubernetes.io/managed-by": "pop", "app.kubernetes.io/name": "pop"}

ROLE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "get", "list", "watch", "delete", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
]

_NAMESPACE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class Manifest:
    """One object and the comment printed above it in the YAML stream."""

    obj: dict[str, Any]
    comment: str = ""


@dataclass(frozen=True)
class ManifestSet:
    """The objects of one ``pop k8s manifests`` run, in the order they are applied."""

    manifests: tuple[Manifest, ...]
    header: str

    def objects(self) -> list[dict[str, Any]]:
        return [manifest.obj for manifest in self.manifests]

    def to_yaml(self) -> str:
        """A YAML multi-document stream: the header, then each object after ``---`` with its
        comment."""
        parts = [_comment_lines(self.header)]
        for manifest in self.manifests:
            body = yaml.dump(manifest.obj, Dumper=_Dumper, sort_keys=False, width=100)
            parts.append("---\n" + _comment_lines(manifest.comment) + body)
        return "".join(parts)

    def to_json(self) -> str:
        return json.dumps(self.objects(), indent=2) + "\n"


def default_image(version: str) -> str:
    """``pop-handlers:<version>``: the tag ``pop image build`` gives the image of this pop."""
    return f"{HANDLERS_REPOSITORY}:{version}"


def check_namespace(namespace: str) -> None:
    """InputError (exit 2) unless ``namespace`` is a valid namespace name (a DNS-1123 label)."""
    if len(namespace) > 63 or not _NAMESPACE_NAME.fullmatch(namespace):
        raise InputError(
            f"--namespace {namespace!r} is not a Kubernetes namespace name",
            hint="use at most 63 lower-case letters, digits and '-', starting and ending with "
            "a letter or digit, e.g. pop",
        )


def check_image(image: str) -> None:
    """InputError (exit 2) for an image a container spec cannot hold: empty or with spaces."""
    if not image or image != image.strip() or any(char.isspace() for char in image):
        raise InputError(
            f"--image {image!r} is not an image reference",
            hint="use [registry[:port]/]name[:tag], e.g. pop-handlers:0.1.0",
        )


def build_manifests(
    *,
    namespace: str,
    image: str,
    registry_text: str,
    executor: bool,
    version: str,
) -> ManifestSet:
    """Every object for ``namespace``; ``registry_text`` is the ConfigMap's ``registry.yaml``
    (what ``pop registry show`` prints); ``executor`` adds the store PVC and the Deployment."""
    check_namespace(namespace)
    check_image(image)
    manifests = [
        Manifest(
            _namespace(namespace),
            "The namespace pop's pods, its RBAC, registry and volumes live in.",
        ),
        Manifest(
            _object("v1", "ServiceAccount", SERVICE_ACCOUNT, namespace, "rbac"),
            "The identity of pop's executor and reaper, and the serviceAccountName of the "
            "registry's pods: they patch their own pod's annotations with progress reports.",
        ),
        Manifest(
            {
                **_object("rbac.authorization.k8s.io/v1", "Role", ROLE, namespace, "rbac"),
                "rules": ROLE_RULES,
            },
            "What pop needs and no more: start, follow, annotate and delete pods, read their "
            "logs, read its configmaps.",
        ),
        Manifest(_role_binding(namespace), ""),
        Manifest(
            _registry_configmap(namespace, registry_text),
            "The effective registry (`pop registry show`), mounted by the executor at "
            f"{REGISTRY_DIR}/{REGISTRY_KEY} (POP_REGISTRY).",
        ),
        Manifest(
            _claim(WORK_CLAIM, namespace, "work", "ReadWriteMany", WORK_SIZE),
            "The shared work directory: the executor sees it at $POP_HOME/work and every op's "
            "pod mounts it (the registry's workVolume: {persistentVolumeClaim: {claimName: "
            "pop-work}}). ReadWriteMany: pods on several nodes write to it at once, so it needs "
            "a class that provides it (NFS, EFS, CephFS, Filestore, Azure Files).",
        ),
        Manifest(
            _reaper_cronjob(namespace, image),
            "The pod reaper: deletes finished pods labelled app.kubernetes.io/managed-by=pop "
            f"that ended more than {REAPER_AGE} ago, every hour.\n"
            "It reaps by age only (orphans of agendas complete in the store need the store).",
        ),
    ]
    if executor:
        manifests += [
            Manifest(
                _claim(STORE_CLAIM, namespace, "store", "ReadWriteOnce", STORE_SIZE),
                "The executor's store ($POP_HOME: pop.db, logs). ReadWriteOnce on a block "
                "volume, never NFS/EFS: SQLite's WAL mode keeps its index in shared memory "
                "(pop.db-shm, mmap) and relies on POSIX locks, which network file systems do "
                "not provide reliably, so the store could be corrupted there.",
            ),
            Manifest(
                _executor_deployment(namespace, image),
                "The executor: claims queued agendas and runs each op as a pod. One replica, "
                "Recreate: the old pod is gone before the new one opens the ReadWriteOnce store.\n"
                "Liveness is POP's alive check: `pop alive` fails when the executor's last "
                f"answered ask for work (it touches POP_ALIVE_FILE) is older than "
                f"{ALIVE_THRESHOLD}.\n"
                "NOTE: the kubernetes runtime (`--launch kubernetes`) has been tested on a "
                "simulated cluster only (an API test server and a kubelet simulator), never on a "
                "real one.",
            ),
        ]
    header = (
        f"Made by `pop k8s manifests` (pop {version}); apply with `kubectl apply -f`.\n"
        "The kubernetes runtime (`--launch kubernetes`) has been tested on a simulated cluster "
        "only: these objects prepare a real one for it.\n"
        "See docs/kubernetes.md for what each object is for and how to change it."
    )
    return ManifestSet(tuple(manifests), header)


# -- the objects ---------------------------------------------------------------------------------


def _labels(component: str | None = None) -> dict[str, str]:
    labels = dict(LABELS)
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _object(
    api_version: str, kind: str, name: str, namespace: str, component: str
) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": _labels(component)},
    }


def _namespace(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": _labels()},
    }


def _role_binding(namespace: str) -> dict[str, Any]:
    return {
        **_object("rbac.authorization.k8s.io/v1", "RoleBinding", ROLE, namespace, "rbac"),
        "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
    }


def _registry_configmap(namespace: str, registry_text: str) -> dict[str, Any]:
    return {
        **_object("v1", "ConfigMap", REGISTRY_CONFIGMAP, namespace, "registry"),
        "data": {REGISTRY_KEY: registry_text},
    }


def _claim(name: str, namespace: str, component: str, mode: str, size: str) -> dict[str, Any]:
    return {
        **_object("v1", "PersistentVolumeClaim", name, namespace, component),
        "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}},
    }


def _namespace_env() -> dict[str, Any]:
    """``POP_KUBE_NAMESPACE`` from the pod's own namespace (downward API)."""
    return {
        "name": NAMESPACE_ENV,
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }


def _reaper_cronjob(namespace: str, image: str) -> dict[str, Any]:
    container = {
        "name": "reaper",
        "image": image,
        "command": ["pop", "reap", "pods", "--older-than", REAPER_AGE],
        "env": [_namespace_env()],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "256Mi"},
        },
    }
    pod_spec = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "restartPolicy": "Never",
        "containers": [container],
    }
    return {
        **_object("batch/v1", "CronJob", REAPER, namespace, "reaper"),
        "spec": {
            "schedule": REAPER_SCHEDULE,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": _labels("reaper")},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": 900,
                    "template": {"metadata": {"labels": _labels("reaper")}, "spec": pod_spec},
                },
            },
        },
    }


def _executor_deployment(namespace: str, image: str) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": "pop", "app.kubernetes.io/component": "executor"}
    container = {
        "name": "executor",
        "image": image,
        "command": ["pop", "executor", "--launch", "kubernetes"],
        "env": [
            {"name": "POP_HOME", "value": POP_HOME},
            {"name": "POP_REGISTRY", "value": f"{REGISTRY_DIR}/{REGISTRY_KEY}"},
            {"name": "POP_ALIVE_FILE", "value": ALIVE_FILE},
            _namespace_env(),
        ],
        "volumeMounts": [
            {"name": "store", "mountPath": POP_HOME},
            {"name": "work", "mountPath": f"{POP_HOME}/work"},
            {"name": "registry", "mountPath": REGISTRY_DIR, "readOnly": True},
        ],
        "resources": {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "1Gi"},
        },
        # Alive: the claim loop asked the store for work and got an answer (or had no free
        # slot) within 30 s, or has not asked yet; restarted after 3 failed checks 10 s apart
        # (the executor polls every second). Ready: it has opened its store on the volume.
        "livenessProbe": {
            "exec": {"command": ["pop", "alive", "--threshold", ALIVE_THRESHOLD]},
            "periodSeconds": 10,
            "timeoutSeconds": 10,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "exec": {"command": ["sh", "-c", f'test -s "{POP_HOME}/pop.db"']},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
    }
    pod_spec = {
        "serviceAccountName": SERVICE_ACCOUNT,
        # SIGTERM: the executor stops claiming and lets running agendas finish for this long.
        "terminationGracePeriodSeconds": 120,
        "containers": [container],
        "volumes": [
            {"name": "store", "persistentVolumeClaim": {"claimName": STORE_CLAIM}},
            {"name": "work", "persistentVolumeClaim": {"claimName": WORK_CLAIM}},
            {"name": "registry", "configMap": {"name": REGISTRY_CONFIGMAP}},
        ],
    }
    return {
        **_object("apps/v1", "Deployment", EXECUTOR, namespace, "executor"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": _labels("executor")}, "spec": pod_spec},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with multi-line strings (the registry file) as ``|`` blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _comment_lines(text: str) -> str:
    """``text`` as ``#`` lines of at most 100 characters, one paragraph per line of ``text``."""
    lines = [line for paragraph in text.splitlines() for line in textwrap.wrap(paragraph, 98)]
    return "".join(f"# {line}\n" for line in lines)
