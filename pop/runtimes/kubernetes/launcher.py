"""The kubernetes runtime: each launch is a pod in the target namespace, followed by the
launcher's one watch, deleted on cancel and timeout (with grace) and after its outcome is
recorded unless kept.

Layer: runtimes. Built by ``pop.runtimes.create_launcher("kubernetes")``; used through the
Launcher protocol by the executor, the services (reclaimer: ``stop``; reaper: ``list_launches``
and ``remove``) and the handler SDK.

The pod comes from :func:`pop.runtimes.kubernetes.podspec.build_pod`; the API from
:class:`pop.runtimes.kubernetes.client.KubeClient` (rate-limited, retried, errors translated);
each pod's events from the launcher's :class:`pop.runtimes.kubernetes.follow.PodWatch` (label
``pop.launcher=<launcher id>``), started with the first launch.

The record is ``LaunchRecord("kubernetes", <pod name>, {namespace, uid, server, name})``: the
uid makes ``stop`` delete that pod and never a later one of the same name, and ``server`` tells
this cluster apart from another one a record may come from.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pop.errors import InputError, LaunchError, NotFoundError, RuntimeUnavailableError
from pop.registry import PodConfig
from pop.runtimes.base import (
    DEFAULT_CLEANUP_GRACE_SECONDS,
    DEFAULT_TIMEOUT_GRACE_SECONDS,
    Capabilities,
    LaunchInfo,
    LaunchRecord,
    LaunchSpec,
    grace_options,
)
from pop.runtimes.kubernetes.client import (
    DEFAULT_BURST,
    DEFAULT_RATE,
    DEFAULT_RETRY_DELAY,
    Conflict,
    KubeClient,
)
from pop.runtimes.kubernetes.config import KubeTarget, resolve_target
from pop.runtimes.kubernetes.follow import PodWatch
from pop.runtimes.kubernetes.handle import PARENT_LABEL, KubernetesHandle
from pop.runtimes.kubernetes.podspec import LAUNCHER_LABEL, MANAGED_BY_LABEL, build_pod

RUNTIME_NAME = "kubernetes"

MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}=pop"
_CAPABILITIES = Capabilities(host_cpus=False, python="python3", images=True, host_paths=False)
_NAME_MAX = 63
_LIST_PAGE = 500


class KubernetesLauncher:
    """Launches specs as pods in ``target``'s namespace.

    ``work_root`` is the executor's work folder (``$POP_HOME/work``), which the registry's
    ``workVolume`` holds; ``keep`` leaves pods in place after cleanup (``--keep``);
    ``retry_delay`` is the pause between retries of a failed API request. Building a launcher
    never contacts the cluster: :meth:`check` does.
    """

    def __init__(
        self,
        target: KubeTarget,
        *,
        work_root: str | None = None,
        keep: bool = False,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        timeout_grace_seconds: float = DEFAULT_TIMEOUT_GRACE_SECONDS,
        cleanup_grace_seconds: float = DEFAULT_CLEANUP_GRACE_SECONDS,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
    ) -> None:
        self._client = KubeClient(target, retry_delay=retry_delay, rate=rate, burst=burst)
        self._work_root = work_root
        self._keep = keep
        self._timeout_grace_seconds = timeout_grace_seconds
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._id = secrets.token_hex(6)
        self._watch = PodWatch(self._client, f"{LAUNCHER_LABEL}={self._id}")
        self._handles: dict[str, KubernetesHandle] = {}

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, keep: bool = False) -> KubernetesLauncher:
        """Build from runtime options: ``kubeconfig``, ``context``, ``namespace`` (resolved by
        :func:`~pop.runtimes.kubernetes.config.resolve_target`: InputError for a file or context
        that does not exist), ``work_root`` (default ``$POP_HOME/work``, else
        ``~/.pop/work``), ``retry_delay``, the graces, and the client's request ``rate`` and
        ``burst`` (20/s, 30; ``pop reap pods`` asks for more); other keys are ignored."""
        work_root = options.get("work_root") or _default_work_root()
        return cls(
            resolve_target(options),
            work_root=str(work_root),
            keep=keep,
            retry_delay=float(options.get("retry_delay", DEFAULT_RETRY_DELAY)),
            rate=float(options.get("rate", DEFAULT_RATE)),
            burst=int(options.get("burst", DEFAULT_BURST)),
            **grace_options(options),
        )

    @property
    def name(self) -> str:
        return RUNTIME_NAME

    @property
    def capabilities(self) -> Capabilities:
        """The cluster schedules CPU; handlers start with the image's python3; pods see files
        only through the registry's ``workVolume``."""
        return _CAPABILITIES

    @property
    def launcher_id(self) -> str:
        """This launcher's id, in the ``pop.launcher`` label of every pod it creates."""
        return self._id

    @property
    def namespace(self) -> str:
        return self._client.namespace

    async def check(self) -> None:
        """List one pod (reachable, credentials accepted, list allowed), then ask the API
        server which of the rights the runtime needs its user lacks (a SelfSubjectRulesReview,
        as ``kubectl auth can-i --list``): RuntimeUnavailableError naming the first missing
        one, so a Role without ``create`` fails here, before an agenda starts, not at its first
        op. A server that cannot answer the review, or answers it incompletely (webhook
        authorizers), is taken at its word for the list alone."""
        namespace = self.namespace
        await self._client.call(
            lambda core: core.list_namespaced_pod(namespace, limit=1, _preload_content=False),
            verb="list",
        )

        def review(core: Any) -> dict[str, Any]:
            from kubernetes import client

            authorization: Any = client.AuthorizationV1Api(core.api_client)
            response = authorization.create_self_subject_rules_review(
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectRulesReview",
                    "spec": {"namespace": namespace},
                },
                _preload_content=False,
            )
            return dict(json.loads(response.data))

        try:
            answer = await self._client.call(
                review, verb="create", resource="selfsubjectrulesreviews"
            )
        except (NotFoundError, RuntimeUnavailableError, LaunchError):
            return  # no review API, or not allowed to ask: the list passed
        missing = missing_rights(answer.get("status") or {})
        if missing:
            resource, verb = missing[0]
            where = self._client.server or "the cluster"
            raise RuntimeUnavailableError(
                f"Kubernetes at {where} forbids {verb} on {resource} in namespace {namespace} "
                f"(its rules for this user lack {', '.join(f'{r}: {v}' for r, v in missing)})",
                hint=f"the Role needs {resource}: {verb} (see `pop k8s manifests`)",
            )

    async def launch(self, spec: LaunchSpec) -> KubernetesHandle:
        config = PodConfig.from_fields(spec.options)
        pod = build_pod(
            spec,
            namespace=self.namespace,
            launcher_id=self._id,
            work_root=self._work_root,
            config=config,
        )
        scheduled_ms = config.pod_scheduled_timeout_ms
        for attempt in range(2):
            name = str(pod["metadata"]["name"])
            handle = KubernetesHandle(
                self._client,
                self._watch,
                spec,
                name,
                keep=self._keep,
                scheduled_timeout_seconds=None if scheduled_ms is None else scheduled_ms / 1000,
                timeout_grace_seconds=self._timeout_grace_seconds,
                cleanup_grace_seconds=self._cleanup_grace_seconds,
                on_cleaned=self._forget,
            )
            try:
                if not self._watch.subscribe(name, handle):
                    raise Conflict(f'pods "{name}" already exists (a pod of this launcher)')
                created = await self._create(pod)
            except Conflict as exc:
                self._watch.unsubscribe(name, handle)
                if attempt:
                    raise LaunchError(f"cannot launch {spec.name!r}: {exc}") from exc
                renamed = name[: _NAME_MAX - 5] + f"-{secrets.token_hex(2)}"
                pod = {**pod, "metadata": {**pod["metadata"], "name": renamed}}
                continue
            except BaseException:
                self._watch.unsubscribe(name, handle)
                raise
            handle.accepted(created)
            self._handles[name] = handle
            return handle
        raise LaunchError(f"cannot launch {spec.name!r}: every pod name tried is taken")

    async def stop(self, record: LaunchRecord, grace_seconds: float = 5.0) -> bool:
        if record.runtime != RUNTIME_NAME or not record.ref:
            raise InputError(
                f"the kubernetes runtime cannot stop {record.runtime!r} launch {record.ref!r}"
            )
        uid = record.details.get("uid")
        own = self._handles.get(record.ref)
        if own is not None and own.uid == uid:
            running = not own.ended
            await own.cancel(grace_seconds)
            await own.cleanup()
            return running
        server = str(record.details.get("server") or "")
        if server and self._client.server and server != self._client.server:
            return False  # a pod name means nothing on another cluster
        namespace = str(record.details.get("namespace") or self.namespace)
        grace = max(0, int(grace_seconds + 0.999))
        pod = await self._delete(record.ref, namespace, grace=grace, uid=str(uid or "") or None)
        if pod is None:
            return False
        phase = (pod.get("status") or {}).get("phase")
        # its ffmpeg pods (a launched handler's externals), in the record's namespace too
        await self._client.delete_selected(
            f"{PARENT_LABEL}={record.ref}", grace, namespace=namespace
        )
        return phase not in ("Succeeded", "Failed")

    async def list_launches(self) -> list[LaunchInfo]:
        namespace = self.namespace
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:

            def page(core: Any, page_token: str | None = token) -> dict[str, Any]:
                response = core.list_namespaced_pod(
                    namespace,
                    label_selector=MANAGED_SELECTOR,
                    limit=_LIST_PAGE,
                    _continue=page_token,
                    _preload_content=False,
                )
                return dict(json.loads(response.data))

            listing = await self._client.call(page, verb="list")
            found.extend(listing.get("items") or [])
            token = (listing.get("metadata") or {}).get("continue") or None
            if not token:
                return [self._launch_info(pod) for pod in found]

    async def remove(self, record: LaunchRecord) -> None:
        namespace = str(record.details.get("namespace") or self.namespace)
        uid = str(record.details.get("uid") or "") or None
        await self._delete(record.ref, namespace, grace=0, uid=uid)

    async def close(self) -> None:
        await asyncio.to_thread(self._watch.stop)
        self._client.close()

    # -- internals -----------------------------------------------------------------------------

    def _forget(self, name: str) -> None:
        self._handles.pop(name, None)

    async def _create(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Create ``pod``; if this task is cancelled meanwhile, the pod must not outlive us.

        A create retried after a lost answer may meet the pod its first try made (409): a pod
        of this name carrying this launcher's id is that one (names our pods hold are never
        tried), so it is adopted instead of a second pod being made under another name."""
        namespace = self.namespace
        name = str(pod["metadata"]["name"])

        def create(core: Any) -> dict[str, Any]:
            from kubernetes.client.exceptions import ApiException

            try:
                response = core.create_namespaced_pod(namespace, pod, _preload_content=False)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                existing = json.loads(
                    core.read_namespaced_pod(name, namespace, _preload_content=False).data
                )
                labels = (existing.get("metadata") or {}).get("labels") or {}
                if labels.get(LAUNCHER_LABEL) != self._id:
                    raise
                return dict(existing)
            return dict(json.loads(response.data))

        work = asyncio.ensure_future(self._client.call(create, verb="create"))
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            await asyncio.wait([work])
            if not work.cancelled() and work.exception() is None:
                created = work.result()["metadata"]
                await self._delete(created["name"], namespace, grace=0, uid=created.get("uid"))
            raise

    async def _delete(
        self, name: str, namespace: str, *, grace: int, uid: str | None
    ) -> dict[str, Any] | None:
        """Delete one pod (only the one of ``uid`` when given); its last state, or None when
        it was already gone (or replaced by another of the same name)."""
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        body = V1DeleteOptions(
            grace_period_seconds=grace,
            preconditions=V1Preconditions(uid=uid) if uid else None,
        )

        def delete(core: Any) -> dict[str, Any]:
            response = core.delete_namespaced_pod(
                name, namespace, body=body, _preload_content=False
            )
            return dict(json.loads(response.data))

        try:
            return await self._client.call(delete, verb="delete")
        except (NotFoundError, Conflict):
            return None

    def _launch_info(self, pod: Mapping[str, Any]) -> LaunchInfo:
        metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = str(metadata.get("name"))
        record = LaunchRecord(
            RUNTIME_NAME,
            name,
            {
                "namespace": metadata.get("namespace") or self.namespace,
                "uid": metadata.get("uid"),
                "server": self._client.server,
                "name": name,
            },
        )
        statuses = status.get("containerStatuses") or []
        finished = status.get("phase") in ("Succeeded", "Failed") or (
            bool(statuses) and all("terminated" in (entry.get("state") or {}) for entry in statuses)
        )
        finished_at = None
        if finished:
            first = ((statuses[0].get("state") or {}).get("terminated") or {}) if statuses else {}
            finished_at = _epoch(first.get("finishedAt") if statuses else status.get("startTime"))
        return LaunchInfo(
            record=record,
            labels=dict(metadata.get("labels") or {}),
            running=not finished,
            finished_at=finished_at,
            created_at=_epoch(metadata.get("creationTimestamp")),
        )


def _epoch(text: Any) -> float | None:
    """Seconds since the epoch of an API time (RFC 3339); None when absent or unparsable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


# what the runtime does with its pods (the Role of `pop k8s manifests` grants these)
NEEDED_RIGHTS = (
    ("pods", "create"),
    ("pods", "get"),
    ("pods", "list"),
    ("pods", "watch"),
    ("pods", "delete"),
    ("pods/log", "get"),
)


def missing_rights(status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (resource, verb) pairs of :data:`NEEDED_RIGHTS` that a SelfSubjectRulesReview's
    ``status`` grants in no rule of the core API group; none when the review says it is
    incomplete (the user may hold rights it cannot list)."""
    if status.get("incomplete"):
        return []
    rules = [rule for rule in status.get("resourceRules") or [] if isinstance(rule, Mapping)]

    def granted(resource: str, verb: str) -> bool:
        return any(
            {"", "*"} & set(rule.get("apiGroups") or [])
            and {resource, "*"} & set(rule.get("resources") or [])
            and {verb, "*"} & set(rule.get("verbs") or [])
            and not rule.get("resourceNames")
            for rule in rules
        )

    return [(resource, verb) for resource, verb in NEEDED_RIGHTS if not granted(resource, verb)]


def _default_work_root() -> str:
    home = os.environ.get("POP_HOME")
    base = Path(home) if home else Path("~/.pop").expanduser()
    return str(base / "work")
