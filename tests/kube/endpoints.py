"""The request handlers of the Kubernetes API test server: list (selectors, paging), watch
(resourceVersion, 410 Gone, bookmarks), create, get, patch (merge, strategic as merge, JSON patch),
update, delete (grace, uid preconditions) and pods/log (follow, timestamps, sinceTime,
sinceSeconds, tailLines). Each raises ``ApiError`` for the API's error answers.

Test infrastructure (DESIGN §13), not part of ``pop``; ``server.py`` routes requests here.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jsonpointer

from tests.kube.store import (
    KINDS,
    ApiError,
    BrokenStream,
    Obj,
    merge_patch,
    now,
    parse_field_selector,
    parse_label_selector,
    parse_time,
)

MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "containers")


@dataclass
class Route:
    verb: str
    resource: str  # with subresource: pods/log
    namespace: str | None
    name: str | None


def flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


class Endpoints:
    """One request's work; every method raises ApiError for the API's error answers."""

    def __init__(self, handler: Any, route: Route, query: dict[str, str], body: Any) -> None:
        self.handler = handler
        self.store = handler.api.store
        self.route = route
        self.query = query
        self.body = body
        self.resource = route.resource.partition("/")[0]

    def dispatch(self) -> None:
        route = self.route
        if route.resource == "pods/log":
            self.log()
        elif route.verb == "create":
            self.handler._json(
                201, self.store.create(self.resource, route.namespace or "", self.body or {})
            )
        elif route.verb == "get":
            assert route.namespace is not None and route.name is not None
            self.handler._json(200, self.store.get(self.resource, route.namespace, route.name))
        elif route.verb == "list":
            self.list()
        elif route.verb == "watch":
            self.watch()
        elif route.verb in ("patch", "update"):
            self.change()
        elif route.verb == "delete":
            self.delete()
        else:
            raise ApiError(405, "MethodNotAllowed", f"{route.verb} is not supported here")

    def _selectors(self) -> Callable[[Obj | None], bool]:
        labels = parse_label_selector(self.query.get("labelSelector", ""))
        fields = parse_field_selector(self.resource, self.query.get("fieldSelector", ""))
        return lambda obj: (
            obj is not None
            and labels((obj.get("metadata") or {}).get("labels") or {})
            and fields(obj)
        )

    def list(self) -> None:
        matches = self._selectors()
        start_after: tuple[str, str] | None = None
        token_version = None
        if self.query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(self.query["continue"]))
                start_after, token_version = (
                    (token["after"][0], token["after"][1]),
                    int(token["rv"]),
                )
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise ApiError(400, "BadRequest", "continue key is not valid") from exc
            if token_version < self.store.oldest_retained:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.",
                )
        limit = int(self.query.get("limit") or 0)
        items, remaining, resource_version = self.store.select(
            self.resource, self.route.namespace, matches, after=start_after, limit=limit
        )
        resource_version = token_version or resource_version
        metadata: Obj = {"resourceVersion": str(resource_version)}
        if remaining:
            last = items[-1]["metadata"]
            token = {"rv": resource_version, "after": [last["namespace"], last["name"]]}
            metadata["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
            metadata["remainingItemCount"] = remaining
        for obj in items:
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
        kind = KINDS[self.resource] + "List"
        self.handler._json(
            200, {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": items}
        )

    def watch(self) -> None:
        matches = self._selectors()
        store, handler = self.store, self.handler
        timeout = float(self.query.get("timeoutSeconds") or 3600)
        deadline = time.monotonic() + timeout
        bookmarks = flag(self.query.get("allowWatchBookmarks"))
        requested = self.query.get("resourceVersion") or "0"
        pending: list[tuple[str, Obj]] = []
        with store.lock:
            epoch, break_epoch = store.watch_epoch, store.break_epoch
            if requested == "0":
                last = store.resource_version
                pending = [
                    ("ADDED", obj)
                    for obj in store.items(self.resource, self.route.namespace)
                    if matches(obj)
                ]
            else:
                last = int(requested)
        handler.start_stream("application/json")

        def send(kind: str, obj: Obj) -> None:
            handler.write_chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")

        def bookmark() -> None:
            metadata = {"resourceVersion": str(last)}
            send(
                "BOOKMARK", {"kind": KINDS[self.resource], "apiVersion": "v1", "metadata": metadata}
            )

        for kind, obj in pending:
            send(kind, obj)
        interval = handler.api.bookmark_interval if bookmarks else None
        next_bookmark = time.monotonic() + interval if interval else None
        while True:
            events: list[Any] = []
            ending: str | None = None  # "stopped", "gone", "timeout", "bookmark"
            with store.lock:
                while not events and ending is None:
                    if store.stopped or handler.api.stopping.is_set():
                        ending = "stopped"
                    elif store.break_epoch != break_epoch:
                        raise BrokenStream
                    elif epoch != store.watch_epoch or last < store.oldest_retained:
                        ending = "gone"
                        current = store.resource_version
                    else:
                        events = list(store.events_after(last))
                        remaining = deadline - time.monotonic()
                        if events:
                            break
                        if remaining <= 0:
                            ending = "timeout"
                        elif next_bookmark is not None and time.monotonic() >= next_bookmark:
                            ending = "bookmark"
                        else:
                            store.changed.wait(min(remaining, 0.5, interval or 0.5))
            if ending == "gone":
                message = f"too old resource version: {last} ({current})"
                send("ERROR", ApiError(410, "Expired", message).status())
            if ending in ("timeout", "bookmark") and bookmarks:
                bookmark()
                if interval:
                    next_bookmark = time.monotonic() + interval
            if ending in ("stopped", "gone", "timeout"):
                handler.end_stream()
                return
            for event in events:
                last = event.resource_version
                if event.resource != self.resource or (
                    self.route.namespace is not None and event.namespace != self.route.namespace
                ):
                    continue
                was, now_matches = matches(event.old), matches(event.new)
                if event.type == "DELETED":
                    kind = "DELETED" if was else ""
                elif was and now_matches:
                    kind = "MODIFIED"
                elif now_matches:
                    kind = "ADDED"
                else:
                    kind = "DELETED" if was else ""
                if kind:
                    send(kind, event.new)

    def change(self) -> None:
        route = self.route
        assert route.namespace is not None and route.name is not None
        status_only = route.resource == "pods/status"
        content_type = (self.handler.headers.get("Content-Type") or "").split(";")[0].strip()
        body = self.body

        def apply(current: Obj) -> Obj:
            if route.verb == "update":
                if not isinstance(body, dict):
                    raise ApiError(400, "BadRequest", "the body must be an object")
                wanted = body.get("metadata", {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {self.resource} "{route.name}": the '
                        "object has been modified; please apply your changes to the latest "
                        "version and try again",
                        {"name": route.name, "kind": self.resource},
                    )
                changed = body
            else:
                changed = _patched(current, body, content_type)
            if self.resource != "pods":
                return changed
            if status_only:
                current["status"] = changed.get("status") or {}
                return current
            changed["status"] = current.get("status")
            _check_pod_spec(route.name or "", current.get("spec") or {}, changed.get("spec") or {})
            return changed

        self.handler._json(
            200, self.store.update(self.resource, route.namespace, route.name, apply)
        )

    def delete(self) -> None:
        route = self.route
        assert route.namespace is not None and route.name is not None
        options = self.body if isinstance(self.body, dict) else {}
        current = self.store.get(self.resource, route.namespace, route.name)
        preconditions = options.get("preconditions") or {}
        uid = current["metadata"]["uid"]
        if preconditions.get("uid") and preconditions["uid"] != uid:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {self.resource} "{route.name}": Precondition '
                f"failed: UID in precondition: {preconditions['uid']}, UID in object meta: {uid}",
                {"name": route.name, "kind": self.resource},
            )
        if self.resource != "pods":
            self.store.remove(self.resource, route.namespace, route.name)
            self.handler._json(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {"name": route.name, "kind": self.resource, "uid": uid},
                },
            )
            return
        grace_text = self.query.get("gracePeriodSeconds")
        grace = options.get("gracePeriodSeconds")
        if grace_text is not None:
            grace = int(grace_text)
        if grace is None:
            grace = current["spec"].get("terminationGracePeriodSeconds", 30)
        on_node = current["spec"].get("nodeName") in self.handler.api.kubelet_nodes
        finished = (current.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        if grace <= 0 or not on_node or finished:
            result = self.store.remove(self.resource, route.namespace, route.name)
        else:
            result = self.store.mark_deleted(self.resource, route.namespace, route.name, grace)
        self.handler._json(200, result)

    def log(self) -> None:
        route = self.route
        assert route.namespace is not None and route.name is not None
        if route.verb != "get":
            raise ApiError(405, "MethodNotAllowed", "pods/log only answers get")
        pod = self.store.get("pods", route.namespace, route.name)
        containers = [container["name"] for container in pod["spec"]["containers"]]
        container = self.query.get("container") or containers[0]
        if container not in containers:
            raise ApiError(
                400,
                "BadRequest",
                f"container {container} is not valid for pod {route.name}",
            )
        with self.store.lock:
            log = self.store.logs.get((route.namespace, route.name))
        if log is None:
            statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
            waiting = (statuses[0].get("state") or {}).get("waiting") or {}
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{route.name}" is waiting to start: '
                + (waiting.get("reason") or "ContainerCreating"),
            )
        since = self.query.get("sinceTime")
        since_time = parse_time(since) if since else None
        if self.query.get("sinceSeconds"):
            since_time = now() - timedelta(seconds=int(self.query["sinceSeconds"]))
        timestamps = flag(self.query.get("timestamps"))

        def render(entries: list[tuple[Any, bytes]]) -> bytes:
            chosen = [entry for entry in entries if since_time is None or entry[0] >= since_time]
            if not timestamps:
                return b"".join(line for _, line in chosen)
            return b"".join(
                moment.strftime("%Y-%m-%dT%H:%M:%S.%f000Z ").encode() + line
                for moment, line in chosen
            )

        if not flag(self.query.get("follow")):
            with self.store.lock:
                entries = list(log.lines)
            tail = self.query.get("tailLines")
            if tail is not None:
                entries = entries[-int(tail) :] if int(tail) else []
            data = render(entries)
            self.handler.send_response(200)
            self.handler.send_header("Content-Type", "text/plain")
            self.handler.send_header("Content-Length", str(len(data)))
            self.handler.end_headers()
            self.handler.wfile.write(data)
            return
        self.handler.start_stream("text/plain")
        sent = 0
        with self.store.lock:
            break_epoch = self.store.break_epoch
        while True:
            with self.store.lock:
                while sent == len(log.lines) and not log.ended:
                    if self.store.break_epoch != break_epoch:
                        raise BrokenStream
                    if self.store.stopped:
                        break
                    self.store.changed.wait(0.5)
                entries, sent = log.lines[sent:], len(log.lines)
                done = log.ended or self.store.stopped
            self.handler.write_chunk(render(entries))
            if done and sent == len(log.lines):
                self.handler.end_stream()
                return


def _patched(current: Obj, patch: Any, content_type: str) -> Obj:
    if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "the patch must be a JSON object")
        result: Obj = merge_patch(current, patch)
        return result
    if content_type == "application/json-patch+json":
        if not isinstance(patch, list):
            raise ApiError(
                400,
                "BadRequest",
                "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
            )
        return _json_patch(current, patch)
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, "
        f"application/strategic-merge-patch+json (got {content_type!r})",
    )


def _json_patch(document: Obj, operations: list[Obj]) -> Obj:
    """RFC 6902 add/replace/remove/test, enough for label and annotation edits."""
    for operation in operations:
        pointer = jsonpointer.JsonPointer(operation.get("path", ""))
        try:
            parent, last = pointer.to_last(document)
        except jsonpointer.JsonPointerException as exc:
            raise ApiError(422, "Invalid", f"jsonpatch: {exc}") from exc
        op = operation.get("op")
        if op in ("add", "replace") and isinstance(parent, dict):
            parent[last] = operation.get("value")
        elif op == "add" and isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            parent.insert(index, operation.get("value"))
        elif op == "replace" and isinstance(parent, list):
            parent[int(last)] = operation.get("value")
        elif op == "remove":
            try:
                del parent[last if isinstance(parent, dict) else int(last)]
            except (KeyError, IndexError) as exc:
                raise ApiError(422, "Invalid", f"jsonpatch remove: missing {pointer.path}") from exc
        elif op == "test":
            if pointer.resolve(document, None) != operation.get("value"):
                raise ApiError(422, "Invalid", f"jsonpatch test failed at {pointer.path}")
        else:
            raise ApiError(400, "BadRequest", f"unsupported json patch operation {op!r}")
    return document


def _check_pod_spec(name: str, before: Obj, after: Obj) -> None:
    """Pod specs are immutable but for images, activeDeadlineSeconds and tolerations."""

    def frozen(spec: Obj) -> Obj:
        rest = {key: value for key, value in spec.items() if key not in MUTABLE_POD_SPEC}
        rest["containers"] = [
            {key: value for key, value in container.items() if key != "image"}
            for container in spec.get("containers") or []
        ]
        return rest

    if frozen(before) != frozen(after):
        raise ApiError(
            422,
            "Invalid",
            f'Pod "{name}" is invalid: spec: Forbidden: pod updates may not change fields other '
            "than `spec.containers[*].image`, `spec.activeDeadlineSeconds`, "
            "`spec.tolerations` (only additions to existing tolerations)",
            {
                "name": name,
                "kind": "Pod",
                "causes": [{"reason": "FieldValueForbidden", "field": "spec"}],
            },
        )
