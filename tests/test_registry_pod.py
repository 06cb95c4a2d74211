"""Tests of the typed PodConfig of registry entries and of the pod rules of validation: tainted
nodes, NFS mounts, Kubernetes label syntax, secret env entries, envFrom, imagePullSecrets, gpus."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pop.registry import (
    ConfigMapSetting,
    EnvFromSource,
    KeyPath,
    NfsSetting,
    PodConfig,
    Registry,
    SecretKeyRef,
    TaintedNodes,
    validate_document,
)
from pop.registry.reading import CORE_DEFAULTS
from pop.registry.validation import KNOWN_FIELDS


def entry_of(fields: dict[str, Any], **top_level: Any) -> Any:
    document = {**top_level, "handlers": {"op": {"handler": "m:f", **fields}}}
    return Registry.from_documents([("test.yaml", document)]).lookup("op")


def problems_of(fields: dict[str, Any], **top_level: Any) -> list[str]:
    document = {**top_level, "handlers": {"op": {"handler": "m:f", **fields}}}
    return validate_document(document, source="r.yaml")


# --- the typed PodConfig -------------------------------------------------------------------------


def test_an_entry_without_pod_fields_has_pops_defaults() -> None:
    pod = entry_of({}).pod

    assert pod == PodConfig()
    assert pod.service_account_name == "pop-service"
    assert (pod.cpu_min_request_count, pod.cpu_max_request_count) == (1.0, 1.0)
    assert (pod.pod_scheduled_timeout_ms, pod.pod_stdout_timeout) == (300000, 120000)
    assert pod.end_of_log_identifier == "HandlerComplete"
    assert pod.config_map_settings == (
        ConfigMapSetting(
            None,
            "config-volume",
            "/app/config",
            (
                KeyPath("external-properties", "external.properties"),
                KeyPath("env-properties", "env.properties"),
            ),
        ),
    )
    assert (pod.nfs_settings, pod.env_from, pod.image_pull_secrets, pod.gpus) == ((), (), (), 0)
    assert pod.tainted_nodes is None


def test_the_core_layer_and_the_podconfig_defaults_agree() -> None:
    assert PodConfig.from_fields(CORE_DEFAULTS) == PodConfig()
    computed = {"protocol", "silenceTimeoutSeconds", "retries", "external", "imageName"}
    assert set(CORE_DEFAULTS) == KNOWN_FIELDS - computed


def test_every_pod_field_is_read_typed_from_the_layered_entry() -> None:
    entry = entry_of(
        {
            "imageName": "example/tool:1",
            "namePrefix": "tool-",
            "arguments": ["--fast"],
            "serviceAccountName": "robot",
            "cpuMinRequestCount": "500m",
            "cpuMaxRequestCount": 2,
            "memoryRequestCount": "512Mi",
            "envVars": {
                "MODE": "fast",
                "LEVEL": 3,
                "DB": {"secretKeyRef": {"name": "db", "key": "pw"}},
            },
            "envFrom": [
                {"secretRef": {"name": "creds"}, "prefix": "C_"},
                {"configMapRef": {"name": "cfg"}},
            ],
            "imagePullSecrets": ["regcred", {"name": "other"}],
            "gpus": "2",
            "labels": {"team": "media", "tier": 1},
            "pullAlways": True,
            "dockerPrivileged": True,
            "reapCompletedPods": True,
            "podScheduledTimeoutMs": 60000,
            "podStdoutTimeout": 30000,
            "defaultEmptyDirLogging": True,
            "useTaintedNodes": True,
            "taintedNodeSelector": "gpu",
            "taintedNodeToleration": "gpu-jobs",
            "nfsSettings": [
                {"nfsServer": "nas", "nfsServerPath": "/export/media", "nfsMountPaths": ["/media"]}
            ],
            "configMapName": "tool-config",
            "nodeAffinityHint": "kept",
        },
        workVolume={"persistentVolumeClaim": {"claimName": "pop-work"}},
    )
    pod = entry.pod

    assert (pod.image, pod.name_prefix, pod.arguments) == ("example/tool:1", "tool-", ("--fast",))
    assert pod.service_account_name == "robot"
    assert (pod.cpu_min_request_count, pod.cpu_max_request_count) == (0.5, 2.0)
    assert pod.memory_request_count == "512Mi"
    assert pod.env_vars == {"MODE": "fast", "LEVEL": "3"}
    assert pod.secret_env_vars == {"DB": SecretKeyRef("db", "pw")}
    assert pod.env_from == (
        EnvFromSource("secretRef", "creds", "C_"),
        EnvFromSource("configMapRef", "cfg"),
    )
    assert pod.image_pull_secrets == ("regcred", "other")
    assert pod.gpus == 2
    assert pod.labels == {"team": "media", "tier": "1"}
    assert (pod.pull_always, pod.docker_privileged, pod.reap_completed_pods) == (True, True, True)
    assert (pod.pod_scheduled_timeout_ms, pod.pod_stdout_timeout) == (60000, 30000)
    assert pod.default_empty_dir_logging
    assert pod.tainted_nodes == TaintedNodes("gpu", "gpu-jobs")
    assert pod.nfs_settings == (NfsSetting("nas", "/export/media", ("/media",), False),)
    assert pod.config_map_name == "tool-config"
    assert (
        pod.config_map_settings[0].config_map_name == "tool-config"
    )  # POP writes it into the first
    assert pod.work_volume == {"persistentVolumeClaim": {"claimName": "pop-work"}}
    assert pod.extra == {"nodeAffinityHint": "kept"}
    # the entry's own attributes read the same values
    assert (entry.image, entry.cpu_request, entry.cpu_limit, entry.memory_request) == (
        "example/tool:1",
        0.5,
        2.0,
        "512Mi",
    )


def test_a_launcher_reads_the_same_podconfig_from_the_spec_options() -> None:
    entry = entry_of(
        {
            "labels": {"a": "b"},
            "nfsSettings": [
                {
                    "nfsServer": "nas",
                    "nfsServerPath": "/x",
                    "nfsMountPaths": ["/m"],
                    "nfsReadOnly": True,
                }
            ],
        }
    )

    assert PodConfig.from_fields(dict(entry.fields)) == entry.pod


def test_null_clears_pod_fields_to_none_or_empty() -> None:
    pod = entry_of(
        {
            "serviceAccountName": None,
            "configMapSettings": None,
            "cpuMinRequestCount": None,
            "podScheduledTimeoutMs": None,
            "pullAlways": None,
        },
        basePodConfig={"labels": {"a": "b"}, "gpus": 1},
    ).pod

    assert pod.service_account_name is None
    assert pod.config_map_settings == ()
    assert pod.cpu_min_request_count == 1.0
    assert pod.pod_scheduled_timeout_ms is None
    assert pod.pull_always is False
    assert (pod.labels, pod.gpus) == ({"a": "b"}, 1)


def test_gpus_may_be_all_or_device_ids() -> None:
    assert entry_of({"gpus": "all"}).pod.gpus == "all"
    assert entry_of({"gpus": [0, "1"]}).pod.gpus == ("0", "1")


def test_an_external_binary_pod_is_the_entry_overlaid_by_its_own_fields() -> None:
    entry = entry_of(
        {
            "image": "handlers:1",
            "serviceAccountName": "robot",
            "external": {"ffmpeg": {"imageName": "ffmpeg:6", "cpuMinRequestCount": "4"}},
        }
    )

    pod = entry.external_pod("ffmpeg")
    assert (pod.image, pod.cpu_min_request_count, pod.service_account_name) == (
        "ffmpeg:6",
        4.0,
        "robot",
    )
    with pytest.raises(KeyError):
        entry.external_pod("sox")


def test_podconfig_is_frozen_and_lookups_stay_independent() -> None:
    registry = Registry.from_documents(
        [("t.yaml", {"handlers": {"op": {"handler": "m:f", "labels": {"a": "b"}}}})]
    )
    pod = registry.lookup("op").pod

    with pytest.raises(dataclasses.FrozenInstanceError):
        pod.image = "other"  # type: ignore[misc]
    pod.labels["a"] = "changed"  # type: ignore[index]
    assert registry.lookup("op").pod.labels == {"a": "b"}


# --- validation: tainted nodes -------------------------------------------------------------------


def test_a_tainted_selector_without_a_toleration_is_reported() -> None:
    assert problems_of({"taintedNodeSelector": "gpu"}) == [
        "r.yaml: handlers.op.taintedNodeSelector: taintedNodeSelector 'gpu' needs a"
        " taintedNodeToleration"
    ]


def test_use_tainted_nodes_needs_selector_and_toleration() -> None:
    assert problems_of({"useTaintedNodes": True}) == [
        "r.yaml: handlers.op.useTaintedNodes: useTaintedNodes: true needs taintedNodeSelector"
        " and taintedNodeToleration"
    ]
    assert problems_of({"useTaintedNodes": True, "taintedNodeToleration": "t"}) == [
        "r.yaml: handlers.op.useTaintedNodes: useTaintedNodes: true needs taintedNodeSelector"
    ]


def test_a_base_selector_is_reported_at_the_base_and_completed_by_an_entry_toleration() -> None:
    assert problems_of({}, basePodConfig={"taintedNodeSelector": "gpu"}) == [
        "r.yaml: basePodConfig.taintedNodeSelector: taintedNodeSelector 'gpu' needs a"
        " taintedNodeToleration"
    ]
    complete = {"taintedNodeSelector": "gpu", "taintedNodeToleration": "gpu"}
    assert problems_of({"useTaintedNodes": True}, basePodConfig=complete) == []


def test_an_entry_that_clears_the_toleration_of_the_base_is_reported() -> None:
    base = {"useTaintedNodes": True, "taintedNodeSelector": "gpu", "taintedNodeToleration": "gpu"}

    assert problems_of({"taintedNodeToleration": None}, basePodConfig=base) == [
        "r.yaml: handlers.op.useTaintedNodes: useTaintedNodes: true needs taintedNodeToleration"
    ]


def test_an_external_binary_with_a_selector_but_no_toleration_is_reported() -> None:
    assert problems_of({"external": {"ffmpeg": {"taintedNodeSelector": "gpu"}}}) == [
        "r.yaml: handlers.op.external.ffmpeg.taintedNodeSelector: taintedNodeSelector 'gpu'"
        " needs a taintedNodeToleration"
    ]


def test_a_pop_json_entry_reports_tainted_nodes_at_its_pod_config() -> None:
    document = {
        "basePodConfig": {"imageName": "img"},
        "gpu": {"configMapName": "cm", "podConfig": {"taintedNodeSelector": "gpu"}},
    }

    assert validate_document(document, source="registry.json") == [
        "registry.json: gpu.podConfig.taintedNodeSelector: taintedNodeSelector 'gpu' needs a"
        " taintedNodeToleration"
    ]


def test_an_external_image_name_is_its_image() -> None:
    entry = entry_of({"image": "handlers:1", "external": {"ffmpeg": {"imageName": "ffmpeg:6"}}})

    settings = entry.external_settings()
    assert (settings["ffmpeg"]["cpus"], settings["ffmpeg"]["image"]) == (1.0, "ffmpeg:6")
    assert settings["ffmpeg"]["pod"]["image"] == "ffmpeg:6"
    assert settings["*"]["pod"]["image"] == "handlers:1"  # binaries it does not declare


# --- validation: nfsSettings, labels and the secret fields ---------------------------------------


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (
            {"nfsServer": "nas"},
            "nfsSettings[0]: incomplete NFS mount: set nfsServerPath, nfsMountPaths",
        ),
        (
            {"nfsServerPath": "/x", "nfsMountPaths": ["/m"]},
            "nfsSettings[0]: incomplete NFS mount: set nfsServer",
        ),
        ({"nfsServer": "", "nfsServerPath": "/x", "nfsMountPaths": ["/m"]}, "set nfsServer"),
        ({"nfsServer": "n", "nfsServerPath": "/x", "nfsMountPaths": []}, "set nfsMountPaths"),
        (
            {"nfsServer": "n", "nfsServerPath": "/x", "nfsMountPaths": ["rel"]},
            "nfsSettings[0].nfsMountPaths: must be a list of absolute paths",
        ),
        (
            {
                "nfsServer": "n",
                "nfsServerPath": "/x",
                "nfsMountPaths": ["/m"],
                "nfsReadOnly": "yes",
            },
            "nfsSettings[0].nfsReadOnly: 'yes' is not a boolean",
        ),
        (
            {"nfsServer": "n", "nfsServerPath": "/x", "nfsMountPath": ["/m"]},
            "nfsSettings[0].nfsMountPath: unknown field 'nfsMountPath'"
            " (did you mean 'nfsMountPaths'?)",
        ),
    ],
)
def test_each_incomplete_or_wrong_nfs_setting_is_reported(
    setting: dict[str, Any], expected: str
) -> None:
    problems = problems_of({"nfsSettings": [setting]})

    assert any(expected in problem for problem in problems), problems
    assert all(problem.startswith("r.yaml: handlers.op.nfsSettings[0]") for problem in problems)


def test_a_complete_nfs_setting_is_fine() -> None:
    setting = {
        "nfsServer": "nas",
        "nfsServerPath": "/x",
        "nfsMountPaths": ["/m"],
        "nfsReadOnly": True,
    }
    assert problems_of({"nfsSettings": [setting]}) == []


@pytest.mark.parametrize(
    "key",
    [
        "app",
        "team.name",
        "a_b-c.d",
        "example.com/team",
        "pop.kubernetes.io/x9",
        "x" * 63,
        f"{'a' * 253}/b",
    ],
)
def test_valid_label_keys_are_accepted(key: str) -> None:
    assert problems_of({"labels": {key: "v"}}) == []


@pytest.mark.parametrize(
    ("key", "part"),
    [
        ("bad key", "the name must be"),
        ("-leading", "the name must be"),
        ("trailing.", "the name must be"),
        ("x" * 64, "the name must be"),
        ("example.com/", "the name must be"),
        ("/name", "the prefix before '/'"),
        ("Example.com/name", "the prefix before '/'"),
        ("a/b/c", "the prefix before '/'"),
        (f"{'a' * 254}/b", "the prefix before '/'"),
    ],
)
def test_invalid_label_keys_are_reported_with_their_path(key: str, part: str) -> None:
    problems = problems_of({"labels": {key: "v"}})

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"r.yaml: handlers.op.labels.{key}: label key {key!r}: {part}")


@pytest.mark.parametrize("value", ["bad value", "x" * 64, "-x", {"nested": 1}, None])
def test_invalid_label_values_are_reported(value: Any) -> None:
    problems = problems_of({"labels": {"team": value}})

    assert len(problems) == 1, problems
    assert problems[0].startswith("r.yaml: handlers.op.labels.team: label value")


def test_empty_and_numeric_label_values_are_fine() -> None:
    assert problems_of({"labels": {"empty": "", "version": 2, "on": True}}) == []


def test_labels_of_the_base_and_of_an_external_binary_are_checked() -> None:
    problems = validate_document(
        {
            "basePodConfig": {"labels": {"bad key": "v"}},
            "handlers": {
                "op": {"handler": "m:f", "external": {"ffmpeg": {"labels": {"k": "a b"}}}}
            },
        },
        source="r.yaml",
    )

    assert [problem.split(": label")[0] for problem in problems] == [
        "r.yaml: basePodConfig.labels.bad key",
        "r.yaml: handlers.op.external.ffmpeg.labels.k",
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"envVars": {"DB": {"secretKeyRef": {"name": "db"}}}},
            "envVars.DB: must be a string or {secretKeyRef",
        ),
        ({"envVars": {"DB": ["a"]}}, "envVars.DB: must be a string or {secretKeyRef"),
        ({"envVars": {"DB": None}}, "envVars.DB: must be a string or {secretKeyRef"),
        ({"envFrom": {"secretRef": {"name": "s"}}}, "envFrom: must be a list of mappings"),
        ({"envFrom": [{"secretRef": {}}]}, "envFrom[0]: must be {secretRef"),
        (
            {"envFrom": [{"secretRef": {"name": "s"}, "configMapRef": {"name": "c"}}]},
            "envFrom[0]: must be",
        ),
        (
            {"envFrom": [{"secretRef": {"name": "s"}, "prefix": 3}]},
            "envFrom[0].prefix: 3 is not a string",
        ),
        ({"imagePullSecrets": "regcred"}, "imagePullSecrets: must be a list of secret names"),
        ({"imagePullSecrets": [{"nam": "x"}]}, "imagePullSecrets: must be a list of secret names"),
        ({"gpus": -1}, "gpus: -1 is not a GPU count"),
        ({"gpus": "many"}, "gpus: 'many' is not a GPU count"),
        ({"gpus": True}, "gpus: True is not a GPU count"),
        (
            {"configMapSettings": [{"volumeName": 3}]},
            "configMapSettings[0].volumeName: 3 is not a string",
        ),
        (
            {"configMapSettings": [{"mapKeyPaths": [{"path": "p"}]}]},
            "configMapSettings[0].mapKeyPaths: must be",
        ),
    ],
)
def test_each_wrong_secret_gpu_or_config_map_value_is_reported(
    fields: dict[str, Any], expected: str
) -> None:
    problems = problems_of(fields)

    assert len(problems) == 1, problems
    assert f"r.yaml: handlers.op.{expected}" in problems[0]


# --- the command ---------------------------------------------------------------------------------


def test_registry_validate_exits_2_with_each_pod_problem_and_its_path(
    tmp_path: Path, run_pop: Any
) -> None:
    path = tmp_path / "registry.yaml"
    document = {
        "handlers": {
            "gpu": {"handler": "m:f", "useTaintedNodes": True, "taintedNodeSelector": "gpu"},
            "media": {"handler": "m:f", "nfsSettings": [{"nfsServer": "nas"}]},
            "tagged": {"handler": "m:f", "labels": {"my team": "media"}},
        }
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    completed: subprocess.CompletedProcess[str] = run_pop("registry", "validate", str(path))

    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        f"error: {path}: handlers.media.nfsSettings[0]: incomplete NFS mount: set nfsServerPath,"
        " nfsMountPaths",
        f"error: {path}: handlers.tagged.labels.my team: label key 'my team': the name must be"
        " 1-63 characters, alphanumeric at both ends, with only '-', '_' and '.' besides",
        f"error: {path}: handlers.gpu.useTaintedNodes: useTaintedNodes: true needs"
        " taintedNodeToleration",
    ]
