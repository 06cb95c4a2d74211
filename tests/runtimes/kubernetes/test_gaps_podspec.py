"""Build details of the kubernetes pod that issue 12's audit found untested (items 2, 3 and 6),
on the simulated cluster of ``tests/kube`` where a server is involved, never a cluster run:

- the registry's ``envFrom`` and ``secretKeyRef`` entries appear in the pod exactly (container
  ``envFrom`` and ``env``), the pod the server stores is the one ``build_pod`` built, and the
  values reach the container's process;
- tainted-node affinity and toleration carry the registry's values exactly;
- a container waiting with ``CreateContainerConfigError`` (a secret that does not exist) fails
  the launch at once, not after ``podScheduledTimeoutMs``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pop.registry import PodConfig
from pop.runtimes import LOST
from pop.runtimes.kubernetes.podspec import build_pod
from tests.runtimes.kubernetes import test_launcher
from tests.runtimes.kubernetes.test_launcher import collect, program, run, stored_pod

make_launcher = test_launcher.make_launcher  # the fixture: launchers on the simulated cluster

SECRET_ENV = {
    "PLAIN": "1",
    "API_TOKEN": {"secretKeyRef": {"name": "creds", "key": "token"}},
    "MAYBE": {"secretKeyRef": {"name": "creds", "key": "absent", "optional": True}},
}
ENV_FROM = [
    {"prefix": "CFG_", "configMapRef": {"name": "settings"}},
    {"secretRef": {"name": "creds"}},
    {"secretRef": {"name": "extra", "optional": True}},
]
# what the container gets for ENV_FROM: Kubernetes' shape, each optional flag explicit
EXPECTED_ENV_FROM = [
    {"prefix": "CFG_", "configMapRef": {"name": "settings", "optional": False}},
    {"secretRef": {"name": "creds", "optional": False}},
    {"secretRef": {"name": "extra", "optional": True}},
]
EXPECTED_SECRET_ENV = [
    {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token", "optional": False}},
    },
    {
        "name": "MAYBE",
        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "absent", "optional": True}},
    },
]
PRINT_ENV = (
    "import os; print(*(os.environ.get(name, '-') for name in "
    "('API_TOKEN', 'MAYBE', 'CFG_LEVEL', 'token', 'PLAIN', 'MY_POD_NAME')), sep='|')"
)


def test_env_from_and_secret_key_refs_are_the_containers_exactly() -> None:
    config = PodConfig.from_fields({"envVars": SECRET_ENV, "envFrom": ENV_FROM})
    spec = program(
        "pop-a1-secret-1",
        env={"PAYLOAD": "{}"},
        options={"envVars": SECRET_ENV, "envFrom": ENV_FROM},
    )
    pod = build_pod(spec, namespace="media", launcher_id="exec-1", work_root=None, config=config)
    (container,) = pod["spec"]["containers"]
    assert container["envFrom"] == EXPECTED_ENV_FROM
    # the spec's env first (the engine put the registry's plain envVars there), then the
    # secrets, then the downward API
    assert container["env"] == [
        {"name": "PAYLOAD", "value": "{}"},
        *EXPECTED_SECRET_ENV,
        {"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    # read from spec.options alone, the same pod
    assert build_pod(spec, namespace="media", launcher_id="exec-1", work_root=None) == pod
    # no envFrom in the registry: no envFrom in the container (not an empty list)
    bare = build_pod(program("pop-a1-bare-1"), namespace="m", launcher_id="e", work_root=None)
    assert "envFrom" not in bare["spec"]["containers"][0]


def test_tainted_node_affinity_and_toleration_carry_the_registry_values() -> None:
    options = {
        "useTaintedNodes": True,
        "taintedNodeSelector": "media-nodes",
        "taintedNodeToleration": "media-only",
    }
    pod = build_pod(
        program("pop-a1-tainted-1", options=options),
        namespace="media",
        launcher_id="exec-1",
        work_root=None,
    )
    assert pod["spec"]["affinity"] == {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 40,
                    "preference": {
                        "matchExpressions": [
                            {"key": "dedicated", "operator": "In", "values": ["media-nodes"]}
                        ]
                    },
                }
            ]
        }
    }
    assert pod["spec"]["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "media-only", "effect": "NoSchedule"}
    ]
    # useTaintedNodes off (the values alone): neither affinity nor toleration
    off = build_pod(
        program("pop-a1-untainted-1", options={**options, "useTaintedNodes": False}),
        namespace="media",
        launcher_id="exec-1",
        work_root=None,
    )
    assert "affinity" not in off["spec"] and "tolerations" not in off["spec"]


def test_the_server_stores_the_secret_env_and_the_process_sees_the_values(
    make_launcher: Any, kube_api: Any, kubelet: Any, core_v1: Any
) -> None:
    namespace = kube_api.namespace
    core_v1.create_namespaced_secret(
        namespace, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}}
    )
    core_v1.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"LEVEL": "debug"}}
    )
    launcher = make_launcher()

    async def body() -> None:
        spec = program(
            "secrets",
            command=["python3", "-c", PRINT_ENV],
            env={"PLAIN": "1"},
            options={"envVars": SECRET_ENV, "envFrom": ENV_FROM},
        )
        handle = await launcher.launch(spec)
        stored = stored_pod(kube_api, handle.record.ref)
        built = build_pod(
            spec, namespace=namespace, launcher_id=launcher.launcher_id, work_root=None
        )
        (container,) = stored["spec"]["containers"]
        assert (
            container["envFrom"] == EXPECTED_ENV_FROM == built["spec"]["containers"][0]["envFrom"]
        )
        assert container["env"] == built["spec"]["containers"][0]["env"]
        assert container["env"][1:3] == EXPECTED_SECRET_ENV
        lines, status = await asyncio.gather(collect(handle), handle.wait())
        # an optional key that is missing is empty; the optional secret `extra` adds nothing
        assert lines == [f"s3cret||debug|s3cret|1|{handle.record.ref}"]
        assert status.ok
        await handle.cleanup()

    run(body())


def test_a_create_container_config_error_fails_at_once(
    make_launcher: Any, kube_api: Any, kubelet: Any
) -> None:
    launcher = make_launcher()
    missing = {"envVars": {"T": {"secretKeyRef": {"name": "nowhere", "key": "k"}}}}

    async def body() -> None:
        started = time.monotonic()
        handle = await launcher.launch(program("no-secret", after=["never"], options=missing))
        status = await handle.wait()
        assert time.monotonic() - started < 10  # not the 300-s scheduled timeout
        assert status.reason == LOST
        assert status.message == 'CreateContainerConfigError: secret "nowhere" not found'
        assert stored_pod(kube_api, handle.record.ref) is None  # deleted
        assert await collect(handle) == []  # it never ran
        await handle.cleanup()

    run(body())
