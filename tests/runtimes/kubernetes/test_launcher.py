"""The kubernetes launcher and its handle (issue 12, items 1 and 3) on the simulated cluster
(tests/kube: the API test server and the kubelet simulator), never a cluster run: pods as the
server saw them, exits, annotation reports, scheduling failures, deletion from outside, 410 Gone,
the request budget per op, API errors at the seam, stop from a record, listing and keep."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pop.errors import LaunchError, RuntimeUnavailableError
from pop.runtimes import CANCELLED, EXITED, LOST, LaunchRecord, LaunchSpec, Mount
from pop.runtimes.kubernetes.client import TokenBucket
from pop.runtimes.kubernetes.config import resolve_target
from pop.runtimes.kubernetes.follow import split_timestamp
from pop.runtimes.kubernetes.launcher import KubernetesLauncher

T = TypeVar("T")
IMAGE = "pop-test:1"
CLAIM = {"persistentVolumeClaim": {"claimName": "pop-work"}}
MERGE = "application/merge-patch+json"

# Prints its lines, then waits for the file named by RELEASE (if any), then exits.
PROGRAM = """
import json, os, sys, time
program = json.loads(os.environ["PROGRAM"])
for line in program["before"]:
    print(line, flush=True)
release, deadline = program.get("release"), time.monotonic() + program.get("seconds", 30)
while release and not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
if not release:
    time.sleep(program.get("seconds", 0))
for line in program["after"]:
    print(line, flush=True)
sys.exit(program["exitCode"])
"""


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=timeout))


def program(
    name: str,
    *,
    before: list[str] | None = None,
    after: list[str] | None = None,
    exit_code: int = 0,
    release: Path | None = None,
    seconds: float = 0,
    **changes: Any,
) -> LaunchSpec:
    described = {
        "before": before or [],
        "after": after or [],
        "exitCode": exit_code,
        "release": str(release) if release else None,
        "seconds": seconds if seconds or release is None else 30,
    }
    fields: dict[str, Any] = {
        "name": name,
        "command": ["python3", "-c", PROGRAM],
        "image": IMAGE,
        "env": {"PROGRAM": json.dumps(described)},
    }
    fields.update(changes)
    return LaunchSpec(**fields)


@pytest.fixture
def make_launcher(kube_api: Any, kubelet: Any) -> Iterator[Any]:
    """Launchers on the simulated cluster (fast retries), closed after the test."""
    made: list[KubernetesLauncher] = []

    def make(**options: Any) -> KubernetesLauncher:
        launcher = KubernetesLauncher(
            resolve_target({"kubeconfig": str(kube_api.kubeconfig)}, {}),
            retry_delay=0.05,
            timeout_grace_seconds=1.0,
            cleanup_grace_seconds=1.0,
            **options,
        )
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        asyncio.run(launcher.close())


async def collect(handle: Any) -> list[str]:
    return [line async for line in handle.lines()]


def stored_pod(kube_api: Any, name: str) -> Any:
    return kube_api.store.find("pods", kube_api.namespace, name)


def test_the_server_sees_the_pod_with_its_labels_env_and_work_volume(
    make_launcher: Any, kube_api: Any, kubelet: Any, tmp_path: Path
) -> None:
    work_root = tmp_path / "work"
    agenda_dir = work_root / "a1"
    agenda_dir.mkdir(parents=True)
    kubelet.map_volume("persistentVolumeClaim", "pop-work", work_root)
    launcher = make_launcher(work_root=str(work_root))

    async def body() -> None:
        spec = program(
            "pop-a1-sample-1",
            after=["done"],
            labels={"pop.agendaId": "a1", "pop.operation": "sample one"},
            mounts=(Mount(str(agenda_dir), str(agenda_dir)),),
            options={"workVolume": CLAIM},
        )
        handle = await launcher.launch(spec)
        pod = stored_pod(kube_api, handle.record.ref)
        labels = pod["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "pop"
        assert labels["pop.launcher"] == launcher.launcher_id
        assert labels["pop.agendaId"] == "a1"
        env = {item["name"]: item for item in pod["spec"]["containers"][0]["env"]}
        assert json.loads(env["PROGRAM"]["value"])["after"] == ["done"]
        assert env["MY_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
        assert volumes["pop-work"]["persistentVolumeClaim"] == {"claimName": "pop-work"}
        mount = pod["spec"]["containers"][0]["volumeMounts"][0]
        assert (mount["mountPath"], mount["subPath"]) == (str(agenda_dir), "a1")
        assert await collect(handle) == ["done"]
        assert (await handle.wait()).ok
        await handle.cleanup()
        assert stored_pod(kube_api, handle.record.ref) is None

    run(body())


def test_a_pod_exiting_3_without_a_report_ends_exited_3_with_its_log(make_launcher: Any) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("three", before=["one", "two"], exit_code=3))
        lines, status = await asyncio.gather(collect(handle), handle.wait())
        assert lines == ["one", "two"]
        assert (status.reason, status.code) == (EXITED, 3)
        await handle.cleanup()

    run(body())


def progress(percent: int, state: str = "EXECUTING", message: str = "working") -> str:
    return json.dumps(
        {"processingState": state, "processingStateMessage": message, "percentComplete": percent},
        separators=(",", ":"),
    )


def test_annotation_reports_become_progress_lines_and_complete_the_op(
    make_launcher: Any, kube_api: Any, core_v1: Any, tmp_path: Path
) -> None:
    launcher = make_launcher()
    release = tmp_path / "release"

    async def annotate(name: str, annotations: dict[str, str]) -> None:
        body = {"metadata": {"annotations": annotations}}
        await asyncio.to_thread(core_v1.patch_namespaced_pod, name, kube_api.namespace, body)

    async def body() -> None:
        handle = await launcher.launch(program("reporter", before=["up"], release=release))
        name = handle.record.ref
        lines = aiter(handle.lines())
        assert await anext(lines) == "up"
        for percent in (10, 50, 90):
            await annotate(name, {"pop.report.progress": progress(percent)})
            assert await anext(lines) == f"Progress: {progress(percent)}"
        # the same report again (another annotation changed) yields nothing new
        await annotate(name, {"other": "x"})
        final = progress(100, "COMPLETE", "succeeded")
        await annotate(name, {"pop.report.progress": final, "pop.report.payload": '{"n":1}'})
        assert await anext(lines) == f"Progress: {final}"
        assert await anext(lines) == 'Payload: {"n":1}'
        release.touch()
        rest = [line async for line in lines]
        assert rest == ["HandlerComplete"]
        assert (await handle.wait()).ok
        await handle.cleanup()

    run(body())


def test_a_pod_never_scheduled_is_deleted_and_lost_after_pod_scheduled_timeout(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()
    kube_api.make_unschedulable("0/1 nodes are available: 1 Insufficient cpu.")

    async def body() -> None:
        started = time.monotonic()
        handle = await launcher.launch(program("stuck", options={"podScheduledTimeoutMs": 2000}))
        status = await handle.wait()
        assert 1.5 < time.monotonic() - started < 15
        assert status.reason == LOST
        assert status.message == (
            "not scheduled within 2 s: 0/1 nodes are available: 1 Insufficient cpu."
        )
        assert stored_pod(kube_api, handle.record.ref) is None
        assert await collect(handle) == []
        await handle.cleanup()

    run(body())


def test_an_invalid_image_name_fails_at_once(make_launcher: Any, kube_api: Any) -> None:
    launcher = make_launcher()
    kube_api.fail_image("bad::image", "InvalidImageName", "couldn't parse image reference")

    async def body() -> None:
        started = time.monotonic()
        handle = await launcher.launch(program("bad-image", image="bad::image"))
        status = await handle.wait()
        assert time.monotonic() - started < 10  # not the 300-s scheduled timeout
        assert status.reason == LOST
        assert status.message == "InvalidImageName: couldn't parse image reference"
        assert stored_pod(kube_api, handle.record.ref) is None
        await handle.cleanup()

    run(body())


def test_a_pod_deleted_from_outside_is_lost_as_pod_deleted(
    make_launcher: Any, kube_api: Any, core_v1: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("victim", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        await asyncio.to_thread(
            core_v1.delete_namespaced_pod, handle.record.ref, kube_api.namespace
        )
        status = await handle.wait()
        assert (status.reason, status.message) == (LOST, "pod deleted")
        await handle.cleanup()

    run(body())


def test_a_410_mid_run_loses_no_transition(
    make_launcher: Any, kube_api: Any, tmp_path: Path
) -> None:
    launcher = make_launcher()
    release = tmp_path / "release"

    async def body() -> None:
        handle = await launcher.launch(
            program("relisted", before=["up"], after=["down"], exit_code=5, release=release)
        )
        lines = aiter(handle.lines())
        assert await anext(lines) == "up"
        lists = kube_api.count(verb="list", resource="pods")
        kube_api.store.compact(expire_watches=True)
        release.touch()
        status = await handle.wait()
        assert (status.reason, status.code) == (EXITED, 5)
        assert [line async for line in lines] == ["down"]
        assert kube_api.count(verb="list", resource="pods") > lists  # it listed again
        await handle.cleanup()

    run(body())


def test_a_broken_log_stream_is_reopened_without_repeating_lines(
    make_launcher: Any, kube_api: Any, tmp_path: Path
) -> None:
    launcher = make_launcher()
    release = tmp_path / "release"

    async def body() -> None:
        handle = await launcher.launch(
            program("broken", before=["a", "b"], after=["c"], release=release)
        )
        lines = aiter(handle.lines())
        assert [await anext(lines), await anext(lines)] == ["a", "b"]
        kube_api.break_streams()
        await asyncio.sleep(0.3)
        release.touch()
        assert [line async for line in lines] == ["c"]
        assert (await handle.wait()).ok
        await handle.cleanup()

    run(body())


@pytest.mark.parametrize("seconds", [1, 30])
def test_requests_naming_the_pod_stay_within_six_whatever_the_op_length(
    make_launcher: Any, kube_api: Any, seconds: int
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program(f"op-{seconds}", after=["x"], seconds=seconds))
        assert await collect(handle) == ["x"]
        assert (await handle.wait()).ok
        await handle.cleanup()
        # the create (its path names no pod), one log stream and the delete; a get only when
        # the watch's first list raced the create (it checks that the pod was not deleted)
        named = [request for request in kube_api.requests if request.name == handle.record.ref]
        naming = kube_api.count(verb="create", resource="pods") + len(named)
        assert naming <= 6, named
        assert kube_api.count(verb="get", resource="pods/log", name=handle.record.ref) == 1
        assert kube_api.count(verb="delete", resource="pods", name=handle.record.ref) == 1
        assert kube_api.count(verb="get", resource="pods", name=handle.record.ref) <= 1, named

    run(body(), timeout=seconds + 30)


def test_a_forbidden_create_is_runtime_unavailable_naming_the_rbac_rule(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()
    kube_api.forbid("create", "pods")

    async def body() -> None:
        with pytest.raises(RuntimeUnavailableError) as raised:
            await launcher.launch(program("refused"))
        assert "403" in str(raised.value)
        assert raised.value.hint is not None and "the Role needs pods: create" in raised.value.hint

    run(body())


def test_check_lists_one_pod_and_says_when_it_is_forbidden(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        await launcher.check()
        kube_api.forbid("list", "pods")
        with pytest.raises(RuntimeUnavailableError) as raised:
            await launcher.check()
        assert raised.value.hint is not None and "pods: list" in raised.value.hint

    run(body())


def test_check_asks_for_the_rights_the_list_does_not_exercise(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        kube_api.forbid("delete", "pods", by_policy=True)  # RBAC grants it: not the check's
        await launcher.check()
        assert kube_api.count(verb="create", resource="selfsubjectrulesreviews") == 1
        kube_api.forbid("create", "pods")
        kube_api.forbid("watch", "pods")
        with pytest.raises(RuntimeUnavailableError) as raised:
            await launcher.check()
        assert "forbids create on pods" in raised.value.message
        assert "lack pods: create, pods: watch" in raised.value.message
        assert raised.value.hint is not None and "the Role needs pods: create" in raised.value.hint
        # a server that will not answer the review: the list alone decides
        kube_api.forbid("create", "selfsubjectrulesreviews")
        await launcher.check()

    run(body())


def test_an_incomplete_or_wildcard_rules_review_misses_nothing() -> None:
    from pop.runtimes.kubernetes.launcher import missing_rights

    assert missing_rights({"incomplete": True, "resourceRules": []}) == []
    everything = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}
    assert missing_rights({"resourceRules": [everything]}) == []
    named_only = {"verbs": ["*"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]}
    pods_only = {"verbs": ["get", "list", "watch", "create", "delete"], "apiGroups": [""],
                 "resources": ["pods"]}  # fmt: skip
    assert missing_rights({"resourceRules": [named_only]})[0] == ("pods", "create")
    assert missing_rights({"resourceRules": [pods_only]}) == [("pods/log", "get")]


def test_an_invalid_pod_is_a_permanent_launch_error_with_the_api_message(
    make_launcher: Any,
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        with pytest.raises(LaunchError) as raised:
            await launcher.launch(program("invalid", memory="lots"))
        assert raised.value.permanent
        assert "lots" in str(raised.value)

    run(body())


def test_server_errors_are_retried(make_launcher: Any, kube_api: Any) -> None:
    launcher = make_launcher()
    kube_api.fail_requests(2, 503, verb="create")

    async def body() -> None:
        handle = await launcher.launch(program("retried"))
        assert (await handle.wait()).ok
        await handle.cleanup()

    run(body())


def test_a_taken_name_gets_a_suffix(make_launcher: Any, kube_api: Any) -> None:
    launcher = make_launcher()

    async def body() -> None:
        first = await launcher.launch(program("same", seconds=1))
        second = await launcher.launch(program("same"))
        assert first.record.ref == "same"
        assert second.record.ref.startswith("same-") and len(second.record.ref) == 9
        for handle in (first, second):
            assert (await handle.wait()).ok
            await handle.cleanup()

    run(body())


def test_stop_from_a_json_record_deletes_that_pod_only(make_launcher: Any, kube_api: Any) -> None:
    launcher, reclaimer = make_launcher(), make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("adopted", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        record = LaunchRecord.from_json(json.loads(json.dumps(handle.record.to_json())))
        assert set(record.details) == {"namespace", "uid", "server", "name"}
        other_uid = LaunchRecord(record.runtime, record.ref, {**record.details, "uid": "x"})
        assert await reclaimer.stop(other_uid, grace_seconds=1) is False
        other_server = LaunchRecord(
            record.runtime, record.ref, {**record.details, "server": "https://elsewhere:6443"}
        )
        assert await reclaimer.stop(other_server, grace_seconds=1) is False
        assert stored_pod(kube_api, record.ref) is not None
        assert await reclaimer.stop(record, grace_seconds=1) is True
        status = await handle.wait()
        assert status.reason == LOST and not status.ok
        await handle.cleanup()
        assert await reclaimer.stop(record, grace_seconds=1) is False

    run(body())


def test_cancel_deletes_the_pod_and_its_external_pods(
    make_launcher: Any, kube_api: Any, core_v1: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("parent", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        child = {
            "metadata": {"name": "child", "labels": {"pop.parent": handle.record.ref}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": IMAGE,
                        "command": ["python3", "-c", "import time; time.sleep(60)"],
                    }
                ],
            },
        }
        await asyncio.to_thread(core_v1.create_namespaced_pod, kube_api.namespace, child)
        await asyncio.to_thread(
            kube_api.wait_for_pod, "child", lambda pod: pod and pod["status"].get("phase")
        )
        await handle.cancel(grace_seconds=5)
        assert (await handle.wait()).reason == CANCELLED
        await handle.cleanup()
        await asyncio.to_thread(kube_api.wait_for_pod, "child", lambda pod: pod is None)
        assert stored_pod(kube_api, handle.record.ref) is None

    run(body())


def test_kept_pods_are_listed_and_removed(make_launcher: Any, kube_api: Any) -> None:
    launcher = make_launcher(keep=True)

    async def body() -> None:
        handle = await launcher.launch(program("kept", exit_code=2))
        assert (await handle.wait()).code == 2
        await handle.cleanup()
        assert stored_pod(kube_api, "kept") is not None
        infos = {info.record.ref: info for info in await launcher.list_launches()}
        info = infos["kept"]
        assert not info.running
        assert info.finished_at is not None and abs(info.finished_at - time.time()) < 30
        assert info.record.details["uid"] == handle.record.details["uid"]
        assert info.labels["app.kubernetes.io/managed-by"] == "pop"
        await launcher.remove(info.record)
        await launcher.remove(info.record)  # already gone: no error
        assert stored_pod(kube_api, "kept") is None
        assert await launcher.list_launches() == []

    run(body())


def test_a_running_pod_is_listed_as_running(make_launcher: Any) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("busy", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        (info,) = await launcher.list_launches()
        assert info.running and info.finished_at is None
        await handle.cancel(grace_seconds=1)
        await handle.cleanup()

    run(body())


def test_the_python_of_the_capabilities_is_the_images(make_launcher: Any) -> None:
    capabilities = make_launcher().capabilities
    assert (capabilities.host_cpus, capabilities.python, capabilities.images) == (
        False,
        "python3",
        True,
    )
    assert sys.executable  # the kubelet simulator maps python3 to this interpreter


@pytest.mark.parametrize("failure", [503, "drop"])
def test_a_watch_that_cannot_come_back_ends_the_pod_lost_as_cluster_unreachable(
    make_launcher: Any, kube_api: Any, failure: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(program("cut-off", before=["up"], seconds=60))
        assert await anext(aiter(handle.lines())) == "up"
        kube_api.fail_requests(10_000, failure, verb="watch")
        kube_api.break_streams()
        status = await handle.wait()
        assert status.reason == LOST
        assert status.message.startswith("cluster unreachable")
        await handle.cleanup()  # the delete still gets through
        assert stored_pod(kube_api, handle.record.ref) is None

    run(body())


def test_an_image_pull_error_counts_against_the_scheduled_timeout(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()
    kube_api.fail_image("nowhere:1", "ErrImagePull", "pull access denied")

    async def body() -> None:
        spec = program("no-pull", image="nowhere:1", options={"podScheduledTimeoutMs": 1000})
        handle = await launcher.launch(spec)
        status = await handle.wait()
        assert status.reason == LOST
        assert status.message == "not scheduled within 1 s: ErrImagePull: pull access denied"
        assert stored_pod(kube_api, handle.record.ref) is None
        await handle.cleanup()

    run(body())


def test_a_timeout_deletes_the_pod_and_says_after_how_long(
    make_launcher: Any, kube_api: Any
) -> None:
    launcher = make_launcher()

    async def body() -> None:
        handle = await launcher.launch(
            program("slow", before=["up"], seconds=60, timeout_seconds=0.5)
        )
        status = await handle.wait()
        assert (status.reason, status.message) == ("timeout", "timed out after 0.5 s")
        assert await collect(handle) == ["up"]
        await handle.cleanup()
        assert stored_pod(kube_api, handle.record.ref) is None

    run(body())


def test_a_refused_token_is_runtime_unavailable(kube_api: Any) -> None:
    kubeconfig = kube_api.write_kubeconfig("bad-token", token="not-the-token")
    launcher = KubernetesLauncher(
        resolve_target({"kubeconfig": str(kubeconfig)}, {}), retry_delay=0.05
    )

    async def body() -> None:
        with pytest.raises(RuntimeUnavailableError, match="401"):
            await launcher.check()
        await launcher.close()

    run(body())


def test_an_unreachable_server_is_runtime_unavailable_after_the_retries(
    kube_api: Any, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "nowhere"
    kubeconfig.write_text(
        kube_api.kubeconfig.read_text().replace(kube_api.url, "http://127.0.0.1:9")
    )
    launcher = KubernetesLauncher(
        resolve_target({"kubeconfig": str(kubeconfig)}, {}), retry_delay=0.01
    )

    async def body() -> None:
        with pytest.raises(RuntimeUnavailableError, match="cannot reach Kubernetes"):
            await launcher.check()
        await launcher.close()

    run(body())


def test_the_token_bucket_allows_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(20, 30)
    assert [bucket.reserve() for _ in range(30)] == [0.0] * 30
    assert 0.04 < bucket.reserve() <= 0.05
    assert 0.09 < bucket.reserve() <= 0.1


def test_log_timestamps_are_split_from_their_lines() -> None:
    moment, line = split_timestamp("2019-08-26T23:19:30.381101127Z hello world")
    assert line == "hello world"
    assert moment is not None and moment.timestamp() * 1000 == pytest.approx(1566861570381.101)
    assert split_timestamp("2019-08-26T23:19:30.381Zextra") == (
        None,
        "2019-08-26T23:19:30.381Zextra",
    )
    assert split_timestamp("plain line") == (None, "plain line")


def test_one_watch_follows_many_pods_at_once(make_launcher: Any, kube_api: Any) -> None:
    launcher = make_launcher()

    async def one(number: int) -> tuple[list[str], int | None]:
        handle = await launcher.launch(
            program(f"many-{number}", after=[f"n{number}"], exit_code=number, seconds=0.5)
        )
        lines, status = await asyncio.gather(collect(handle), handle.wait())
        await handle.cleanup()
        return lines, status.code

    async def body() -> None:
        results = await asyncio.gather(*(one(number) for number in range(8)))
        assert results == [([f"n{number}"], number) for number in range(8)]
        assert kube_api.count(verb="watch", resource="pods") == 1

    run(body())
