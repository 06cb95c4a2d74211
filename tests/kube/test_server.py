"""The Kubernetes API test server through the official ``kubernetes`` client: CRUD with the real
API's error bodies, selectors, paging, watch with resourceVersion and 410, patches, deletes with
preconditions, auth and failure hooks, the request counter."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiException

from tests.kube.server import POD_TOKEN, api_client_for

NAMESPACE = "pop"
MERGE = "application/merge-patch+json"


def manifest(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["true"]}],
            **spec,
        },
    }


def status_body(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == error.status
    return body


def names(pods: client.V1PodList) -> list[str]:
    return [pod.metadata.name for pod in pods.items]


def test_a_created_pod_gets_uid_timestamp_resource_version_and_pending(core_v1):
    created = core_v1.create_namespaced_pod(NAMESPACE, manifest("hello", {"app": "pop"}))
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert int(created.metadata.resource_version) > 0
    assert created.metadata.namespace == NAMESPACE
    assert created.status.phase == "Pending"
    read = core_v1.read_namespaced_pod("hello", NAMESPACE)
    assert read.metadata.uid == created.metadata.uid
    assert read.spec.containers[0].command == ["true"]


def test_a_name_clash_is_409_already_exists(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("twice"))
    with pytest.raises(ApiException) as caught:
        core_v1.create_namespaced_pod(NAMESPACE, manifest("twice"))
    body = status_body(caught.value)
    assert caught.value.status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'pods "twice" already exists'
    assert body["details"] == {"name": "twice", "kind": "pods"}


@pytest.mark.parametrize(
    ("pod", "field", "message_part"),
    [
        (manifest("Bad_Name"), "metadata.name", "a lowercase RFC 1123 subdomain"),
        (manifest("x" * 254), "metadata.name", "RFC 1123"),
        (manifest("ok", {"pop.agendaId": "has space"}), "metadata.labels", "a valid label"),
        (manifest("no-containers", containers=[]), "spec.containers", "Required value"),
    ],
)
def test_an_invalid_pod_is_422_invalid_naming_the_field(core_v1, pod, field, message_part):
    with pytest.raises(ApiException) as caught:
        core_v1.create_namespaced_pod(NAMESPACE, pod)
    body = status_body(caught.value)
    assert caught.value.status == 422
    assert body["reason"] == "Invalid"
    assert body["message"].startswith(f'Pod "{pod["metadata"]["name"]}" is invalid: {field}')
    assert message_part in body["message"]
    assert body["details"]["causes"][0]["field"] == field
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []


def test_a_missing_pod_is_404_not_found_on_get_delete_patch_and_log(core_v1):
    calls = [
        lambda: core_v1.read_namespaced_pod("nope", NAMESPACE),
        lambda: core_v1.delete_namespaced_pod("nope", NAMESPACE),
        lambda: core_v1.patch_namespaced_pod("nope", NAMESPACE, {}, _content_type=MERGE),
        lambda: core_v1.read_namespaced_pod_log("nope", NAMESPACE),
    ]
    for call in calls:
        with pytest.raises(ApiException) as caught:
            call()
        body = status_body(caught.value)
        assert (caught.value.status, body["reason"]) == (404, "NotFound")
        assert body["message"] == 'pods "nope" not found'


def test_lists_filter_by_label_selectors(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("a", {"app": "pop", "tier": "x"}))
    core_v1.create_namespaced_pod(NAMESPACE, manifest("b", {"app": "pop", "tier": "y"}))
    core_v1.create_namespaced_pod(NAMESPACE, manifest("c", {"app": "other"}))
    cases = {
        "app=pop": ["a", "b"],
        "app==pop,tier=y": ["b"],
        "app!=pop": ["c"],
        "tier": ["a", "b"],
        "!tier": ["c"],
        "tier in (x, z)": ["a"],
        "app notin (pop)": ["c"],
        "": ["a", "b", "c"],
    }
    for selector, expected in cases.items():
        assert names(core_v1.list_namespaced_pod(NAMESPACE, label_selector=selector)) == expected


def test_lists_filter_by_field_selectors_on_name_and_phase(core_v1):
    for name in ("a", "b", "c"):
        core_v1.create_namespaced_pod(NAMESPACE, manifest(name))
    core_v1.patch_namespaced_pod_status(
        "b", NAMESPACE, {"status": {"phase": "Running"}}, _content_type=MERGE
    )
    by_field = lambda selector: names(  # noqa: E731 - a table of one-liners
        core_v1.list_namespaced_pod(NAMESPACE, field_selector=selector)
    )
    assert by_field("metadata.name=a") == ["a"]
    assert by_field("status.phase=Running") == ["b"]
    assert by_field("status.phase!=Running") == ["a", "c"]
    assert by_field("status.phase!=Running,metadata.name=c") == ["c"]
    with pytest.raises(ApiException) as caught:
        by_field("spec.unknown=1")
    assert caught.value.status == 400


def test_lists_page_with_limit_and_continue_and_carry_a_resource_version(core_v1):
    for index in range(5):
        core_v1.create_namespaced_pod(NAMESPACE, manifest(f"pod-{index}"))
    first = core_v1.list_namespaced_pod(NAMESPACE, limit=2)
    assert names(first) == ["pod-0", "pod-1"]
    assert first.metadata.remaining_item_count == 3
    second = core_v1.list_namespaced_pod(NAMESPACE, limit=2, _continue=first.metadata._continue)
    third = core_v1.list_namespaced_pod(NAMESPACE, limit=2, _continue=second.metadata._continue)
    assert names(second) + names(third) == ["pod-2", "pod-3", "pod-4"]
    assert third.metadata._continue is None
    assert int(first.metadata.resource_version) >= 6


def test_a_watch_from_a_resource_version_sees_added_modified_deleted_in_order(kube_api, core_v1):
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    core_v1.create_namespaced_pod(NAMESPACE, manifest("w", {"app": "pop"}))
    core_v1.patch_namespaced_pod(
        "w", NAMESPACE, {"metadata": {"labels": {"step": "1"}}}, _content_type=MERGE
    )
    core_v1.delete_namespaced_pod("w", NAMESPACE)  # never scheduled: removed at once
    events = [
        (event["type"], event["object"].metadata.name, event["object"].metadata.labels)
        for event in watch.Watch().stream(
            core_v1.list_namespaced_pod,
            NAMESPACE,
            label_selector="app=pop",
            resource_version=start,
            timeout_seconds=1,
        )
    ]
    assert [kind for kind, _, _ in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1][2] == {"app": "pop", "step": "1"}


def test_a_watch_without_resource_version_starts_with_the_current_objects(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("there", {"app": "pop"}))
    core_v1.create_namespaced_pod(NAMESPACE, manifest("elsewhere", {"app": "other"}))
    stream = watch.Watch().stream(
        core_v1.list_namespaced_pod, NAMESPACE, label_selector="app=pop", timeout_seconds=1
    )
    assert [(e["type"], e["object"].metadata.name) for e in stream] == [("ADDED", "there")]


def test_a_watch_reports_deleted_when_a_pod_stops_matching_its_selector(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("leaver", {"app": "pop"}))
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    core_v1.patch_namespaced_pod(
        "leaver", NAMESPACE, {"metadata": {"labels": {"app": None}}}, _content_type=MERGE
    )
    events = watch.Watch().stream(
        core_v1.list_namespaced_pod,
        NAMESPACE,
        label_selector="app=pop",
        resource_version=start,
        timeout_seconds=1,
    )
    assert [event["type"] for event in events] == ["DELETED"]


def test_a_compacted_history_gives_410_and_a_relist_resumes(kube_api, core_v1):
    old = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    core_v1.create_namespaced_pod(NAMESPACE, manifest("before"))
    kube_api.store.compact()
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                core_v1.list_namespaced_pod, NAMESPACE, resource_version=old, timeout_seconds=1
            )
        )
    assert caught.value.status == 410
    assert "Expired: too old resource version" in caught.value.reason
    relisted = core_v1.list_namespaced_pod(NAMESPACE)
    assert names(relisted) == ["before"]
    core_v1.create_namespaced_pod(NAMESPACE, manifest("after"))
    resumed = watch.Watch().stream(
        core_v1.list_namespaced_pod,
        NAMESPACE,
        resource_version=relisted.metadata.resource_version,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"].metadata.name) for e in resumed] == [("ADDED", "after")]


def test_a_forced_compaction_ends_an_open_watch_with_410(kube_api, core_v1):
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    stream = watch.Watch().stream(
        core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=5
    )
    core_v1.create_namespaced_pod(NAMESPACE, manifest("first"))
    assert next(stream)["object"].metadata.name == "first"
    kube_api.store.compact(expire_watches=True)
    with pytest.raises(ApiException) as caught:
        next(stream)
    assert caught.value.status == 410


def test_a_merge_patch_of_annotations_shows_in_a_watch_event(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("noted"))
    start = core_v1.read_namespaced_pod("noted", NAMESPACE).metadata.resource_version
    patch = {"metadata": {"annotations": {"pop.report.progress": '{"percent": 50}'}}}
    patched = core_v1.patch_namespaced_pod("noted", NAMESPACE, patch, _content_type=MERGE)
    assert patched.metadata.annotations == {"pop.report.progress": '{"percent": 50}'}
    core_v1.patch_namespaced_pod(
        "noted",
        NAMESPACE,
        {"metadata": {"annotations": {"pop.report.progress": None, "b": "2"}}},
        _content_type="application/strategic-merge-patch+json",
    )
    events = list(
        watch.Watch().stream(
            core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
        )
    )
    assert [event["type"] for event in events] == ["MODIFIED", "MODIFIED"]
    assert events[0]["object"].metadata.annotations == {"pop.report.progress": '{"percent": 50}'}
    assert events[1]["object"].metadata.annotations == {"b": "2"}


def test_the_clients_default_patch_types_are_strategic_merge_for_objects_json_patch_for_lists(
    kube_api, core_v1
):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("typed"))
    core_v1.patch_namespaced_pod("typed", NAMESPACE, {"metadata": {"labels": {"a": "b"}}})
    operations = [{"op": "add", "path": "/metadata/labels/c", "value": "d"}]
    patched = core_v1.patch_namespaced_pod("typed", NAMESPACE, operations)
    assert patched.metadata.labels == {"a": "b", "c": "d"}
    assert [request.content_type for request in kube_api.requests if request.verb == "patch"] == [
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
    ]
    with pytest.raises(ApiException) as caught:
        core_v1.patch_namespaced_pod(
            "typed", NAMESPACE, operations, _content_type="application/apply-patch+yaml"
        )
    assert caught.value.status == 415


def test_a_pod_spec_change_is_422_and_status_only_changes_through_the_subresource(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("fixed"))
    with pytest.raises(ApiException) as caught:
        core_v1.patch_namespaced_pod(
            "fixed", NAMESPACE, {"spec": {"restartPolicy": "Always"}}, _content_type=MERGE
        )
    assert caught.value.status == 422
    ignored = core_v1.patch_namespaced_pod(
        "fixed", NAMESPACE, {"status": {"phase": "Running"}}, _content_type=MERGE
    )
    assert ignored.status.phase == "Pending"


def test_delete_with_a_wrong_uid_precondition_is_409_conflict(core_v1):
    uid = core_v1.create_namespaced_pod(NAMESPACE, manifest("guarded")).metadata.uid
    wrong = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="0000"))
    with pytest.raises(ApiException) as caught:
        core_v1.delete_namespaced_pod("guarded", NAMESPACE, body=wrong)
    body = status_body(caught.value)
    assert (caught.value.status, body["reason"]) == (409, "Conflict")
    assert f"UID in precondition: 0000, UID in object meta: {uid}" in body["message"]
    right = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid))
    core_v1.delete_namespaced_pod("guarded", NAMESPACE, body=right)
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []


def test_configmaps_are_created_read_listed_and_deleted(core_v1):
    config_map = {"metadata": {"name": "registry", "labels": {"app": "pop"}}, "data": {"a": "1"}}
    core_v1.create_namespaced_config_map(NAMESPACE, config_map)
    assert core_v1.read_namespaced_config_map("registry", NAMESPACE).data == {"a": "1"}
    listed = core_v1.list_namespaced_config_map(NAMESPACE, label_selector="app=pop")
    assert [item.metadata.name for item in listed.items] == ["registry"]
    status = core_v1.delete_namespaced_config_map("registry", NAMESPACE)
    assert status["status"] == "Success"
    with pytest.raises(ApiException) as caught:
        core_v1.read_namespaced_config_map("registry", NAMESPACE)
    assert status_body(caught.value)["message"] == 'configmaps "registry" not found'


def test_a_wrong_token_is_401_unauthorized(kube_api):
    wrong = kube_api.write_kubeconfig("wrong-token", token="wrong")
    api_client = api_client_for(kube_api, kubeconfig=wrong)
    try:
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(api_client).list_namespaced_pod(NAMESPACE)
    finally:
        api_client.close()
    assert (caught.value.status, status_body(caught.value)["reason"]) == (401, "Unauthorized")


def test_a_forbidden_verb_is_403_naming_the_verb_and_resource(kube_api, core_v1):
    kube_api.forbid("create", "pods")
    kube_api.forbid("get", "pods/log")
    with pytest.raises(ApiException) as caught:
        core_v1.create_namespaced_pod(NAMESPACE, manifest("denied"))
    body = status_body(caught.value)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'pods is forbidden: User "test-user" cannot create resource "pods" in API group "" in '
        'the namespace "pop"'
    )
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []  # list still allowed
    with pytest.raises(ApiException) as caught:
        core_v1.read_namespaced_pod_log("any", NAMESPACE)
    assert 'cannot get resource "pods" in subresource "log"' in status_body(caught.value)["message"]
    kube_api.allow_all()
    core_v1.create_namespaced_pod(NAMESPACE, manifest("allowed"))


def test_the_failure_hook_answers_5xx_and_429_for_n_requests(kube_api, core_v1):
    kube_api.fail_requests(1, 503)
    kube_api.fail_requests(1, 500, verb="list")
    kube_api.fail_requests(4, 429, verb="list", retry_after=0)
    for status, reason in (
        (503, "ServiceUnavailable"),
        (500, "InternalError"),
        (429, "TooManyRequests"),
    ):
        with pytest.raises(ApiException) as caught:
            core_v1.list_namespaced_pod(NAMESPACE)
        assert (caught.value.status, status_body(caught.value)["reason"]) == (status, reason)
    # urllib3 itself retried the 429 (it carries Retry-After) three times
    assert kube_api.count("list", "pods") == 6
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []


def test_a_429_with_retry_after_is_retried_by_the_client_itself(kube_api, core_v1):
    kube_api.fail_requests(1, 429, retry_after=0)
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []
    assert kube_api.count("list", "pods") == 2


def test_the_failure_hook_drops_connections(kube_api, core_v1):
    kube_api.fail_requests(10, "drop")
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core_v1.list_namespaced_pod(NAMESPACE)
    # urllib3 retried the idempotent GET three times before giving up: four requests dropped
    assert kube_api.count("list", "pods") == 4
    kube_api.fail_requests(0)
    kube_api.fail_requests(1, "drop", verb="create")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core_v1.create_namespaced_pod(NAMESPACE, manifest("dropped"))


def test_the_request_counter_counts_per_verb_resource_name_and_user(kube_api, core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("counted"))
    core_v1.read_namespaced_pod("counted", NAMESPACE)
    core_v1.read_namespaced_pod("counted", NAMESPACE)
    core_v1.patch_namespaced_pod("counted", NAMESPACE, {}, _content_type=MERGE)
    with pytest.raises(ApiException):
        core_v1.read_namespaced_pod_log("counted", NAMESPACE)  # not started: 400
    assert kube_api.count("create", "pods") == 1
    assert kube_api.count("get", "pods", "counted") == 2
    assert kube_api.count(name="counted") == 4
    assert kube_api.count(resource="pods/log") == 1
    assert kube_api.count(user="test-user") == 5
    pod_client = api_client_for(kube_api, kubeconfig=kube_api.pod_kubeconfig)
    try:
        client.CoreV1Api(pod_client).read_namespaced_pod("counted", NAMESPACE)
    finally:
        pod_client.close()
    assert kube_api.count(name="counted", user="test-user") == 4
    assert kube_api.count(user="system:serviceaccount:pop:default") == 1
    assert POD_TOKEN not in kube_api.kubeconfig.read_text()
    kube_api.reset_requests()
    assert kube_api.requests == []


def test_servers_in_parallel_use_their_own_ports_and_state(kube_api, tmp_path):
    from tests.kube.server import start_api_server

    other = start_api_server(tmp_path / "other")
    try:
        assert other.port != kube_api.port
        other_client = api_client_for(other)
        try:
            client.CoreV1Api(other_client).create_namespaced_pod(NAMESPACE, manifest("only-here"))
        finally:
            other_client.close()
        assert kube_api.store.items("pods") == []
    finally:
        other.stop()


def test_stopping_the_server_ends_open_watches_and_joins_its_threads(tmp_path):
    from tests.kube.server import start_api_server

    before = threading.active_count()
    server = start_api_server(tmp_path / "api")
    api_client = api_client_for(server)
    core = client.CoreV1Api(api_client)
    events: list[Any] = []
    first_event = threading.Event()

    def follow() -> None:
        for event in watch.Watch().stream(core.list_namespaced_pod, NAMESPACE, timeout_seconds=30):
            events.append(event)
            first_event.set()

    reader = threading.Thread(target=follow)
    reader.start()
    core.create_namespaced_pod(NAMESPACE, manifest("one"))
    assert first_event.wait(timeout=5)
    server.stop()
    reader.join(timeout=5)
    api_client.close()
    assert not reader.is_alive()
    assert [event["type"] for event in events] == ["ADDED"]
    assert threading.active_count() <= before + 1  # the client's own pool thread may linger


def test_pods_list_across_namespaces(core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("here", {"app": "pop"}))
    core_v1.create_namespaced_pod("other", manifest("there", {"app": "pop"}))
    everywhere = core_v1.list_pod_for_all_namespaces(label_selector="app=pop")
    assert [(pod.metadata.namespace, pod.metadata.name) for pod in everywhere.items] == [
        ("other", "there"),
        (NAMESPACE, "here"),
    ]
    assert names(core_v1.list_namespaced_pod("other")) == ["there"]


def test_a_history_past_its_limit_gives_410_for_the_oldest_resource_versions(kube_api, core_v1):
    kube_api.store.history_limit = 3
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    for index in range(5):
        core_v1.create_namespaced_pod(NAMESPACE, manifest(f"p{index}"))
    with pytest.raises(ApiException) as caught:
        list(
            watch.Watch().stream(
                core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
            )
        )
    assert caught.value.status == 410


def test_seeded_pods_keep_their_status_and_creation_time_and_delete_at_once(
    kube_api, kubelet, core_v1
):
    created = datetime(2026, 1, 1, tzinfo=UTC)
    status = {"phase": "Running", "startTime": "2026-01-01T00:00:05Z"}
    kube_api.seed_pod(manifest("old", {"app": "pop"}), status=status, created=created)
    assert kube_api.count() == 0  # seeding is no request
    read = core_v1.read_namespaced_pod("old", NAMESPACE)
    assert read.metadata.creation_timestamp == created
    assert read.status.phase == "Running" and read.status.container_statuses is None
    assert read.spec.node_name == "seeded-node"
    assert kubelet.process_of(NAMESPACE, "old") is None  # another node: the kubelet leaves it
    core_v1.delete_namespaced_pod("old", NAMESPACE, grace_period_seconds=30)
    assert core_v1.list_namespaced_pod(NAMESPACE).items == []


def test_broken_streams_drop_an_open_watch_mid_stream(kube_api, core_v1):
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    stream = watch.Watch().stream(
        core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=5
    )
    core_v1.create_namespaced_pod(NAMESPACE, manifest("seen"))
    assert next(stream)["object"].metadata.name == "seen"
    kube_api.break_streams()
    with pytest.raises(urllib3.exceptions.ProtocolError):
        next(stream)
    resumed = watch.Watch().stream(
        core_v1.list_namespaced_pod, NAMESPACE, resource_version=start, timeout_seconds=1
    )
    assert [event["object"].metadata.name for event in resumed] == ["seen"]


def test_a_watch_that_times_out_ends_with_a_bookmark_when_allowed(core_v1):
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    core_v1.create_namespaced_pod(NAMESPACE, manifest("marked"))
    events = list(
        watch.Watch().stream(
            core_v1.list_namespaced_pod,
            NAMESPACE,
            resource_version=start,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    )
    assert [event["type"] for event in events] == ["ADDED", "BOOKMARK"]
    assert int(events[1]["raw_object"]["metadata"]["resourceVersion"]) > int(start)


def with_container(name: str, **container: Any) -> dict[str, Any]:
    pod = manifest(name)
    pod["spec"]["containers"][0].update(container)
    return pod


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (
            with_container("m", volumeMounts=[{"name": "work", "mountPath": "/work"}]),
            'spec.containers[0].volumeMounts[0].name: Not found: "work"',
        ),
        (
            with_container("r", resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}),
            'spec.containers[0].resources.requests: Invalid value: "2": must be less than or '
            "equal to cpu limit of 1500m",
        ),
        (
            with_container("q", resources={"requests": {"memory": "1 GB"}}),
            'spec.containers[0].resources.requests[memory]: Invalid value: "1 GB"',
        ),
        (
            with_container("e", env=[{"name": "1BAD", "value": "x"}]),
            'spec.containers[0].env[0].name: Invalid value: "1BAD"',
        ),
        (manifest("p", restartPolicy="Sometimes"), "spec.restartPolicy: Unsupported value"),
        (manifest("d", activeDeadlineSeconds=0), 'spec.activeDeadlineSeconds: Invalid value: "0"'),
        (
            {**manifest("a"), "metadata": {"name": "a", "annotations": {"big": "x" * 262144}}},
            "metadata.annotations: Too long: must have at most 262144 bytes",
        ),
    ],
)
def test_what_a_schema_cannot_see_is_422_too(core_v1, pod, expected):
    with pytest.raises(ApiException) as caught:
        core_v1.create_namespaced_pod(NAMESPACE, pod)
    body = status_body(caught.value)
    assert (caught.value.status, body["reason"]) == (422, "Invalid")
    assert body["message"].startswith(f'Pod "{pod["metadata"]["name"]}" is invalid: {expected}')


def test_quantities_within_limits_and_defined_mounts_are_accepted(core_v1):
    pod = with_container(
        "fine",
        resources={"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1"}},
        volumeMounts=[{"name": "work", "mountPath": "/work", "subPath": "a/b"}],
        env=[{"name": "my.env-name", "value": "1"}],
    )
    pod["spec"]["volumes"] = [{"name": "work", "emptyDir": {}}]
    assert core_v1.create_namespaced_pod(NAMESPACE, pod).metadata.name == "fine"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_reads_the_simulated_cluster_when_anonymous_requests_are_allowed(kube_api, core_v1):
    core_v1.create_namespaced_pod(NAMESPACE, manifest("seen-by-kubectl", {"app": "pop"}))
    argv = ["kubectl", "--kubeconfig", str(kube_api.kubeconfig), "get", "pods", "-l", "app=pop"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 1  # client-go sends no token over plain HTTP: 401
    assert "Unauthorized" in refused.stderr
    kube_api.anonymous_user = "kubectl"
    listed = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:3] == ["NAME", "AGE", "seen-by-kubectl"]


def test_an_idle_watch_gets_bookmarks_at_the_chosen_interval(kube_api, core_v1):
    kube_api.bookmark_interval = 0.2
    start = core_v1.list_namespaced_pod(NAMESPACE).metadata.resource_version
    events = list(
        watch.Watch().stream(
            core_v1.list_namespaced_pod,
            NAMESPACE,
            resource_version=start,
            allow_watch_bookmarks=True,
            timeout_seconds=1,
        )
    )
    kinds = [event["type"] for event in events]
    assert set(kinds) == {"BOOKMARK"} and 2 <= len(kinds) <= 7
