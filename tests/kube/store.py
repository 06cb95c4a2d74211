"""The object store behind the Kubernetes API test server: pods, configmaps and secrets by
namespace, one resourceVersion counter, a retained event history for watches (compactable, so
tests can force 410 Gone), pod logs, label and field selectors; ``validation.py`` checks objects.

Test infrastructure (DESIGN §13), not part of ``pop``. The HTTP layer (``server.py``) and the
kubelet simulator (``kubelet.py``) both call it in-process; every method is thread-safe.
"""

from __future__ import annotations

import base64
import copy
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.kube.validation import ApiError, not_found, validate

KINDS = {"pods": "Pod", "configmaps": "ConfigMap", "secrets": "Secret"}
Obj = dict[str, Any]


class BrokenStream(Exception):
    """A test broke open watch and log streams: the connection is dropped mid-stream."""


def now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """metav1.Time: RFC 3339 with second precision, as the API serves it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------------------------------------
# Selectors


_REQUIREMENT = re.compile(
    r"\s*(?:(?P<not>!)\s*(?P<absent>[^\s,!=()]+)"
    r"|(?P<key>[^\s,!=()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)"
)


def parse_label_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A predicate on labels for ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``,
    ``a notin (x,y)``, comma-separated (all must hold). Raises ApiError 400 when unparsable."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _REQUIREMENT.match(text, position)
        if not match or match.end() == position:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {text!r}")
        position = match.end()
        if match["absent"]:
            checks.append(lambda labels, k=match["absent"]: k not in labels)
        elif match["op"] in ("=", "=="):
            checks.append(lambda labels, k=match["key"], v=match["value"]: labels.get(k) == v)
        elif match["op"] == "!=":
            checks.append(lambda labels, k=match["key"], v=match["value"]: labels.get(k) != v)
        elif match["setop"]:
            values = {item.strip() for item in match["values"].split(",") if item.strip()}
            if match["setop"] == "in":
                checks.append(lambda labels, k=match["key"], vs=values: labels.get(k) in vs)
            else:
                checks.append(lambda labels, k=match["key"], vs=values: labels.get(k) not in vs)
        else:
            checks.append(lambda labels, k=match["key"]: k in labels)
    return lambda labels: all(check(labels) for check in checks)


FIELD_PATHS = {
    "metadata.name": ("metadata", "name"),
    "metadata.namespace": ("metadata", "namespace"),
    "status.phase": ("status", "phase"),
    "spec.nodeName": ("spec", "nodeName"),
    "spec.restartPolicy": ("spec", "restartPolicy"),
}


def parse_field_selector(resource: str, text: str) -> Callable[[Obj], bool]:
    """A predicate for ``path=value``, ``path==value``, ``path!=value`` on the paths above."""
    checks: list[Callable[[Obj], bool]] = []
    for part in filter(None, (item.strip() for item in text.split(","))):
        match = re.fullmatch(r"([A-Za-z.]+)\s*(==|=|!=)\s*(.*)", part)
        if not match or match[1] not in FIELD_PATHS:
            label = match[1] if match else part
            raise ApiError(
                400,
                "BadRequest",
                f'field label not supported: "{label}"',
            )
        section, key = FIELD_PATHS[match[1]]
        wanted, negate = match[3], match[2] == "!="
        checks.append(
            lambda obj, s=section, k=key, w=wanted, n=negate: (
                (((obj.get(s) or {}).get(k) or "") == w) != n
            )
        )
    return lambda obj: all(check(obj) for check in checks)


# ---------------------------------------------------------------------------------------------
# The store


@dataclass
class Event:
    resource_version: int
    resource: str
    namespace: str
    type: str  # ADDED, MODIFIED, DELETED
    old: Obj | None
    new: Obj


@dataclass
class PodLog:
    """A container's output: (time, line) pairs, ``ended`` once the container exited."""

    lines: list[tuple[datetime, bytes]] = field(default_factory=list)
    ended: bool = False


class KubeStore:
    """Objects, history and logs; all mutation goes through here and bumps one resourceVersion."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.objects: dict[tuple[str, str, str], Obj] = {}
        self.history: list[Event] = []
        self.resource_version = 1
        self.oldest_retained = 1  # events after this resourceVersion are in the history
        self.watch_epoch = 0  # bumped by compact(expire_watches=True): open watches get 410
        self.break_epoch = 0  # bumped by break_streams(): open streams lose their connection
        self.logs: dict[tuple[str, str], PodLog] = {}
        self.stopped = False
        self.history_limit = 100_000  # older events are dropped (a watch from before them: 410)
        self.listeners: list[Callable[[Event], None]] = []  # called under the lock: be quick

    # -- reading -------------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> Obj:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            if obj is None:
                raise not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(self, resource: str, namespace: str | None = None) -> list[Obj]:
        """Copies of the objects, sorted by (namespace, name) as etcd lists them."""
        with self.lock:
            keys = sorted(
                key
                for key in self.objects
                if key[0] == resource and (namespace is None or key[1] == namespace)
            )
            return [copy.deepcopy(self.objects[key]) for key in keys]

    def select(
        self,
        resource: str,
        namespace: str | None,
        predicate: Callable[[Obj], bool],
        *,
        after: tuple[str, str] | None = None,
        limit: int = 0,
    ) -> tuple[list[Obj], int, int]:
        """(copies of up to ``limit`` matching objects after the (namespace, name) ``after``, how
        many more match, the current resourceVersion); only the page is copied."""
        with self.lock:
            keys = sorted(
                key
                for key in self.objects
                if key[0] == resource
                and (namespace is None or key[1] == namespace)
                and (after is None or (key[1], key[2]) > after)
            )
            chosen: list[Obj] = []
            remaining = 0
            for key in keys:
                obj = self.objects[key]
                if not predicate(obj):
                    continue
                if limit and len(chosen) >= limit:
                    remaining += 1
                else:
                    chosen.append(copy.deepcopy(obj))
            return chosen, remaining, self.resource_version

    # -- writing -------------------------------------------------------------------------------

    def _record(self, resource: str, namespace: str, kind: str, old: Obj | None, new: Obj) -> None:
        event = Event(self.resource_version, resource, namespace, kind, old, copy.deepcopy(new))
        self.history.append(event)
        if len(self.history) > self.history_limit:
            dropped = self.history.pop(0)
            self.oldest_retained = dropped.resource_version
        for listener in self.listeners:
            listener(event)
        self.changed.notify_all()

    def _bump(self, obj: Obj) -> None:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)

    def create(
        self,
        resource: str,
        namespace: str,
        body: Obj,
        *,
        status: Obj | None = None,
        created: datetime | None = None,
    ) -> Obj:
        """POST semantics; ``status`` and ``created`` (creationTimestamp) are for seeding tests."""
        obj = copy.deepcopy(body)
        obj["kind"], obj["apiVersion"] = KINDS[resource], "v1"
        metadata = obj.setdefault("metadata", {})
        if not metadata.get("name") and metadata.get("generateName"):
            metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
        if metadata.get("namespace") not in (None, namespace):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                "request",
            )
        validate(resource, obj)
        name = metadata["name"]
        with self.lock:
            if (resource, namespace, name) in self.objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource} "{name}" already exists',
                    {"name": name, "kind": resource},
                )
            metadata.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                creationTimestamp=format_time(created or now()),
            )
            for transient in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                metadata.pop(transient, None)
            if resource == "secrets":
                data = obj.setdefault("data", {})
                for key, value in (obj.pop("stringData", None) or {}).items():
                    data[key] = base64.b64encode(value.encode()).decode()
                obj.setdefault("type", "Opaque")
            if resource == "pods":
                spec = obj["spec"]
                spec.setdefault("restartPolicy", "Always")
                spec.setdefault("terminationGracePeriodSeconds", 30)
                spec.setdefault("dnsPolicy", "ClusterFirst")
                spec.setdefault("schedulerName", "default-scheduler")
                for container in spec["containers"]:
                    container.setdefault("terminationMessagePath", "/dev/termination-log")
                    container.setdefault("terminationMessagePolicy", "File")
                    container.setdefault(
                        "imagePullPolicy",
                        "Always" if container["image"].endswith(":latest") else "IfNotPresent",
                    )
                obj["status"] = copy.deepcopy(status) or {
                    "phase": "Pending",
                    "qosClass": "BestEffort",
                }
            self._bump(obj)
            self.objects[(resource, namespace, name)] = obj
            self._record(resource, namespace, "ADDED", None, obj)
            return copy.deepcopy(obj)

    def update(
        self,
        resource: str,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj | None],
    ) -> Obj:
        """Apply ``change`` (mutating, or returning a replacement) to a copy; identity fields are
        kept; a MODIFIED event only when something changed."""
        with self.lock:
            current = self.objects.get((resource, namespace, name))
            if current is None:
                raise not_found(resource, name)
            candidate = copy.deepcopy(current)
            replaced = change(candidate)
            if replaced is not None:
                candidate = replaced
            metadata = candidate.setdefault("metadata", {})
            for key in ("name", "namespace", "uid", "creationTimestamp", "resourceVersion"):
                metadata[key] = current["metadata"].get(key)
            for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if key in current["metadata"]:
                    metadata[key] = current["metadata"][key]
                else:
                    metadata.pop(key, None)
            candidate["kind"], candidate["apiVersion"] = current["kind"], "v1"
            if candidate == current:
                return copy.deepcopy(current)
            validate(resource, candidate)
            self._bump(candidate)
            self.objects[(resource, namespace, name)] = candidate
            self._record(resource, namespace, "MODIFIED", current, candidate)
            return copy.deepcopy(candidate)

    def mark_deleted(self, resource: str, namespace: str, name: str, grace: int) -> Obj:
        """Set deletionTimestamp (now + grace); the kubelet removes the pod once it stopped."""
        with self.lock:
            current = self.objects[(resource, namespace, name)]
            if "deletionTimestamp" in current["metadata"]:
                existing = current["metadata"].get("deletionGracePeriodSeconds", 0)
                if grace >= existing:
                    return copy.deepcopy(current)
            candidate = copy.deepcopy(current)
            candidate["metadata"]["deletionTimestamp"] = format_time(
                now() + timedelta(seconds=grace)
            )
            candidate["metadata"]["deletionGracePeriodSeconds"] = grace
            self._bump(candidate)
            self.objects[(resource, namespace, name)] = candidate
            self._record(resource, namespace, "MODIFIED", current, candidate)
            return copy.deepcopy(candidate)

    def remove(self, resource: str, namespace: str, name: str) -> Obj:
        with self.lock:
            current = self.objects.pop((resource, namespace, name), None)
            if current is None:
                raise not_found(resource, name)
            final = copy.deepcopy(current)
            self._bump(final)
            self._record(resource, namespace, "DELETED", current, final)
            log = self.logs.pop((namespace, name), None)
            if log is not None:
                log.ended = True  # a follower's stream ends with the pod
            return final

    # -- watch history -------------------------------------------------------------------------

    def compact(self, *, expire_watches: bool = False) -> int:
        """Forget the history up to now: a watch or list from an older resourceVersion gets 410.
        With ``expire_watches`` every open watch also ends with a 410 ERROR event."""
        with self.lock:
            self.history.clear()
            self.oldest_retained = self.resource_version
            if expire_watches:
                self.watch_epoch += 1
            self.changed.notify_all()
            return self.resource_version

    def events_after(self, resource_version: int) -> Iterator[Event]:
        """Retained events after ``resource_version`` (caller holds the lock)."""
        for event in self.history:
            if event.resource_version > resource_version:
                yield event

    def break_streams(self) -> None:
        """Drop the connection of every open watch and log stream (no final chunk: the client
        sees the connection broken mid-stream, as when a proxy or the API server restarts)."""
        with self.lock:
            self.break_epoch += 1
            self.changed.notify_all()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.changed.notify_all()

    # -- logs ----------------------------------------------------------------------------------

    def start_log(self, namespace: str, name: str) -> None:
        with self.lock:
            self.logs[(namespace, name)] = PodLog()
            self.changed.notify_all()

    def append_log(self, namespace: str, name: str, line: bytes) -> None:
        with self.lock:
            log = self.logs.get((namespace, name))
            if log is not None:
                log.lines.append((now(), line))
                self.changed.notify_all()

    def end_log(self, namespace: str, name: str) -> None:
        with self.lock:
            log = self.logs.get((namespace, name))
            if log is not None:
                log.ended = True
                self.changed.notify_all()
