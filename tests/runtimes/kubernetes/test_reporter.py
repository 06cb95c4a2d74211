"""The annotation sink (pop.runtimes.kubernetes.reporter) against the Kubernetes API test server
(simulated cluster): merge patches of pop.report.* on the handler's own pod, throttled, retried,
failures as one warning."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pop.runtimes import create_report_sink
from pop.runtimes.kubernetes.reporter import (
    MERGE_PATCH,
    PAYLOAD_ANNOTATION,
    PROGRESS_ANNOTATION,
    AnnotationSink,
    SinkConfig,
    create_sink,
)
from tests.kube.server import POD_TOKEN, KubeApiServer

POD_USER = "system:serviceaccount:pop:default"


def seed(kube_api: KubeApiServer, name: str = "handler-1", namespace: str | None = None) -> None:
    kube_api.seed_pod(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "annotations": {"other": "kept"}},
            "spec": {"containers": [{"name": "main", "image": "pop-handlers:latest"}]},
        },
        namespace=namespace,
        status={"phase": "Running"},
    )


def annotations(kube_api: KubeApiServer, name: str = "handler-1", namespace: str = "pop") -> Any:
    """The pod's annotations, read from the store (no request counted)."""
    with kube_api.store.lock:
        pod = kube_api.store.objects[("pods", namespace, name)]
        return dict(pod["metadata"].get("annotations") or {})


def pod_env(kube_api: KubeApiServer, name: str = "handler-1", **extra: str) -> dict[str, str]:
    return {"MY_POD_NAME": name, "KUBECONFIG": str(kube_api.pod_kubeconfig), **extra}


def sink_for(kube_api: KubeApiServer, warnings: list[str], **options: Any) -> AnnotationSink:
    env = pod_env(kube_api)
    return AnnotationSink(SinkConfig("handler-1", None), env, warn=warnings.append, **options)


def progress(percent: float, state: str = "EXECUTING") -> str:
    return json.dumps({"processingState": state, "percentComplete": percent}, separators=(",", ":"))


def patches(kube_api: KubeApiServer) -> int:
    return kube_api.count(verb="patch", resource="pods", name="handler-1", user=POD_USER)


def test_no_sink_for_local_or_docker_or_without_a_pod_name(kube_api: KubeApiServer) -> None:
    env = pod_env(kube_api)
    assert create_report_sink("local", env) is None
    assert create_report_sink("docker", env) is None
    assert create_report_sink("kubernetes", {**env, "MY_POD_NAME": ""}) is None
    assert create_report_sink("kubernetes", {"KUBECONFIG": env["KUBECONFIG"]}) is None
    sink = create_report_sink("kubernetes", env)
    assert isinstance(sink, AnnotationSink)
    sink.close()
    assert kube_api.count() == 0  # building a sink never contacts the cluster


def test_the_final_report_is_merge_patched_before_report_returns(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings)
    final = progress(100.0, "COMPLETE")
    sink.report(final, '{"frames":12}', final=True)
    found = annotations(kube_api)  # at once: the patch is synchronous
    assert found[PROGRESS_ANNOTATION] == final
    assert found[PAYLOAD_ANNOTATION] == '{"frames":12}'
    assert found["other"] == "kept"  # a merge patch leaves other annotations alone
    sink.close()
    (request,) = [r for r in kube_api.requests if r.verb == "patch"]
    assert request.content_type == MERGE_PATCH
    assert request.user == POD_USER and request.namespace == "pop"
    assert warnings == []


def test_progress_is_throttled_with_a_trailing_flush(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings, interval_seconds=1.0)
    sink.report(progress(1.0), None)
    kube_api.wait_for_pod(
        "handler-1",
        lambda pod: bool(pod and PROGRESS_ANNOTATION in pod["metadata"].get("annotations", {})),
    )
    first = time.monotonic()
    for percent in range(2, 30):
        sink.report(progress(float(percent)), None)
        time.sleep(0.01)
    assert patches(kube_api) == 1
    assert annotations(kube_api)[PROGRESS_ANNOTATION] == progress(1.0)
    kube_api.wait_for_pod(
        "handler-1",
        lambda pod: bool(
            pod and pod["metadata"]["annotations"].get(PROGRESS_ANNOTATION) == progress(29.0)
        ),
        timeout=5,
    )
    assert time.monotonic() - first >= 0.7  # not before the interval has passed
    assert patches(kube_api) == 2  # the latest only: 2..28 were superseded
    sink.report(progress(29.0), None)  # no change: no patch
    time.sleep(1.3)
    assert patches(kube_api) == 2
    sink.report(progress(100.0, "COMPLETE"), "{}", final=True)  # never throttled
    assert patches(kube_api) == 3
    sink.report(progress(50.0), None)  # nothing after the final report
    sink.close()
    time.sleep(0.2)
    assert patches(kube_api) == 3
    assert annotations(kube_api)[PROGRESS_ANNOTATION] == progress(100.0, "COMPLETE")
    assert warnings == []


def test_close_flushes_a_pending_report(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings, interval_seconds=30.0)
    sink.report(progress(10.0), None)
    sink.report(progress(20.0), None)
    sink.close()
    assert annotations(kube_api)[PROGRESS_ANNOTATION] == progress(20.0)
    assert PAYLOAD_ANNOTATION not in annotations(kube_api)
    assert 1 <= patches(kube_api) <= 2


def test_each_patch_is_tried_three_times(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings, retry_delay_seconds=0.2)
    kube_api.fail_requests(2, 503, verb="patch")
    started = time.monotonic()
    sink.report(progress(100.0, "COMPLETE"), "{}", final=True)
    assert time.monotonic() - started >= 0.4  # two delays between the three tries
    assert patches(kube_api) == 3
    assert annotations(kube_api)[PROGRESS_ANNOTATION] == progress(100.0, "COMPLETE")
    assert warnings == []
    sink.close()


def test_a_failing_api_gives_one_warning_and_never_raises(kube_api: KubeApiServer) -> None:
    seed(kube_api)
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings, retry_delay_seconds=0.01, interval_seconds=0.05)
    kube_api.fail_requests(100, 503, verb="patch")
    sink.report(progress(10.0), None)
    time.sleep(0.3)
    sink.report(progress(100.0, "COMPLETE"), "{}", final=True)
    sink.close()
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("warning: cannot patch")
    assert "handler-1" in warnings[0] and "503" in warnings[0]
    assert patches(kube_api) == 6  # 3 tries of the progress, 3 of the final report


def test_a_missing_pod_is_not_retried(kube_api: KubeApiServer) -> None:
    warnings: list[str] = []
    sink = sink_for(kube_api, warnings, retry_delay_seconds=5.0)
    started = time.monotonic()
    sink.report(progress(100.0, "COMPLETE"), None, final=True)
    assert time.monotonic() - started < 4.0
    assert patches(kube_api) == 1
    assert len(warnings) == 1 and "404" in warnings[0]


def test_no_configuration_is_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    env = {"MY_POD_NAME": "handler-1", "HOME": str(tmp_path)}
    sink = create_sink(env, warn=warnings.append)
    assert sink is not None
    sink.report(progress(100.0, "COMPLETE"), "{}", final=True)
    sink.close()
    assert len(warnings) == 1
    assert "cannot patch pod annotations" in warnings[0]


def test_oauth_files_with_the_master_url(kube_api: KubeApiServer, tmp_path: Path) -> None:
    seed(kube_api)
    token = tmp_path / "token"
    token.write_text(POD_TOKEN + "\n")
    cert = tmp_path / "ca.crt"
    cert.write_text("unused over plain http\n")
    warnings: list[str] = []
    sink = create_report_sink(
        "kubernetes",
        {"MY_POD_NAME": "handler-1", "HOME": str(tmp_path)},
        oauth_cert_path=str(cert),
        oauth_token_path=str(token),
        master_url=kube_api.url,
        namespace="pop",
        warn=warnings.append,
    )
    assert sink is not None
    sink.report(progress(100.0, "COMPLETE"), '"done"', final=True)
    sink.close()
    assert warnings == []
    assert annotations(kube_api)[PAYLOAD_ANNOTATION] == '"done"'
    assert patches(kube_api) == 1


def test_the_namespace_comes_from_pod_namespace(kube_api: KubeApiServer) -> None:
    seed(kube_api, namespace="jobs")
    warnings: list[str] = []
    env = pod_env(kube_api, POD_NAMESPACE="jobs")
    sink = create_sink(env, warn=warnings.append)
    assert sink is not None
    sink.report(progress(100.0, "COMPLETE"), "{}", final=True)
    sink.close()
    assert warnings == []
    assert annotations(kube_api, namespace="jobs")[PROGRESS_ANNOTATION] == progress(
        100.0, "COMPLETE"
    )
