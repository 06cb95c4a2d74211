"""A launched handler on kubernetes tees its stdout reports into pod annotations
(pop.report.progress / pop.report.payload) on the Kubernetes API test server (simulated cluster):
the final report is on its pod before HandlerComplete; stdout stays as it was."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pop.handlers.context import HandlerContext
from pop.handlers.entry import run_handler
from pop.runtimes.kubernetes import reporter
from tests.handlers.conftest import REPO_ROOT
from tests.kube import fixtures as kube_fixtures
from tests.kube.kubelet import KubeletSimulator
from tests.kube.server import KubeApiServer

# the simulated cluster's fixtures (tests/handlers/conftest.py is not ours to extend)
kube_api = kube_fixtures.kube_api
kubelet = kube_fixtures.kubelet
core_v1 = kube_fixtures.core_v1

POD_USER = "system:serviceaccount:pop:default"
PROGRESS = reporter.PROGRESS_ANNOTATION
PAYLOAD = reporter.PAYLOAD_ANNOTATION


def reports(ctx: HandlerContext) -> Any:
    for percent in (10, 50, 90):
        ctx.progress(percent, f"at {percent}")
    return {"frames": 3}


def seed(kube_api: KubeApiServer, name: str = "handler-1") -> None:
    kube_api.seed_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "main", "image": "pop-handlers:latest"}]},
        },
        status={"phase": "Running"},
    )


def annotations(kube_api: KubeApiServer, name: str = "handler-1") -> dict[str, str]:
    with kube_api.store.lock:
        pod = kube_api.store.objects[("pods", kube_api.namespace, name)]
        return dict(pod["metadata"].get("annotations") or {})


class SnapshotAtComplete(io.StringIO):
    """A stdout that reads the pod's annotations when HandlerComplete is written."""

    def __init__(self, kube_api: KubeApiServer) -> None:
        super().__init__()
        self.kube_api = kube_api
        self.at_complete: dict[str, str] | None = None

    def write(self, text: str) -> int:
        if text.startswith("HandlerComplete"):
            self.at_complete = annotations(self.kube_api)
        return super().write(text)


def pod_env(kube_api: KubeApiServer, **extra: str) -> dict[str, str]:
    return {
        "MY_POD_NAME": "handler-1",
        "KUBECONFIG": str(kube_api.pod_kubeconfig),
        "PAYLOAD": "{}",
        **extra,
    }


def final_lines(lines: list[str]) -> tuple[str, str]:
    payload = next(line for line in lines if line.startswith("Payload: "))
    progress = [line for line in lines if line.startswith("Progress: ")][-1]
    return progress[len("Progress: ") :], payload[len("Payload: ") :]


def test_the_final_report_is_on_the_pod_before_handler_complete(
    kube_api: KubeApiServer,
) -> None:
    seed(kube_api)
    stdout = SnapshotAtComplete(kube_api)
    code = run_handler(reports, ["--launchType", "kubernetes"], pod_env(kube_api), stdout=stdout)
    assert code == 0
    lines = stdout.getvalue().splitlines()
    assert lines[-1] == "HandlerComplete"
    progress, payload = final_lines(lines)
    assert stdout.at_complete is not None
    assert stdout.at_complete[PROGRESS] == progress
    assert stdout.at_complete[PAYLOAD] == payload == '{"frames":3}'
    assert json.loads(progress)["processingStateMessage"] == "succeeded"
    # 10/50/90 within 2 s: at most the first one, then the final one
    assert 1 <= kube_api.count(verb="patch", resource="pods", user=POD_USER) <= 2
    assert kube_api.count(verb="patch") == kube_api.count()  # nothing but patches


def test_stdout_is_the_same_with_and_without_the_sink(
    kube_api: KubeApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(kube_api)
    outputs = []
    for launch_type in ("local", "kubernetes"):
        stdout = io.StringIO()
        assert (
            run_handler(reports, ["--launchType", launch_type], pod_env(kube_api), stdout=stdout)
            == 0
        )
        outputs.append(
            [
                {k: v for k, v in json.loads(line[10:]).items() if not k.endswith("Time")}
                if line.startswith("Progress: ")
                else line
                for line in stdout.getvalue().splitlines()
            ]
        )
    assert outputs[0] == outputs[1]
    assert "warning" not in capsys.readouterr().err


def test_a_failing_api_gives_one_warning_and_the_handler_succeeds(
    kube_api: KubeApiServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporter, "RETRY_DELAY_SECONDS", 0.05)
    seed(kube_api)
    kube_api.fail_requests(100, 503, verb="patch")
    stdout = io.StringIO()
    code = run_handler(reports, ["--launchType", "kubernetes"], pod_env(kube_api), stdout=stdout)
    assert code == 0
    assert stdout.getvalue().splitlines()[-1] == "HandlerComplete"
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1, warnings
    assert "cannot patch" in warnings[0] and "handler-1" in warnings[0]
    assert PROGRESS not in annotations(kube_api)


@pytest.mark.parametrize("launch_type", ["local", "docker"])
def test_no_annotation_reports_off_kubernetes(kube_api: KubeApiServer, launch_type: str) -> None:
    seed(kube_api)
    stdout = io.StringIO()
    assert (
        run_handler(reports, ["--launchType", launch_type], pod_env(kube_api), stdout=stdout) == 0
    )
    assert kube_api.count() == 0


def test_no_annotation_reports_without_a_pod_name(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    stdout = io.StringIO()
    env = pod_env(kube_api, MY_POD_NAME="")
    assert run_handler(reports, ["--launchType", "kubernetes"], env, stdout=stdout) == 0
    assert kube_api.count() == 0


HANDLER_MODULE = """
import time

def run(ctx):
    ctx.progress(10, "ten")
    time.sleep(0.3)
    ctx.progress(50, "fifty")
    time.sleep(0.3)
    ctx.progress(90, "ninety")
    time.sleep(2.5)
    return {"done": True}
"""


def test_a_handler_pod_patches_itself_at_most_once_per_2_s_plus_the_final_report(
    kube_api: KubeApiServer, kubelet: KubeletSimulator, core_v1: Any, tmp_path: Path
) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "slow_reports.py").write_text(HANDLER_MODULE)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "handler-pod"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "pop-handlers:latest",
                    "command": ["python3", "-m", "pop.handlers", "slow_reports:run"],
                    "args": ["--launchType", "kubernetes"],
                    "env": [
                        {
                            "name": "MY_POD_NAME",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                        },
                        {"name": "PYTHONPATH", "value": f"{modules}:{REPO_ROOT}"},
                        {"name": "PAYLOAD", "value": "{}"},
                    ],
                }
            ],
        },
    }
    started = time.monotonic()
    core_v1.create_namespaced_pod(kube_api.namespace, manifest)
    pod = kube_api.wait_for_pod(
        "handler-pod",
        lambda pod: bool(pod and pod["status"].get("phase") in ("Succeeded", "Failed")),
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert pod is not None and pod["status"]["phase"] == "Succeeded", pod
    log = core_v1.read_namespaced_pod_log("handler-pod", kube_api.namespace)
    lines = [line for line in log.splitlines() if line]
    assert lines[-1] == "HandlerComplete", log
    progress, payload = final_lines(lines)
    found = pod["metadata"]["annotations"]
    assert found[PROGRESS] == progress
    assert found[PAYLOAD] == payload == '{"done":true}'
    patches = kube_api.count(verb="patch", resource="pods", name="handler-pod", user=POD_USER)
    # 10 at once, 90 as the trailing flush 2 s later, then the final report (on a machine so
    # busy that the first patch takes seconds, the final report supersedes the trailing one)
    assert 2 <= patches <= 3, (patches, elapsed)
    assert patches <= int(elapsed / reporter.INTERVAL_SECONDS) + 2
