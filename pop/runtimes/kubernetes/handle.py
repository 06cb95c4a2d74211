"""One pod launched by the kubernetes runtime: its output, its end, cancel and cleanup.

Layer: runtimes. Made by :class:`pop.runtimes.kubernetes.launcher.KubernetesLauncher`; used
through the Handle protocol (``pop/runtimes/base.py``).

The handle never polls its pod: the launcher's one watch (:class:`~pop.runtimes.kubernetes.follow.
PodWatch`) hands it every change, on the watch thread, and the handle moves it to its event loop.
From those events it learns that the container started (then it streams the log,
:class:`~pop.runtimes.kubernetes.follow.PodLog`), that the pod cannot run (never scheduled within
``podScheduledTimeoutMs``, or a waiting reason that never clears), the handler's annotation
reports, and how the pod ended. Requests naming the pod, whatever the op's length: the create,
the log stream (again after a break), the delete, and a read only when a relist misses the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from pop.errors import NotFoundError, PopError
from pop.runtimes.base import (
    LOST,
    TIMED_OUT,
    ExitStatus,
    LaunchRecord,
    LaunchSpec,
)
from pop.runtimes.ending import Ending, EndingHandle
from pop.runtimes.kubernetes.client import Conflict, KubeClient
from pop.runtimes.kubernetes.follow import PodLog, PodWatch

POD_DELETED = "pod deleted"
PROGRESS_ANNOTATION = "pop.report.progress"
PAYLOAD_ANNOTATION = "pop.report.payload"
PARENT_LABEL = "pop.parent"
PROGRESS_PREFIX = "Progress: "
PAYLOAD_PREFIX = "Payload: "
HANDLER_COMPLETE = "HandlerComplete"
FAILS_AT_ONCE = ("InvalidImageName", "CreateContainerConfigError")
LOG_DRAIN_SECONDS = 2.0  # how long a log stream may outlive a pod that is gone
LOG_FINISH_SECONDS = 30.0  # ... or a container that ended (the kubelet ends it at once)


class KubernetesHandle(EndingHandle):
    """One pod: the events the watch hands it, its log, and the delete calls."""

    def __init__(
        self,
        client: KubeClient,
        watch: PodWatch,
        spec: LaunchSpec,
        name: str,
        *,
        keep: bool,
        scheduled_timeout_seconds: float | None,
        timeout_grace_seconds: float,
        cleanup_grace_seconds: float,
        on_cleaned: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._watch = watch
        self._spec = spec
        self.name = name
        self.uid: str | None = None
        self._keep = keep
        self._scheduled_timeout = scheduled_timeout_seconds
        self._timeout_grace_seconds = timeout_grace_seconds
        self._cleanup_grace_seconds = cleanup_grace_seconds
        self._on_cleaned = on_cleaned
        self._loop = asyncio.get_running_loop()
        self._record = LaunchRecord("kubernetes", name, {})
        self._ending: asyncio.Future[Ending] = self._loop.create_future()
        self._status: ExitStatus | None = None
        self._stop_reason: str | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self._cleanup_task: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._scheduled_timer: asyncio.TimerHandle | None = None
        self._started = False
        self._deleted_outside = False
        self._gone = False  # the pod no longer exists on the server
        self._pending_note = "the pod stayed Pending"
        # output
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._log: PodLog | None = None
        self._log_done = False
        self._output_closed = False
        self._output_ended = False
        self._last_progress: Any = None
        self._last_payload: Any = None
        self._log_complete = False
        self._annotations: dict[str, str] = {}

    # -- the protocol --------------------------------------------------------------------------

    @property
    def record(self) -> LaunchRecord:
        return self._record

    @property
    def ended(self) -> bool:
        return self._ending.done()

    async def lines(self) -> AsyncIterator[str]:
        """The container's log, streamed once it starts, one line at a time.

        Besides the log, the handler's annotation reports (``pop.report.progress`` and
        ``pop.report.payload`` on its own pod, seen in watch events) come as ``Progress: <json>``
        and ``Payload: <json>`` lines when they differ from the last such line. At the pod's end,
        when the log held no COMPLETE report, the annotations' final report follows, then
        ``HandlerComplete`` (POP's rule: a handler that could only report through annotations
        still completes its op)."""
        while not self._output_ended:
            line = await self._queue.get()
            if line is None:
                self._output_ended = True
                return
            yield line

    # -- called by the launcher ----------------------------------------------------------------

    def accepted(self, pod: dict[str, Any]) -> None:
        """The create answered with ``pod``: the record is known, the clocks start."""
        metadata = pod.get("metadata") or {}
        self.uid = str(metadata.get("uid") or "") or None
        self._record = LaunchRecord(
            "kubernetes",
            self.name,
            {
                "namespace": self._client.namespace,
                "uid": self.uid,
                "server": self._client.server,
                "name": self.name,
            },
        )
        if self._scheduled_timeout is not None and not self._started:
            self._scheduled_timer = self._loop.call_later(
                self._scheduled_timeout, self._not_scheduled
            )
        if self._spec.timeout_seconds is not None:
            self._timers.append(
                self._loop.call_later(
                    self._spec.timeout_seconds,
                    self._begin_stop,
                    TIMED_OUT,
                    self._timeout_grace_seconds,
                )
            )

    # -- the watch's calls (watch thread) ------------------------------------------------------

    def on_pod(self, pod: dict[str, Any]) -> None:
        self._to_loop(self._pod_changed, pod)

    def on_deleted(self) -> None:
        self._to_loop(self._pod_deleted)

    def on_unreachable(self, message: str) -> None:
        self._to_loop(self._end, Ending(None, message))

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(callback, *args)

    # -- on the loop ---------------------------------------------------------------------------

    def _pod_changed(self, pod: dict[str, Any]) -> None:
        metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
        if self.uid is not None and metadata.get("uid") not in (None, self.uid):
            return
        self._report_annotations(metadata.get("annotations") or {})
        if self._ending.done():
            return
        if metadata.get("deletionTimestamp") and self._stop_reason is None:
            self._deleted_outside = True
        container = (status.get("containerStatuses") or [{}])[0]
        state = container.get("state") or {}
        if "running" in state or "terminated" in state:
            self._container_started()
        waiting = state.get("waiting") or {}
        if waiting.get("reason"):
            self._pending_note = f"{waiting['reason']}: {waiting.get('message') or ''}".strip()
            if waiting["reason"] in FAILS_AT_ONCE:
                self._fail_now(f"{self._pending_note}")
                return
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                self._pending_note = condition.get("message") or condition.get("reason") or ""
        phase = status.get("phase")
        if phase in ("Succeeded", "Failed"):
            terminated = state.get("terminated")
            if self._deleted_outside:
                self._end(Ending(None, POD_DELETED))
            elif terminated is not None:
                note = "killed: out of memory" if terminated.get("reason") == "OOMKilled" else ""
                self._end(Ending(int(terminated.get("exitCode", 0)), note=note))
            else:
                reason = ": ".join(
                    str(part) for part in (status.get("reason"), status.get("message")) if part
                )
                self._end(Ending(None, f"pod {phase}: {reason or 'no container status'}"))

    def _pod_deleted(self) -> None:
        self._gone = True
        self._end(Ending(None, POD_DELETED))

    def _container_started(self) -> None:
        self._started = True
        if self._scheduled_timer is not None:
            self._scheduled_timer.cancel()
            self._scheduled_timer = None
        if self._log is None:
            self._log = PodLog(
                self._client,
                self.name,
                emit=lambda lines: self._to_loop(self._log_lines, lines),
                done=lambda: self._to_loop(self._log_ended),
            )

    def _not_scheduled(self) -> None:
        self._scheduled_timer = None
        if not self._started:
            self._fail_now(
                f"not scheduled within {self._scheduled_timeout:g} s: {self._pending_note}"
            )

    def _fail_now(self, message: str) -> None:
        """The pod cannot run: delete it and end LOST with ``message``."""
        if self._ending.done() or self._stop_task is not None:
            return
        self._stop_reason = LOST
        self._stop_task = asyncio.create_task(self._delete_tree(0))
        self._end(Ending(None, message))

    def _end(self, ending: Ending) -> None:
        if self._ending.done():
            return
        self._ending.set_result(ending)
        for timer in [*self._timers, self._scheduled_timer]:
            if timer is not None:
                timer.cancel()
        self._timers, self._scheduled_timer = [], None
        if self._log is not None:
            drain = LOG_DRAIN_SECONDS if ending.lost else LOG_FINISH_SECONDS
            self._loop.call_later(drain, self._log.close)
        self._finish_output()

    # -- output --------------------------------------------------------------------------------

    def _log_lines(self, lines: list[str]) -> None:
        if self._output_closed:
            return
        for line in lines:
            if line.startswith(PROGRESS_PREFIX):
                self._last_progress = _parsed(line[len(PROGRESS_PREFIX) :])
                if _is_complete(self._last_progress):
                    self._log_complete = True
            elif line.startswith(PAYLOAD_PREFIX):
                self._last_payload = _parsed(line[len(PAYLOAD_PREFIX) :])
            self._queue.put_nowait(line)

    def _log_ended(self) -> None:
        self._log_done = True
        self._finish_output()

    def _report_annotations(self, annotations: dict[str, Any]) -> None:
        reports = {
            key: str(annotations[key])
            for key in (PROGRESS_ANNOTATION, PAYLOAD_ANNOTATION)
            if annotations.get(key)
        }
        if not reports or self._output_closed:
            return
        self._annotations.update(reports)
        if not self._log_complete:
            self._pass_on_reports()

    def _pass_on_reports(self) -> None:
        """Yield the annotations' reports that differ from the last such lines."""
        progress = self._annotations.get(PROGRESS_ANNOTATION)
        if progress is not None and _parsed(progress) != self._last_progress:
            self._last_progress = _parsed(progress)
            self._queue.put_nowait(PROGRESS_PREFIX + progress)
        payload = self._annotations.get(PAYLOAD_ANNOTATION)
        if payload is not None and _parsed(payload) != self._last_payload:
            self._last_payload = _parsed(payload)
            self._queue.put_nowait(PAYLOAD_PREFIX + payload)

    def _finish_output(self) -> None:
        """Close the output once the pod has ended and its log is complete (module docs)."""
        if self._output_closed or not self._ending.done():
            return
        if self._log is not None and not self._log_done:
            return
        if not self._log_complete and PROGRESS_ANNOTATION in self._annotations:
            self._pass_on_reports()
            self._queue.put_nowait(HANDLER_COMPLETE)
        self._output_closed = True
        self._queue.put_nowait(None)

    # -- stopping ------------------------------------------------------------------------------

    def _begin_stop(self, reason: str, grace_seconds: float) -> None:
        if self._stop_task is None and not self._ending.done():
            self._stop_reason = reason
            self._stop_task = asyncio.create_task(self._terminate(grace_seconds))

    async def _terminate(self, grace_seconds: float) -> None:
        try:
            await self._delete_tree(grace_seconds)
        except PopError as exc:
            self._end(Ending(None, f"cannot delete the pod: {exc}"))
        if self._gone:
            self._end(Ending(None, POD_DELETED))
        await asyncio.shield(self._ending)

    async def _delete_tree(self, grace_seconds: float) -> None:
        """Delete the pod and the external pods it started (``pop.parent=<pod>``)."""
        await asyncio.gather(self._delete_pod(grace_seconds), self._delete_children(grace_seconds))

    async def _delete_pod(self, grace_seconds: float) -> None:
        if self._gone:
            return
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        name, namespace, uid = self.name, self._client.namespace, self.uid
        grace = max(0, math.ceil(grace_seconds))
        body = V1DeleteOptions(
            grace_period_seconds=grace,
            preconditions=V1Preconditions(uid=uid) if uid else None,
        )
        try:
            await self._client.call(
                lambda core: core.delete_namespaced_pod(
                    name, namespace, body=body, _preload_content=False
                ),
                verb="delete",
            )
        except (NotFoundError, Conflict):
            self._gone = True

    async def _delete_children(self, grace_seconds: float) -> None:
        if self._stop_reason == LOST:
            return  # the pod never ran, so it started nothing
        await self._client.delete_selected(
            f"{PARENT_LABEL}={self.name}", max(0, math.ceil(grace_seconds))
        )

    async def _clean_up(self) -> None:
        if not self._ending.done():
            await self.cancel(self._cleanup_grace_seconds)
        await self.wait()
        if not self._keep and not self._gone:
            with contextlib.suppress(PopError):
                await self._delete_pod(0)
        self._watch.unsubscribe(self.name, self)
        if self._log is not None and not self._log_done:
            self._loop.call_later(LOG_DRAIN_SECONDS, self._log.close)
        if self._on_cleaned is not None:
            self._on_cleaned(self.name)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _is_complete(progress: Any) -> bool:
    return isinstance(progress, dict) and progress.get("processingState") == "COMPLETE"
