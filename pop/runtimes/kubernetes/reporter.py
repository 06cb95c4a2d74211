"""The handler side of annotation reports: a launched handler patches its progress and result
onto its own pod (issue 12, item 4; DESIGN §6).

Layer: runtimes (kubernetes implementation detail). Built by
:func:`pop.runtimes.create_report_sink` for a handler started with ``launchType kubernetes`` and
``MY_POD_NAME`` set; the handler SDK tees its stdout reporter into it. The ``kubernetes`` client
is imported only for a configuration the standard-library patcher cannot serve, never at import
time.

What it writes: a JSON merge patch (``application/merge-patch+json``) of the pod's
``metadata.annotations``: ``pop.report.progress`` (the OperationProgress JSON, compact) and, with
a result, ``pop.report.payload`` (the result JSON). The executor reads them from its watch when
the pod's log is lost (POP's rule).

When: on change, at most one patch per ``interval_seconds`` (2 s) from a background thread, with a
trailing flush of the latest report; the final report always, synchronously, so it is on the pod
before the handler prints ``HandlerComplete``. Each patch is tried ``attempts`` (3) times
``retry_delay_seconds`` (2 s) apart (client errors other than 408/409/429 are not retried). A
failure writes one warning line (the first only) and never fails the handler.

Configuration, in POP's order: in-cluster (``KUBERNETES_SERVICE_HOST`` and the service account
token), else the ``oauthCertPath`` + ``oauthTokenPath`` files with ``pop.kubernetes.masterUrl``
(blank: ``https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT``), else ``KUBECONFIG`` (and
``POP_KUBE_CONTEXT``). Namespace: ``POD_NAMESPACE`` > the given one (``pop.kubernetes.namespace``)
> the in-cluster service account's > the kubeconfig context's > ``pop``. The request goes
through :mod:`pop.runtimes.kubernetes.patcher` (standard library) unless the configuration
needs the official client (exec or auth-provider plugins...).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pop.errors import PopError
from pop.runtimes.kubernetes.config import DEFAULT_NAMESPACE, resolve_target
from pop.runtimes.kubernetes.patcher import MERGE_PATCH, direct_patcher

PROGRESS_ANNOTATION = "pop.report.progress"
PAYLOAD_ANNOTATION = "pop.report.payload"
POD_NAME_ENV = "MY_POD_NAME"
POD_NAMESPACE_ENV = "POD_NAMESPACE"

INTERVAL_SECONDS = 2.0  # at most one intermediate patch per interval
ATTEMPTS = 3  # tries per patch
RETRY_DELAY_SECONDS = 2.0  # between tries
REQUEST_TIMEOUT_SECONDS = 10.0  # one request, so a hung API server cannot hang the handler

_NOT_RETRIED = frozenset(range(400, 500)) - {408, 409, 429}


@dataclass(frozen=True)
class SinkConfig:
    """Where the sink connects: the pod, its namespace and how to build the client."""

    pod_name: str
    namespace: str | None  # None: from the client configuration's source
    oauth_cert_path: str | None = None
    oauth_token_path: str | None = None
    master_url: str | None = None


def _write_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class AnnotationSink:
    """A :class:`pop.runtimes.base.ReportSink` patching ``pop.report.*`` on the handler's pod.

    Thread-safe. ``report(..., final=False)`` only records the latest report (a background
    thread patches it, throttled); ``report(..., final=True)`` stops that thread and patches at
    once; ``close()`` flushes a report not yet sent and releases the client. ``api`` (a
    ``CoreV1Api``) replaces the one built from ``env`` (tests).
    """

    def __init__(
        self,
        config: SinkConfig,
        env: Mapping[str, str],
        *,
        interval_seconds: float | None = None,
        attempts: int | None = None,
        retry_delay_seconds: float | None = None,
        warn: Callable[[str], None] | None = None,
        api: Any = None,
    ) -> None:
        self.config = config
        self._env = dict(env)
        self._interval = INTERVAL_SECONDS if interval_seconds is None else interval_seconds
        self._attempts = max(1, ATTEMPTS if attempts is None else attempts)
        self._retry_delay = (
            RETRY_DELAY_SECONDS if retry_delay_seconds is None else retry_delay_seconds
        )
        self._warn = warn or _write_stderr
        self._api = api
        self._api_client: Any = None
        self._namespace: str | None = config.namespace
        self._lock = threading.Condition(threading.RLock())
        self._client_lock = threading.Lock()
        self._pending: tuple[str, str | None] | None = None  # latest report not yet sent
        self._sent: tuple[str, str | None] | None = None  # last report patched (or tried)
        self._last_patch = float("-inf")  # monotonic time of the last intermediate patch
        self._final_seen = False
        self._stopping = threading.Event()  # the background thread ends
        self._superseded = threading.Event()  # a final report came: drop intermediate retries
        self._thread: threading.Thread | None = None
        self._warned = False
        self._disabled = False  # no configuration: nothing to patch
        self.patches = 0  # patches that succeeded (tests, diagnostics)

    # -- ReportSink ------------------------------------------------------------------------------

    def report(self, progress_json: str, payload_json: str | None, final: bool = False) -> None:
        """The latest progress (and, with a final report, the result JSON or None)."""
        report = (progress_json, payload_json)
        if final:
            self._superseded.set()
            self._stop_thread()
            with self._lock:
                self._final_seen = True
                self._pending = None
                self._sent = report
            self._patch(report, final=True)
            return
        with self._lock:
            if self._final_seen or self._stopping.is_set():
                return
            if report == (self._pending or self._sent):
                return
            self._pending = report
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pop-annotation-reports", daemon=True
                )
                self._thread.start()
            self._lock.notify_all()

    def close(self) -> None:
        """Patch a report not yet sent (no final came), then release the client. Idempotent."""
        self._stop_thread()
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._sent = pending
        if pending is not None:
            self._patch(pending, final=True)
        with self._client_lock:
            client, self._api_client = self._api_client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing a pool must not fail the handler
                client.close()

    # -- the throttled background patches --------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stopping.is_set():
                    self._lock.wait()
                if self._stopping.is_set():
                    return
                wait = self._last_patch + self._interval - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)  # reports keep replacing the pending one meanwhile
                    continue
                report, self._pending = self._pending, None
                self._sent = report
                self._last_patch = time.monotonic()
            assert report is not None
            self._patch(report, final=False)

    def _stop_thread(self) -> None:
        with self._lock:
            self._stopping.set()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- one patch, retried ----------------------------------------------------------------------

    def _patch(self, report: tuple[str, str | None], *, final: bool) -> None:
        if self._disabled:
            return
        annotations = {PROGRESS_ANNOTATION: report[0]}
        if report[1] is not None:
            annotations[PAYLOAD_ANNOTATION] = report[1]
        body = {"metadata": {"annotations": annotations}}
        error: BaseException | None = None
        for attempt in range(self._attempts):
            if attempt:
                if not final:
                    if self._superseded.wait(self._retry_delay):
                        return  # a final report supersedes this one
                else:
                    time.sleep(self._retry_delay)
            try:
                api, namespace = self._client()
            except PopError as exc:
                self._disabled = True
                self._warn_once(f"cannot patch pod annotations: {exc.message}")
                return
            except Exception as exc:  # e.g. the client is not installed
                self._disabled = True
                self._warn_once(f"cannot patch pod annotations: {_describe(exc)}")
                return
            try:
                api.patch_namespaced_pod(
                    self.config.pod_name,
                    namespace,
                    body,
                    _content_type=MERGE_PATCH,
                    _request_timeout=REQUEST_TIMEOUT_SECONDS,
                )
            except Exception as exc:  # any failure is a warning, never fatal
                error = exc
                if getattr(exc, "status", None) in _NOT_RETRIED:
                    break
                continue
            self.patches += 1
            return
        what = "the final report" if final else "a progress report"
        self._warn_once(
            f"cannot patch {what} onto pod {self._namespace}/{self.config.pod_name} "
            f"after {attempt + 1} attempt(s): {_describe(error)}"
        )

    def _warn_once(self, message: str) -> None:
        with self._lock:
            if self._warned:
                return
            self._warned = True
        self._warn(f"warning: {message}; annotation reports may be missing (stdout has them)")

    def _client(self) -> tuple[Any, str]:
        with self._client_lock:
            if self._api is None:
                config = self.config
                direct = direct_patcher(
                    self._env,
                    oauth_cert_path=config.oauth_cert_path,
                    oauth_token_path=config.oauth_token_path,
                    master_url=config.master_url,
                )
                if direct is not None:  # the common case: no kubernetes import (0.65 s CPU)
                    (self._api, namespace), self._api_client = direct, direct[0]
                else:
                    self._api, self._api_client, namespace = _build_api(self._env)
                self._namespace = self._namespace or namespace
            return self._api, self._namespace or DEFAULT_NAMESPACE


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    status = getattr(error, "status", None)
    reason = getattr(error, "reason", None)
    if status is not None:
        return f"HTTP {status} {reason or ''}".rstrip()
    return f"{type(error).__name__}: {error}"


def _build_api(env: Mapping[str, str]) -> tuple[Any, Any, str | None]:
    """(CoreV1Api, its ApiClient, the context's namespace) from the kubeconfig, for the
    configurations :func:`~pop.runtimes.kubernetes.patcher.direct_patcher` leaves to the official
    client (exec or auth-provider plugins...); PopError when it cannot be loaded."""
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config import ConfigException

    loaders: Any = kube_config  # its loaders are untyped
    target = resolve_target({}, env)
    configuration = client.Configuration()
    try:
        loaders.load_kube_config(
            config_file=target.kubeconfig,
            context=target.context,
            client_configuration=configuration,
        )
    except (ConfigException, OSError, ValueError) as exc:
        raise PopError(f"kubeconfig {target.kubeconfig}: {exc}") from exc
    api_client = client.ApiClient(configuration)
    return client.CoreV1Api(api_client), api_client, target.namespace


def create_sink(
    env: Mapping[str, str],
    *,
    oauth_cert_path: str | None = None,
    oauth_token_path: str | None = None,
    master_url: str | None = None,
    namespace: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> AnnotationSink | None:
    """The sink for the pod named by ``MY_POD_NAME`` in ``env`` (None without one)."""
    pod_name = env.get(POD_NAME_ENV) or ""
    if not pod_name:
        return None
    config = SinkConfig(
        pod_name=pod_name,
        namespace=env.get(POD_NAMESPACE_ENV) or namespace or None,
        oauth_cert_path=oauth_cert_path or None,
        oauth_token_path=oauth_token_path or None,
        master_url=master_url or None,
    )
    return AnnotationSink(config, env, warn=warn)
