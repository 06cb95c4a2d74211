"""Media handlers with ``--external-launch kubernetes`` on the simulated cluster (issue 12, item 5;
the API test server and kubelet simulator of ``tests/kube``, never a real cluster): the handlers
stay resident, each ffmpeg is a pod with the registry's ``external.ffmpeg`` fields and the
``workVolume``, inputs outside the work directory are copied into ``<work dir>/inputs/``, the
attempt names the pod while it runs, and a dead executor's ffmpeg pod is reclaimed.

The kubelet simulator runs each pod's command as a local process; ``ffmpeg`` on its PATH is the
binary pop finds here, so the renditions can be compared with a local run's."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from pop.handlers.media.ffmpeg import find_ffmpeg
from tests.conftest import wait_for
from tests.example_media import (
    TRANSCODE_EXAMPLE,
    filled,
    make_clip,
    recorded_externals,
    slow_transcode_agenda,
    transcode_rendition,
)
from tests.runtimes.kubernetes.conftest import mapped_work

EXAMPLE = TRANSCODE_EXAMPLE
REGISTRY = """\
workVolume:
  persistentVolumeClaim: {claimName: pop-work}
handlers:
  transcode:
    handler: pop.handlers.media.transcode:run
    resident: true
    external:
      ffmpeg: {image: "pop-ffmpeg:7", cpuMinRequestCount: "1.5", serviceAccountName: encoder}
"""


@pytest.fixture
def cluster(pop_home: Path, tmp_path: Path, kube_api: Any, kubelet: Any) -> dict[str, str]:
    """The simulated cluster with the work volume and ffmpeg on the kubelet's PATH; the env
    that points pop at it."""
    mapped_work(pop_home, kubelet)
    tools = tmp_path / "image-bin"
    tools.mkdir()
    (tools / "ffmpeg").symlink_to(find_ffmpeg())
    kubelet.extra_env["PATH"] = f"{tools}{os.pathsep}{os.environ['PATH']}"
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY)
    return {"KUBECONFIG": str(kube_api.kubeconfig), "POP_REGISTRY": str(registry)}


def ffmpeg_pods(kube_api: Any) -> list[dict[str, Any]]:
    return [
        pod
        for pod in kube_api.store.items("pods", kube_api.namespace)
        if pod["metadata"]["labels"].get("pop.role") == "external"
    ]


def running_ffmpeg_pods(kube_api: Any) -> list[dict[str, Any]]:
    return [
        pod
        for pod in ffmpeg_pods(kube_api)
        if (pod.get("status") or {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    ]


def test_each_ffmpeg_is_a_pod_with_its_registry_fields_and_matches_local(
    run_pop: Any, pop_home: Path, tmp_path: Path, kube_api: Any, cluster: dict[str, str]
) -> None:
    clips = tmp_path / "clips"  # outside the work directory: copied into it for the pods
    clips.mkdir()
    clip = make_clip(clips)
    agenda = filled(EXAMPLE, clip, tmp_path)

    local = run_pop("run-local", str(agenda), "--json", env={"POP_FFMPEG": find_ffmpeg()})
    on_cluster = run_pop(
        "run-local", str(agenda), "--external-launch", "kubernetes", "--keep", "--json",
        env=cluster, timeout=180,
    )  # fmt: skip

    assert local.returncode == 0, local.stderr
    assert on_cluster.returncode == 0, on_cluster.stderr
    progress = json.loads(on_cluster.stdout)
    assert transcode_rendition(progress) == transcode_rendition(json.loads(local.stdout))
    pods = ffmpeg_pods(kube_api)
    assert pods, "no ffmpeg pod"
    copies = list((pop_home / "work").glob("*/inputs/*"))  # in the agenda's work directory
    assert [copy.name.split("-", 1)[1] for copy in copies] == [clip.name]
    for pod in pods:
        labels = pod["metadata"]["labels"]
        assert labels["pop.operation"] == "transcode"
        assert labels["pop.agendaId"] == progress["agendaId"]
        (container,) = pod["spec"]["containers"]
        assert container["image"] == "pop-ffmpeg:7"
        assert container["command"][0] == "ffmpeg"  # the image's own, not a path of this host
        assert str(copies[0]) in container["command"] and str(clip) not in container["command"]
        assert container["resources"]["requests"]["cpu"] == "1500m"
        assert pod["spec"]["serviceAccountName"] == "encoder"
        assert any(volume["name"] == "pop-work" for volume in pod["spec"]["volumes"])
    recorded = {external["ref"] for external in recorded_externals(pop_home, progress["agendaId"])}
    assert {pod["metadata"]["name"] for pod in pods} == recorded


def test_without_a_work_volume_the_transcode_fails_naming_it(
    run_pop: Any, tmp_path: Path, cluster: dict[str, str]
) -> None:
    registry = tmp_path / "no-volume.yaml"
    registry.write_text(REGISTRY.split("handlers:", 1)[1].join(["handlers:", ""]))
    clips = tmp_path / "clips"
    clips.mkdir()
    agenda = filled(EXAMPLE, make_clip(clips), tmp_path)

    ran = run_pop(
        "run-local", str(agenda), "--external-launch", "kubernetes", "--json",
        env={**cluster, "POP_REGISTRY": str(registry)}, timeout=120,
    )  # fmt: skip

    assert ran.returncode != 0
    progress = json.loads(ran.stdout)
    (transcode,) = [op for op in progress["operationProgress"] if op["operation"] == "transcode"]
    assert transcode["processingState"] == "COMPLETE"
    assert transcode["attemptCount"] == 1  # permanent: not retried
    assert "workVolume" in json.dumps(transcode["diagnosticEvents"]), transcode


def test_a_dead_executors_ffmpeg_pod_is_deleted_by_reclaim_and_the_agenda_resumes(
    start_pop: Any,
    run_pop: Any,
    pop_home: Path,
    tmp_path: Path,
    kube_api: Any,
    cluster: dict[str, str],
) -> None:
    env = {**cluster, "POP_LEASE_SECONDS": "2"}
    process = start_pop(
        "run-local",
        str(slow_transcode_agenda(tmp_path)),
        "--external-launch",
        "kubernetes",
        env=env,
    )
    (pod,) = wait_for(lambda: running_ffmpeg_pods(kube_api), timeout=60, what="the ffmpeg pod")
    agenda_id = pod["metadata"]["labels"]["pop.agendaId"]
    refs = wait_for(
        lambda: {e["ref"] for e in recorded_externals(pop_home, agenda_id)},
        what="the external's record in the attempt row",
    )
    assert pod["metadata"]["name"] in refs  # named while it runs, not only after
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    time.sleep(2.5)  # the lease (2 s) lapses

    reclaimed = run_pop("reclaim", "--older-than", "0s", "--json", env=env)

    assert reclaimed.returncode == 0, reclaimed.stderr
    (result,) = json.loads(reclaimed.stdout)
    assert result["agendaId"] == agenda_id
    assert any(pod["metadata"]["name"] in stopped for stopped in result["stopped"])
    assert kube_api.count(verb="delete", resource="pods", name=pod["metadata"]["name"]) >= 1
    wait_for(lambda: not ffmpeg_pods(kube_api), what="the ffmpeg pod gone from the server")
    with sqlite3.connect(pop_home / "pop.db") as db:
        outcomes = db.execute(
            "SELECT outcome FROM attempts WHERE agenda_id = ? AND operation = 'transcode'",
            (agenda_id,),
        ).fetchall()
    assert outcomes == [("lost",)]
    resumed = run_pop("run-local", "--resume", agenda_id, "--json", env=cluster, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
