"""``pop k8s manifests``: every printed object is valid against the official Kubernetes schemas,
the output is what ``deploy/kubernetes/`` holds, and neither it nor ``pop --help`` loads the
``kubernetes`` client.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

import pop
from tests.conftest import pop_env

RunPop = Callable[..., subprocess.CompletedProcess[str]]
REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
# the oldest Kubernetes release still in wide use that the schemas cover, and the newest
SCHEMA_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
POP_LABELS = {"app.kubernetes.io/managed-by": "pop", "app.kubernetes.io/name": "pop"}
BASE_KINDS = [
    "Namespace",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "PersistentVolumeClaim",
    "CronJob",
]


def manifests(run_pop: RunPop, *args: str) -> list[dict[str, Any]]:
    completed = run_pop("k8s", "manifests", *args)
    assert completed.returncode == 0, completed.stderr
    return [document for document in yaml.safe_load_all(completed.stdout) if document]


def by_kind(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [
        obj
        for obj in objects
        if obj["kind"] == kind and (name is None or obj["metadata"]["name"] == name)
    ]
    return found


def pod_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] == "Deployment":
        return [obj["spec"]["template"]]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]]
    return []


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("args", [[], ["--executor"], ["--executor", "--namespace", "media-jobs"]])
def test_every_printed_object_is_valid_against_the_kubernetes_schemas(
    run_pop: RunPop, args: list[str], version: str
) -> None:
    objects = manifests(run_pop, *args)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    ("args", "path"),
    [([], DEPLOY / "pop.yaml"), (["--executor"], DEPLOY / "with-executor" / "pop.yaml")],
    ids=["pop.yaml", "with-executor/pop.yaml"],
)
def test_the_printed_manifests_are_the_files_in_deploy_kubernetes(
    run_pop: RunPop, args: list[str], path: Path
) -> None:
    completed = run_pop("k8s", "manifests", *args)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == path.read_text(encoding="utf-8"), (
        f"{path.relative_to(REPO_ROOT)} is out of date: regenerate it with "
        f"`pop k8s manifests {' '.join(args)}` (docs/kubernetes.md)"
    )


def test_deploy_kubernetes_holds_only_the_generated_files() -> None:
    applied = sorted(
        path.relative_to(DEPLOY).as_posix()
        for path in DEPLOY.rglob("*")
        if path.suffix in (".yaml", ".yml", ".json")
    )
    assert applied == ["pop.yaml", "with-executor/pop.yaml"]


def test_the_default_objects_are_the_cluster_preparation_in_namespace_pop(
    run_pop: RunPop,
) -> None:
    objects = manifests(run_pop)
    assert [obj["kind"] for obj in objects] == BASE_KINDS
    assert by_kind(objects, "Namespace")["metadata"]["name"] == "pop"
    assert by_kind(objects, "ServiceAccount")["metadata"]["name"] == "pop-service"
    assert {obj["metadata"].get("namespace") for obj in objects[1:]} == {"pop"}


def test_namespace_x_puts_everything_in_x(run_pop: RunPop) -> None:
    objects = manifests(run_pop, "--executor", "--namespace", "x")
    assert by_kind(objects, "Namespace")["metadata"]["name"] == "x"
    assert {obj["metadata"]["namespace"] for obj in objects if obj["kind"] != "Namespace"} == {"x"}
    binding = by_kind(objects, "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "pop-service", "namespace": "x"}
    ]
    assert "namespace: pop" not in yaml.safe_dump_all(objects)


def test_every_object_and_pod_carries_pops_labels(run_pop: RunPop) -> None:
    for obj in manifests(run_pop, "--executor"):
        assert obj["metadata"]["labels"].items() >= POP_LABELS.items(), obj["kind"]
        for template in pod_templates(obj):
            assert template["metadata"]["labels"].items() >= POP_LABELS.items(), obj["kind"]


def test_the_role_grants_exactly_the_listed_verbs(run_pop: RunPop) -> None:
    objects = manifests(run_pop)
    granted = {
        (group, resource, verb)
        for rule in by_kind(objects, "Role")["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    pods = {("", "pods", verb) for verb in ("create", "get", "list", "watch", "delete", "patch")}
    assert granted == pods | {("", "pods/log", "get"), ("", "configmaps", "get")}
    binding = by_kind(objects, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": by_kind(objects, "Role")["metadata"]["name"],
    }


def test_the_work_volume_is_read_write_many_and_the_reaper_reaps_pods_by_age(
    run_pop: RunPop,
) -> None:
    objects = manifests(run_pop)
    work = by_kind(objects, "PersistentVolumeClaim", "pop-work")
    assert work["spec"]["accessModes"] == ["ReadWriteMany"]
    reaper = by_kind(objects, "CronJob")
    pod = reaper["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["pop", "reap", "pods", "--older-than", "24h"]
    assert container["image"] == f"pop-handlers:{pop.__version__}"
    assert pod["serviceAccountName"] == "pop-service"
    assert reaper["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_yaml_says_the_reaper_job_reaps_by_age_only(run_pop: RunPop) -> None:
    completed = run_pop("k8s", "manifests")
    assert "# It reaps by age only" in completed.stdout


def test_executor_adds_the_deployment_and_its_read_write_once_store(run_pop: RunPop) -> None:
    objects = manifests(run_pop, "--executor")
    assert [obj["kind"] for obj in objects] == [
        *BASE_KINDS,
        "PersistentVolumeClaim",
        "Deployment",
    ]
    store = by_kind(objects, "PersistentVolumeClaim", "pop-store")
    assert store["spec"]["accessModes"] == ["ReadWriteOnce"]
    deployment = by_kind(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["pop", "executor", "--launch", "kubernetes"]
    assert container["image"] == f"pop-handlers:{pop.__version__}"
    assert {"livenessProbe", "readinessProbe"} <= container.keys()
    env = {item["name"]: item for item in container["env"]}
    home = env["POP_HOME"]["value"]
    claims = {
        volume["name"]: volume["persistentVolumeClaim"]["claimName"]
        for volume in pod["volumes"]
        if "persistentVolumeClaim" in volume
    }
    mounts = {mount["mountPath"]: claims.get(mount["name"]) for mount in container["volumeMounts"]}
    assert mounts[home] == "pop-store"
    assert mounts[f"{home}/work"] == "pop-work"
    assert env["POP_KUBE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }
    registry_file = Path(env["POP_REGISTRY"]["value"])
    registry_mount = next(
        mount
        for mount in container["volumeMounts"]
        if mount["mountPath"] == str(registry_file.parent)
    )
    registry_volume = next(v for v in pod["volumes"] if v["name"] == registry_mount["name"])
    configmap = by_kind(objects, "ConfigMap")
    assert registry_volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert registry_file.name in configmap["data"]
    assert pod["serviceAccountName"] == "pop-service"
    assert not [obj for obj in manifests(run_pop) if obj["kind"] == "Deployment"]


def test_the_executors_liveness_probe_is_pops_alive_check(run_pop: RunPop, tmp_path: Path) -> None:
    """The probe runs ``pop alive`` on the file the executor touches after each answered ask for
    work: in the container's own file system (a restarted container starts without it, which
    counts as alive), with POP's 30 s threshold, many of the executor's 1-s polls."""
    deployment = by_kind(manifests(run_pop, "--executor"), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    alive_file = env["POP_ALIVE_FILE"]
    assert alive_file.startswith("/tmp/")
    assert not [
        mount
        for mount in container["volumeMounts"]
        if alive_file.startswith(mount["mountPath"].rstrip("/") + "/")
    ]
    assert "--poll" not in container["command"]  # the executor polls every second
    probe = container["livenessProbe"]
    command = probe["exec"]["command"]
    assert command == ["pop", "alive", "--threshold", "30s"]
    assert probe["failureThreshold"] * probe["periodSeconds"] <= 60
    assert container["readinessProbe"]["exec"]["command"] == [
        "sh",
        "-c",
        f'test -s "{env["POP_HOME"]}/pop.db"',
    ]

    # the probe's own command line, run here on a file of its own: alive, then not
    here = {"POP_ALIVE_FILE": str(tmp_path / "pop-alive")}
    assert run_pop(*command[1:], env=here).returncode == 0  # no ask for work yet
    (tmp_path / "pop-alive").touch()
    assert run_pop(*command[1:], env=here).returncode == 0
    old = time.time() - 31
    os.utime(tmp_path / "pop-alive", (old, old))
    stale = run_pop(*command[1:], env=here)
    assert stale.returncode == 1
    assert stale.stderr.startswith("not alive: last successful ask for work ")


def test_the_registry_configmap_holds_what_registry_show_prints(
    run_pop: RunPop, tmp_path: Path
) -> None:
    registry_file = tmp_path / "k8s-registry.yaml"
    registry_file.write_text(
        "basePodConfig: {serviceAccountName: pop-service}\n"
        "workVolume: {persistentVolumeClaim: {claimName: pop-work}}\n"
        "handlers:\n  shout: {command: [echo, hi], image: example/shout:1}\n",
        encoding="utf-8",
    )
    for args in ([], ["--registry", str(registry_file)]):
        shown = run_pop("registry", "show", *args)
        assert shown.returncode == 0, shown.stderr
        configmap = by_kind(manifests(run_pop, *args), "ConfigMap")
        assert configmap["data"] == {"registry.yaml": shown.stdout}
    assert "example/shout:1" in configmap["data"]["registry.yaml"]


def test_image_replaces_the_image_of_the_reaper_and_the_executor(run_pop: RunPop) -> None:
    objects = manifests(run_pop, "--executor", "--image", "localhost:5000/pop-handlers:dev")
    images = [
        container["image"]
        for obj in objects
        for template in pod_templates(obj)
        for container in template["spec"]["containers"]
    ]
    assert images == ["localhost:5000/pop-handlers:dev"] * 2


def test_json_gives_a_list_of_the_same_objects(run_pop: RunPop) -> None:
    completed = run_pop("k8s", "manifests", "--executor", "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == manifests(run_pop, "--executor")


@pytest.mark.parametrize(
    "args",
    [
        ["--namespace", "Bad_NS"],
        ["--namespace", "-pop"],
        ["--namespace", "a" * 64],
        ["--namespace", ""],
        ["--image", ""],
        ["--image", "pop handlers"],
    ],
    ids=["upper-and-underscore", "leading-dash", "too-long", "empty", "empty-image", "space"],
)
def test_a_bad_namespace_or_image_is_exit_2_with_one_error_line(
    run_pop: RunPop, pop_home: Path, args: list[str]
) -> None:
    completed = run_pop("k8s", "manifests", "--executor", *args)
    assert completed.returncode == 2
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[:1]
    assert repr(args[1]) in lines[0]
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines)
    assert not pop_home.exists()


def test_a_missing_registry_file_is_exit_2_and_prints_no_manifests(run_pop: RunPop) -> None:
    completed = run_pop("k8s", "manifests", "--registry", "/nonexistent/registry.yaml")
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("error: ")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["k8s", "--help"], ["k8s", "manifests", "--help"], ["k8s", "manifests"]],
)
def test_help_and_manifests_import_no_kubernetes(args: list[str], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pop.cli import _run\n"
        f"code = _run({args!r})\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'docker'))\n"
        "print('SDK-MODULES', loaded, code)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=pop_env(tmp_path / "pop_home"),
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "SDK-MODULES [] 0"
