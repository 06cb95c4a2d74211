"""Following pods without polling them: one watch per launcher, and one log stream per pod.

Layer: runtimes (kubernetes implementation detail). Used by
:class:`pop.runtimes.kubernetes.launcher.KubernetesLauncher` (the watch) and
:class:`pop.runtimes.kubernetes.handle.KubernetesHandle` (the log).

:class:`PodWatch` lists the launcher's pods (label ``pop.launcher=<id>``) once, then watches
them from the list's resourceVersion on a thread of its own, resuming from the last version seen
after a broken stream and listing again on 410 Gone; every pod event goes to the subscriber of
that pod name. A subscribed pod missing from a relist is read once (it may be gone). When the
API stays out of reach past the client's retries, every subscriber hears ``unreachable`` and the
thread ends; the next subscription starts it again.

:class:`PodLog` streams one container's log (``follow``, with timestamps) through a
:class:`~pop.runtimes.lines.LineSplitter`; after a break it reopens the stream from the last
line's second and drops the lines it has already passed on.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

from pop.errors import NotFoundError, PopError
from pop.runtimes.kubernetes.client import KubeClient
from pop.runtimes.lines import LineSplitter

WATCH_SECONDS = 300  # the server ends a watch after this; it is resumed at once
LOG_REOPENS = 10  # breaks of one pod's log stream tolerated before its output ends
CLUSTER_UNREACHABLE = "cluster unreachable"


class PodSubscriber(Protocol):
    """What the watch tells about one pod (called from the watch thread)."""

    uid: str | None  # known once the create answered; a relist reads a missing pod only then

    def on_pod(self, pod: dict[str, Any]) -> None: ...

    def on_deleted(self) -> None: ...

    def on_unreachable(self, message: str) -> None: ...


class _Expired(Exception):
    """Internal signal: 410 Gone (or another watch error), list again."""


class PodWatch:
    """One watch on the pods labelled ``selector`` in the client's namespace."""

    def __init__(self, client: KubeClient, selector: str) -> None:
        self._client = client
        self._selector = selector
        self._lock = threading.Lock()
        self._subscribers: dict[str, PodSubscriber] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._response: Any = None
        self._version: str | None = None

    def subscribe(self, name: str, subscriber: PodSubscriber) -> bool:
        """Send ``name``'s events to ``subscriber`` (before its pod is created, so no event is
        missed); starts the watch thread when it is not running. False (and nothing done) when
        another subscriber holds ``name``: one of this launcher's pods has it."""
        with self._lock:
            if self._subscribers.get(name, subscriber) is not subscriber:
                return False
            self._subscribers[name] = subscriber
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="pop-kube-watch", daemon=True
                )
                self._thread.start()
        return True

    def unsubscribe(self, name: str, subscriber: PodSubscriber) -> None:
        with self._lock:
            if self._subscribers.get(name) is subscriber:
                del self._subscribers[name]

    def stop(self) -> None:
        """End the watch thread (blocking, briefly). Idempotent."""
        self._stopping.set()
        with self._lock:
            response, thread = self._response, self._thread
        _shut(response)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        import urllib3

        breaks = 0
        finished = False
        try:
            while not self._stopping.is_set():
                try:
                    if self._version is None:
                        self._relist()
                    if self._watch_once():
                        breaks = 0
                except _Expired:
                    self._version = None
                except PopError as exc:  # out of reach past the retries, or refused
                    self._unreachable(f"{CLUSTER_UNREACHABLE}: {exc}")
                    finished = True
                    return
                except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as exc:
                    if self._stopping.is_set():
                        break
                    breaks += 1  # a broken stream: resumed from the last version seen
                    if breaks > self._client.retries:
                        self._unreachable(f"{CLUSTER_UNREACHABLE}: {exc}")
                        finished = True
                        return
                    if breaks > 1:
                        self._stopping.wait(self._client.retry_delay)
            finished = True
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
                self._response = None
            if not finished:  # an unexpected error: nobody must wait for events forever
                self._unreachable("the watch failed")

    def _unreachable(self, message: str) -> None:
        """Tell every subscriber; the thread ends, and a later subscription starts another."""
        self._version = None
        with self._lock:
            subscribers = list(self._subscribers.values())
            self._subscribers.clear()
            if self._thread is threading.current_thread():
                self._thread = None
        for subscriber in subscribers:
            subscriber.on_unreachable(message)

    def _current(self) -> list[PodSubscriber]:
        with self._lock:
            return list(self._subscribers.values())

    def _relist(self) -> None:
        namespace, selector = self._client.namespace, self._selector

        def listing(core: Any) -> dict[str, Any]:
            response = core.list_namespaced_pod(
                namespace, label_selector=selector, _preload_content=False
            )
            return dict(json.loads(response.data))

        found = self._client.call_sync(listing, verb="list")
        pods = {pod["metadata"]["name"]: pod for pod in found.get("items") or []}
        with self._lock:
            subscribers = dict(self._subscribers)
        for name, subscriber in subscribers.items():
            if name in pods:
                subscriber.on_pod(pods[name])
            elif subscriber.uid is not None:
                self._read_missing(name, subscriber)
        self._version = str(found["metadata"]["resourceVersion"])

    def _read_missing(self, name: str, subscriber: PodSubscriber) -> None:
        namespace = self._client.namespace

        def read(core: Any) -> dict[str, Any]:
            response = core.read_namespaced_pod(name, namespace, _preload_content=False)
            return dict(json.loads(response.data))

        try:
            pod = self._client.call_sync(read, verb="get")
        except NotFoundError:
            subscriber.on_deleted()
            return
        if pod["metadata"].get("uid") != subscriber.uid:
            subscriber.on_deleted()
        else:
            subscriber.on_pod(pod)

    def _watch_once(self) -> bool:
        """One watch request, until it ends; True when it delivered something."""
        namespace, selector, version = self._client.namespace, self._selector, self._version

        def open_watch(core: Any) -> Any:
            return core.list_namespaced_pod(
                namespace,
                label_selector=selector,
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _preload_content=False,
                _request_timeout=(30, WATCH_SECONDS + 30),
            )

        response = self._client.call_sync(open_watch, verb="watch")
        with self._lock:
            self._response = response
        if self._stopping.is_set():
            _shut(response)
            return False
        delivered = False
        try:
            for line in _json_lines(response):
                self._event(json.loads(line))
                delivered = True
        finally:
            with self._lock:
                self._response = None
            response.release_conn()
        return delivered

    def _event(self, event: dict[str, Any]) -> None:
        kind, pod = event.get("type"), event.get("object") or {}
        metadata = pod.get("metadata") or {}
        if kind == "ERROR":
            raise _Expired  # 410 Gone or another error: list again
        if metadata.get("resourceVersion"):
            self._version = str(metadata["resourceVersion"])
        if kind == "BOOKMARK":
            return
        with self._lock:
            subscriber = self._subscribers.get(str(metadata.get("name")))
        if subscriber is None:
            return
        if kind == "DELETED":
            if subscriber.uid is None or subscriber.uid == metadata.get("uid"):
                subscriber.on_deleted()
        else:
            subscriber.on_pod(pod)


class PodLog:
    """Streams one pod's log on a thread of its own; ``emit`` gets each batch of lines, then
    ``done`` once (the container's log ended, the pod is gone, or the stream broke too often)."""

    def __init__(
        self,
        client: KubeClient,
        name: str,
        *,
        emit: Callable[[list[str]], None],
        done: Callable[[], None],
    ) -> None:
        self._client = client
        self._name = name
        self._emit = emit
        self._done = done
        self._last: datetime | None = None  # the time of the last line passed on
        self._at_last = 0  # lines passed on with that time
        self._closed = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        threading.Thread(target=self._run, name=f"pop-kube-log-{name}", daemon=True).start()

    def close(self) -> None:
        """Stop reading (blocking briefly); ``done`` still comes."""
        self._closed.set()
        with self._lock:
            response = self._response
        _shut(response)

    def _run(self) -> None:
        try:
            for _ in range(LOG_REOPENS + 1):
                if self._closed.is_set() or self._stream_once():
                    return
        except PopError:
            return  # the pod is gone, or the API is: the watch tells how the pod ended
        finally:
            self._done()

    def _stream_once(self) -> bool:
        """One log request; True when it ended normally (the log is complete)."""
        import urllib3

        name, namespace = self._name, self._client.namespace
        since = None
        if self._last is not None:
            since = max(1, math.ceil((datetime.now(UTC) - self._last).total_seconds()) + 1)

        def open_log(core: Any) -> Any:
            return core.read_namespaced_pod_log(
                name,
                namespace,
                follow=True,
                timestamps=True,
                since_seconds=since,
                _preload_content=False,
            )

        response = self._client.call_sync(open_log, verb="get", resource="pods/log")
        with self._lock:
            self._response = response
        splitter = LineSplitter()
        skip = self._at_last if since is not None else 0
        try:
            for chunk in response.stream(64 * 1024, decode_content=True):
                skip = self._pass_on(splitter.feed(chunk), skip)
            self._pass_on(splitter.close(), skip)
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            return self._closed.is_set()  # a broken stream: reopened unless closed
        finally:
            with self._lock:
                self._response = None
            with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
                response.release_conn()
        return True

    def _pass_on(self, stamped: list[str], skip: int) -> int:
        """Strip the timestamps, drop lines already passed on, emit the rest; returns how many
        lines at the last time are still to drop."""
        lines = []
        for text in stamped:
            moment, line = split_timestamp(text)
            if moment is not None and self._last is not None:
                if moment < self._last:
                    continue
                if moment == self._last and skip > 0:
                    skip -= 1
                    continue
            if moment is not None:
                if moment == self._last:
                    self._at_last += 1
                else:
                    self._last, self._at_last = moment, 1
                skip = 0
            lines.append(line)
        if lines:
            self._emit(lines)
        return skip


def split_timestamp(text: str) -> tuple[datetime | None, str]:
    """``(time, line)`` from a log line written with ``timestamps=true``
    (``2019-08-26T23:19:30.381101127Z line``); ``(None, text)`` when it starts otherwise."""
    stamp, space, rest = text.partition(" ")
    if not space or not stamp.endswith("Z") or "T" not in stamp:
        return None, text
    whole, _, fraction = stamp[:-1].partition(".")
    try:
        moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None, text
    if fraction.isdigit():
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    return moment, rest


def _json_lines(response: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in response.stream(64 * 1024, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _shut(response: Any) -> None:
    """Unblock a thread reading ``response`` (closing its socket)."""
    if response is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):
        response.shutdown()
    with contextlib.suppress(OSError, AttributeError, ValueError):
        response.close()
