"""The kubelet simulator with its Docker runner: the pod's container runs on the real test
engine (busybox image), with statuses, logs, env, volumes and deletion as with local processes."""

from __future__ import annotations

from typing import Any

NAMESPACE = "pop"


def busybox_pod(name: str, image: str, script: str, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": ["sh", "-c", script],
                    "env": [
                        {
                            "name": "MY_POD_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        }
                    ],
                    **container,
                }
            ],
        },
    }


def ended(pod: Any) -> bool:
    return pod is not None and pod["status"].get("phase") in ("Succeeded", "Failed")


def test_a_container_on_the_engine_exits_3_logs_and_writes_to_its_work_volume(
    kube_api, docker_kubelet, core_v1, docker_engine, tmp_path
):
    work = tmp_path / "work"
    docker_kubelet.map_volume("persistentVolumeClaim", "pop-work", work)
    script = (
        'echo "hi from $MY_POD_NAME in $(pwd)"; echo done > out.txt; test -r "$KUBECONFIG"; exit 3'
    )
    pod = busybox_pod(
        "in-docker",
        docker_engine.busybox_image,
        script,
        workingDir="/work",
        volumeMounts=[{"name": "work", "mountPath": "/work", "subPath": "op-1"}],
    )
    pod["spec"]["volumes"] = [{"name": "work", "persistentVolumeClaim": {"claimName": "pop-work"}}]
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    final = kube_api.wait_for_pod("in-docker", ended, timeout=30)
    assert final is not None and final["status"]["phase"] == "Failed"
    state = final["status"]["containerStatuses"][0]["state"]["terminated"]
    assert state["exitCode"] == 3
    assert state["containerID"].startswith("docker://")
    assert core_v1.read_namespaced_pod_log("in-docker", NAMESPACE) == "hi from in-docker in /work\n"
    assert (work / "op-1" / "out.txt").read_text() == "done\n"


def test_deleting_a_pod_stops_and_removes_its_container(
    kube_api, docker_kubelet, core_v1, docker_engine
):
    pod = busybox_pod("sleeper", docker_engine.busybox_image, "echo up; sleep 60")
    core_v1.create_namespaced_pod(NAMESPACE, pod)
    kube_api.wait_for_pod(
        "sleeper", lambda pod: pod is not None and pod["status"].get("phase") == "Running"
    )
    run = docker_kubelet.run_of(NAMESPACE, "sleeper")
    assert run is not None
    core_v1.delete_namespaced_pod("sleeper", NAMESPACE, grace_period_seconds=1)
    kube_api.wait_for_pod("sleeper", lambda pod: pod is None, timeout=20)
    client = docker_engine.client()
    try:
        names = [c.name for c in client.containers.list(all=True, filters={"id": run.container.id})]
    finally:
        client.close()
    assert names == []
