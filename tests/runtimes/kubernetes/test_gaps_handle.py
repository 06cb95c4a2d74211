"""``KubernetesLauncher.stop(record)`` from another process's launcher (the reclaimer's), a gap
of issue 12's audit (items 3 and 6), on the simulated cluster of ``tests/kube``, never a cluster
run: a launched handler's pod is deleted with its external pods (``pop.parent=<pod>``), in the
namespace its record names, not the stopping launcher's own; other pods stay.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pop.runtimes import LOST, LaunchRecord
from pop.runtimes.kubernetes.config import resolve_target
from pop.runtimes.kubernetes.launcher import KubernetesLauncher
from tests.runtimes.kubernetes import test_launcher
from tests.runtimes.kubernetes.test_launcher import IMAGE, program, run

make_launcher = test_launcher.make_launcher  # the fixture: launchers on the simulated cluster

SLEEP = ["python3", "-c", "import time; print('up', flush=True); time.sleep(60)"]


def sleeper(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": IMAGE, "command": SLEEP}],
        },
    }


def running(kube_api: Any, namespace: str, name: str) -> Any:
    return kube_api.wait_for_pod(
        name,
        lambda pod: pod is not None and pod["status"].get("phase") == "Running",
        namespace=namespace,
    )


def test_stop_of_a_launched_handler_deletes_its_external_pods_in_the_records_namespace(
    make_launcher: Any, kube_api: Any, kubelet: Any, core_v1: Any
) -> None:
    media, default = "media", kube_api.namespace
    # the executor that launched the handler ran in namespace `media`; the reclaimer's launcher
    # is built without one (its own namespace is the kubeconfig's, `pop`)
    executor = KubernetesLauncher(
        resolve_target({"kubeconfig": str(kube_api.kubeconfig), "namespace": media}, {}),
        retry_delay=0.05,
    )
    reclaimer = make_launcher()
    assert (executor.namespace, reclaimer.namespace) == (media, default)

    async def body() -> None:
        handle = await executor.launch(program("handler", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        parent = handle.record.ref
        assert handle.record.details["namespace"] == media
        external = {"pop.parent": parent, "pop.role": "external"}
        children = [
            (media, "ffmpeg-1", external),
            (media, "ffmpeg-2", external),
            (media, "someone-elses", {"pop.parent": "another-pod", "pop.role": "external"}),
            (default, "same-label-other-namespace", external),
        ]
        for namespace, name, labels in children:
            await asyncio.to_thread(core_v1.create_namespaced_pod, namespace, sleeper(name, labels))
        for namespace, name, _ in children:
            await asyncio.to_thread(running, kube_api, namespace, name)
        # the record as the attempt row stores it (JSON), read by another process
        record = LaunchRecord.from_json(handle.record.to_json())

        assert await reclaimer.stop(record, grace_seconds=1) is True

        for name in ("ffmpeg-1", "ffmpeg-2"):
            await asyncio.to_thread(
                kube_api.wait_for_pod, name, lambda pod: pod is None, namespace=media
            )
        assert kube_api.store.find("pods", media, parent) is None
        left = {
            (pod["metadata"]["namespace"], pod["metadata"]["name"])
            for pod in kube_api.store.items("pods")
        }
        assert left == {(media, "someone-elses"), (default, "same-label-other-namespace")}
        deletes = [
            (request.namespace, request.name)
            for request in kube_api.requests
            if request.verb in ("delete", "deletecollection")
        ]
        assert deletes and all(namespace == media for namespace, _ in deletes), deletes
        status = await handle.wait()
        assert status.reason == LOST and status.message == "pod deleted"
        await handle.cleanup()
        for namespace, name in left:
            await asyncio.to_thread(core_v1.delete_namespaced_pod, name, namespace)
        await executor.close()

    run(body())
