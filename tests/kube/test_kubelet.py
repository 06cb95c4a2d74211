"""The kubelet simulator with the API test server, through the official ``kubernetes`` client:
pods run as local processes, statuses and logs as a kubelet writes them, graceful deletion,
``activeDeadlineSeconds``, scheduling and image failures, volumes, a pod patching itself."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest
import urllib3
from kubernetes import watch
from kubernetes.client import ApiException

from tests.kube.kubelet import start_kubelet
from tests.kube.server import TOKEN

NAMESPACE = "pop"
MERGE = "application/merge-patch+json"
DOWNWARD_ENV = [
    {"name": "MY_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
    {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
]


def python_pod(name: str, code: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "python:3.11-slim",
        "command": ["python3", "-c", code],
        "env": DOWNWARD_ENV,
    }
    container.update(spec.pop("container", {}))
    return {
        "metadata": {"name": name, "labels": {"app": "pop"}},
        "spec": {"restartPolicy": "Never", "containers": [container], **spec},
    }


def phase_is(*phases: str) -> Any:
    return lambda pod: pod is not None and pod["status"].get("phase") in phases


def gone(pod: Any) -> bool:
    return pod is None


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    return state


def test_a_pod_exiting_3_ends_failed_with_exit_code_3_and_its_log_says_hi(
    kube_api, kubelet, core_v1
):
    code = 'print("hi"); import sys; sys.exit(3)'
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("exit-3", code))
    pod = kube_api.wait_for_pod("exit-3", phase_is("Succeeded", "Failed"))
    assert pod is not None and pod["status"]["phase"] == "Failed"
    assert terminated(pod)["exitCode"] == 3
    assert terminated(pod)["reason"] == "Error"
    assert core_v1.read_namespaced_pod_log("exit-3", NAMESPACE) == "hi\n"
    read = core_v1.read_namespaced_pod("exit-3", NAMESPACE)
    assert read.status.container_statuses[0].state.terminated.exit_code == 3
    assert read.status.start_time is not None
    assert read.spec.node_name == "sim-node"


def test_a_pod_goes_pending_running_succeeded_in_watch_events(kube_api, kubelet, core_v1):
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("phases", "print('ok')"))
    kube_api.wait_for_pod("phases", phase_is("Succeeded"))
    events = watch.Watch().stream(
        core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
    )
    phases = [(event["type"], event["object"].status.phase) for event in events]
    assert phases[0] == ("ADDED", "Pending")
    assert ("MODIFIED", "Running") in phases
    assert phases[-1] == ("MODIFIED", "Succeeded")
    running = next(
        event["object"]
        for event in watch.Watch().stream(
            core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
        )
        if event["object"].status.phase == "Running"
    )
    assert running.status.container_statuses[0].state.running.started_at is not None


def test_logs_follow_the_container_as_it_writes_and_end_with_it(
    kube_api, kubelet, core_v1, tmp_path
):
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('one', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "print('two', flush=True)\n"
    )
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("talker", code))
    kube_api.wait_for_pod("talker", phase_is("Running", "Succeeded"))
    response = core_v1.read_namespaced_pod_log(
        "talker", NAMESPACE, follow=True, _preload_content=False
    )
    lines = response.stream(amt=None, decode_content=False)
    assert next(lines) == b"one\n"  # while the container still runs
    go.touch()
    assert b"".join(lines) == b"two\n"
    response.release_conn()
    pod = kube_api.wait_for_pod("talker", phase_is("Succeeded"))
    assert pod is not None
    stamped = core_v1.read_namespaced_pod_log("talker", NAMESPACE, timestamps=True)
    first_time, first_text = stamped.splitlines()[0].split(" ", 1)
    assert first_text == "one"
    assert first_time.endswith("Z") and "T" in first_time
    assert core_v1.read_namespaced_pod_log("talker", NAMESPACE, since_seconds=60) == "one\ntwo\n"
    # client 37 has no since_time argument; the API has sinceTime (what a reopened stream uses)
    for since, expected in (("2999-01-01T00:00:00Z", b""), (first_time, b"one\ntwo\n")):
        answer = urllib3.request(
            "GET",
            f"{kube_api.url}/api/v1/namespaces/{NAMESPACE}/pods/talker/log",
            fields={"sinceTime": since},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert (answer.status, answer.data) == (200, expected)
    assert core_v1.read_namespaced_pod_log("talker", NAMESPACE, tail_lines=1) == "two\n"


def test_the_log_of_a_pod_that_has_not_started_is_400_waiting_to_start(kube_api, core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("idle", "print(1)"))
    with pytest.raises(ApiException) as caught:
        core_v1.read_namespaced_pod_log("idle", NAMESPACE)
    assert caught.value.status == 400
    assert "is waiting to start: ContainerCreating" in caught.value.body


def test_delete_with_grace_sends_sigterm_and_removes_the_pod_once_it_exited(
    kube_api, kubelet, core_v1
):
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (os.write(1, b'terminated\\n'), os._exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("graceful", code))
    kube_api.wait_for_pod(
        "graceful",
        lambda pod: pod is not None and b"ready\n" in _log_lines(kube_api, "graceful"),
    )
    start = core_v1.read_namespaced_pod("graceful", NAMESPACE).metadata.resource_version
    deleted = core_v1.delete_namespaced_pod("graceful", NAMESPACE, grace_period_seconds=30)
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30
    kube_api.wait_for_pod("graceful", gone, timeout=15)
    events = list(
        watch.Watch().stream(
            core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
        )
    )
    assert [event["type"] for event in events] == ["MODIFIED", "MODIFIED", "DELETED"]
    final = events[-1]["object"]
    assert final.status.container_statuses[0].state.terminated.exit_code == 0
    assert final.status.phase == "Succeeded"  # the handler exited 0 on SIGTERM
    assert final.metadata.deletion_timestamp is not None


def test_a_process_ignoring_sigterm_is_killed_at_the_grace_end(kube_api, kubelet, core_v1):
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("stubborn", code))
    kube_api.wait_for_pod("stubborn", lambda pod: b"ready\n" in _log_lines(kube_api, "stubborn"))
    start = core_v1.read_namespaced_pod("stubborn", NAMESPACE).metadata.resource_version
    began = time.monotonic()
    core_v1.delete_namespaced_pod("stubborn", NAMESPACE, grace_period_seconds=1)
    kube_api.wait_for_pod("stubborn", gone, timeout=15)
    assert time.monotonic() - began >= 0.9
    events = list(
        watch.Watch().stream(
            core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
        )
    )
    final = events[-1]["object"]
    assert events[-1]["type"] == "DELETED"
    assert final.status.container_statuses[0].state.terminated.exit_code == 137


def test_a_pod_with_a_wrong_uid_precondition_keeps_running(kube_api, kubelet, core_v1):
    from kubernetes import client

    core_v1.create_namespaced_pod(NAMESPACE, python_pod("kept", "import time; time.sleep(60)"))
    kube_api.wait_for_pod("kept", phase_is("Running"))
    wrong = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="other"))
    with pytest.raises(ApiException) as caught:
        core_v1.delete_namespaced_pod("kept", NAMESPACE, body=wrong)
    assert caught.value.status == 409
    assert core_v1.read_namespaced_pod("kept", NAMESPACE).status.phase == "Running"
    core_v1.delete_namespaced_pod("kept", NAMESPACE, grace_period_seconds=0)
    kube_api.wait_for_pod("kept", gone, timeout=15)


def test_an_unschedulable_pod_stays_pending_with_the_condition_message(kube_api, kubelet, core_v1):
    kube_api.make_unschedulable("0/1 nodes are available: 1 Insufficient cpu.")
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("waits", "print('ran')"))
    pod = kube_api.wait_for_pod(
        "waits", lambda pod: pod is not None and pod["status"].get("conditions")
    )
    assert pod is not None
    time.sleep(0.3)  # several kubelet passes: still not scheduled
    read = core_v1.read_namespaced_pod("waits", NAMESPACE)
    assert read.status.phase == "Pending"
    assert read.spec.node_name is None
    [condition] = read.status.conditions
    assert (condition.type, condition.status, condition.reason) == (
        "PodScheduled",
        "False",
        "Unschedulable",
    )
    assert condition.message == "0/1 nodes are available: 1 Insufficient cpu."
    kube_api.make_schedulable()
    kube_api.wait_for_pod("waits", phase_is("Succeeded"))


def test_an_image_pull_error_keeps_the_container_waiting_with_its_reason(
    kube_api, kubelet, core_v1
):
    kube_api.fail_image("registry.example/missing:1", "ErrImagePull")
    pod = python_pod("unpulled", "print(1)", container={"image": "registry.example/missing:1"})
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod(
        "unpulled", lambda pod: pod is not None and pod["status"].get("containerStatuses")
    )
    read = core_v1.read_namespaced_pod("unpulled", NAMESPACE)
    assert read.status.phase == "Pending"
    waiting = read.status.container_statuses[0].state.waiting
    assert waiting.reason == "ErrImagePull"
    assert "registry.example/missing:1" in waiting.message
    with pytest.raises(ApiException) as caught:
        core_v1.read_namespaced_pod_log("unpulled", NAMESPACE)
    assert json.loads(caught.value.body)["message"] == (
        'container "main" in pod "unpulled" is waiting to start: ErrImagePull'
    )
    assert read.status.conditions[-1].type == "PodScheduled"


def test_active_deadline_seconds_ends_a_long_pod_as_deadline_exceeded(kube_api, kubelet, core_v1):
    pod = python_pod(
        "overdue",
        "import time; time.sleep(60)",
        activeDeadlineSeconds=1,
        terminationGracePeriodSeconds=1,
    )
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod("overdue", phase_is("Failed"), timeout=20)
    read = core_v1.read_namespaced_pod("overdue", NAMESPACE)
    assert read.status.reason == "DeadlineExceeded"
    assert read.status.message == "Pod was active on the node longer than the specified deadline"
    assert read.status.container_statuses[0].state.terminated.exit_code == 143


def test_a_pod_patches_its_own_annotations_through_its_kubeconfig(kube_api, kubelet, core_v1):
    code = (
        "import os\n"
        "from kubernetes import client, config\n"
        "config.load_kube_config()\n"
        "client.CoreV1Api().patch_namespaced_pod(\n"
        "    os.environ['MY_POD_NAME'], os.environ['POD_NAMESPACE'],\n"
        "    {'metadata': {'annotations': {'pop.report.progress': '90'}}},\n"
        "    _content_type='application/merge-patch+json')\n"
    )
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("self-patcher", code))
    pod = kube_api.wait_for_pod("self-patcher", phase_is("Succeeded", "Failed"), timeout=30)
    assert pod is not None
    assert pod["status"]["phase"] == "Succeeded", kube_api.store.logs
    read = core_v1.read_namespaced_pod("self-patcher", NAMESPACE)
    assert read.metadata.annotations == {"pop.report.progress": "90"}
    pod_user = "system:serviceaccount:pop:default"
    assert kube_api.count("patch", "pods", "self-patcher", user=pod_user) == 1
    assert kube_api.count(name="self-patcher", user="test-user") == 1  # our read above


def test_an_image_only_pod_runs_the_argv_registered_for_its_image(kube_api, kubelet, core_v1):
    kubelet.register_image(
        "pop-handlers:latest",
        ["python3", "-c", "import os, sys; print(os.environ['GREETING'], *sys.argv[1:])"],
        ["default-arg"],
    )
    for name, args in (("image-default", None), ("image-args", ["given", "$(GREETING)"])):
        container: dict[str, Any] = {
            "name": "main",
            "image": "pop-handlers:latest",
            "env": [{"name": "GREETING", "value": "hello"}],
        }
        if args:
            container["args"] = args
        manifest = {
            "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [container]},
        }
        core_v1.create_namespaced_pod(NAMESPACE, manifest)
        kube_api.wait_for_pod(name, phase_is("Succeeded"))
    assert core_v1.read_namespaced_pod_log("image-default", NAMESPACE) == "hello default-arg\n"
    assert core_v1.read_namespaced_pod_log("image-args", NAMESPACE) == "hello given hello\n"


def test_an_image_without_registered_argv_waits_with_a_config_error(kube_api, kubelet, core_v1):
    manifest = {
        "metadata": {"name": "unknown-image"},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "nope:1"}]},
    }
    core_v1.create_namespaced_pod(NAMESPACE, manifest)
    pod = kube_api.wait_for_pod(
        "unknown-image", lambda pod: pod is not None and pod["status"].get("containerStatuses")
    )
    assert pod is not None
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CreateContainerConfigError"
    assert "no argv registered" in waiting["message"]


def test_a_claim_mapped_to_a_local_folder_is_shared_with_the_pod(
    kube_api, kubelet, core_v1, tmp_path
):
    work = tmp_path / "work"
    kubelet.map_volume("persistentVolumeClaim", "pop-work", work)
    (work / "agenda-1").mkdir()
    (work / "agenda-1" / "input.txt").write_text("from the executor")
    code = (
        "import os\n"
        "text = open('input.txt').read()\n"
        "open(os.path.join(os.environ['OUT_DIR'], 'out.txt'), 'w').write(text.upper())\n"
        "print(os.getcwd() == os.environ['OUT_DIR'])\n"
    )
    pod = python_pod(
        "shared",
        code,
        volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "pop-work"}}],
        container={
            "workingDir": "/work",
            "env": [{"name": "OUT_DIR", "value": "/work"}],
            "volumeMounts": [{"name": "work", "mountPath": "/work", "subPath": "agenda-1"}],
        },
    )
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod("shared", phase_is("Succeeded", "Failed"))
    assert core_v1.read_namespaced_pod_log("shared", NAMESPACE) == "True\n"
    assert (work / "agenda-1" / "out.txt").read_text() == "FROM THE EXECUTOR"


def test_a_pod_whose_claim_is_not_mapped_is_unschedulable(kube_api, kubelet, core_v1):
    pod = python_pod(
        "no-claim",
        "print(1)",
        volumes=[{"name": "work", "persistentVolumeClaim": {"claimName": "pop-work"}}],
    )
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    read = kube_api.wait_for_pod(
        "no-claim", lambda pod: pod is not None and pod["status"].get("conditions")
    )
    assert read is not None
    assert read["status"]["conditions"][0]["message"] == (
        '0/1 nodes are available: persistentvolumeclaim "pop-work" not found.'
    )


def test_configmap_env_and_volumes_reach_the_process(kube_api, kubelet, core_v1):
    core_v1.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "registry"}, "data": {"registry.yaml": "ops: {}\n"}}
    )
    code = "import os; print(os.environ['REG'] == open('/etc/pop/registry.yaml').read())"
    pod = python_pod(
        "configured",
        code,
        volumes=[{"name": "registry", "configMap": {"name": "registry"}}],
        container={
            "env": [
                {
                    "name": "REG",
                    "valueFrom": {"configMapKeyRef": {"name": "registry", "key": "registry.yaml"}},
                }
            ],
            "volumeMounts": [{"name": "registry", "mountPath": "/etc/pop"}],
        },
    )
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod("configured", phase_is("Succeeded", "Failed"))
    assert core_v1.read_namespaced_pod_log("configured", NAMESPACE) == "True\n"


def test_stopping_the_kubelet_kills_the_processes_it_started(kube_api, core_v1, tmp_path):
    simulator = start_kubelet(kube_api, tmp_path / "kubelet")
    try:
        core_v1.create_namespaced_pod(NAMESPACE, python_pod("long", "import time; time.sleep(60)"))
        kube_api.wait_for_pod("long", phase_is("Running"))
        process = simulator.process_of(NAMESPACE, "long")
        assert process is not None and process.poll() is None
        assert process.args[0] == sys.executable
    finally:
        simulator.stop()
    assert process.poll() is not None


def _log_lines(kube_api: Any, name: str) -> bytes:
    log = kube_api.store.logs.get((NAMESPACE, name))
    return b"".join(line for _, line in log.lines) if log else b""


def test_a_broken_log_stream_is_reopened_with_since_seconds(kube_api, kubelet, core_v1, tmp_path):
    go = tmp_path / "go"
    code = (
        "import os, time\n"
        "print('before', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "print('after', flush=True)\n"
    )
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("interrupted", code))
    kube_api.wait_for_pod(
        "interrupted", lambda pod: b"before" in _log_lines(kube_api, "interrupted")
    )
    response = core_v1.read_namespaced_pod_log(
        "interrupted", NAMESPACE, follow=True, _preload_content=False
    )
    chunks = response.stream(amt=None, decode_content=False)
    assert next(chunks) == b"before\n"
    kube_api.break_streams()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        next(chunks)
    go.touch()
    reopened = core_v1.read_namespaced_pod_log(
        "interrupted", NAMESPACE, follow=True, since_seconds=60, _preload_content=False
    )
    assert reopened.data == b"before\nafter\n"


def test_a_followed_log_ends_when_its_pod_is_force_deleted(kube_api, kubelet, core_v1):
    code = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
    core_v1.create_namespaced_pod(NAMESPACE, python_pod("forced", code))
    kube_api.wait_for_pod("forced", lambda pod: b"up" in _log_lines(kube_api, "forced"))
    response = core_v1.read_namespaced_pod_log(
        "forced", NAMESPACE, follow=True, _preload_content=False
    )
    chunks = response.stream(amt=None, decode_content=False)
    assert next(chunks) == b"up\n"
    core_v1.delete_namespaced_pod("forced", NAMESPACE, grace_period_seconds=0)
    assert b"".join(chunks) == b""
    kube_api.wait_for_pod("forced", gone)
    deadline = time.monotonic() + 5
    while kubelet.run_of(NAMESPACE, "forced") is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert kubelet.run_of(NAMESPACE, "forced") is None  # killed, reaped and forgotten


def test_secret_env_and_env_from_reach_the_process(kube_api, kubelet, core_v1):
    core_v1.create_namespaced_secret(
        NAMESPACE, {"metadata": {"name": "creds"}, "stringData": {"token": "s3cret"}}
    )
    core_v1.create_namespaced_config_map(
        NAMESPACE, {"metadata": {"name": "settings"}, "data": {"LEVEL": "debug"}}
    )
    assert core_v1.read_namespaced_secret("creds", NAMESPACE).data == {"token": "czNjcmV0"}
    code = "import os; print(os.environ['TOKEN'], os.environ['CFG_LEVEL'], os.environ['token'])"
    pod = python_pod(
        "secretive",
        code,
        container={
            "env": [
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}
            ],
            "envFrom": [
                {"prefix": "CFG_", "configMapRef": {"name": "settings"}},
                {"secretRef": {"name": "creds"}},
            ],
        },
    )
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod("secretive", phase_is("Succeeded", "Failed"))
    assert core_v1.read_namespaced_pod_log("secretive", NAMESPACE) == "s3cret debug s3cret\n"


def test_a_missing_secret_keeps_the_container_waiting_with_a_config_error(
    kube_api, kubelet, core_v1
):
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]
    core_v1.create_namespaced_pod(
        NAMESPACE, python_pod("no-secret", "print(1)", container={"env": env})
    )
    pod = kube_api.wait_for_pod(
        "no-secret", lambda pod: pod is not None and pod["status"].get("containerStatuses")
    )
    assert pod is not None
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert (waiting["reason"], waiting["message"]) == (
        "CreateContainerConfigError",
        'secret "absent" not found',
    )


def test_with_a_cpu_capacity_pods_past_it_wait_unschedulable_until_cpu_frees(
    kube_api, kubelet, core_v1, tmp_path
):
    kubelet.cpu_capacity = 2
    release = tmp_path / "release"
    code = f"import os, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.02)\n"
    for name in ("first", "second"):
        pod = python_pod(name, code, container={"resources": {"requests": {"cpu": "1500m"}}})
        core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod("first", phase_is("Running"))
    waiting = kube_api.wait_for_pod(
        "second", lambda pod: pod is not None and pod["status"].get("conditions")
    )
    assert waiting is not None
    assert waiting["status"]["conditions"][0]["message"] == (
        "0/1 nodes are available: 1 Insufficient cpu."
    )
    release.touch()
    kube_api.wait_for_pod("second", phase_is("Succeeded"))
