"""The kubernetes runtime's one way to the API server: the official client's ``CoreV1Api`` behind
a token bucket, with retries, and with every API error translated into a pop error at this seam.

Layer: runtimes (kubernetes implementation detail). Used by the launcher, its handles and the
watch (:mod:`pop.runtimes.kubernetes.follow`); the only module that loads the client's
configuration.

- Configuration from :func:`pop.runtimes.kubernetes.config.resolve_target`: the kubeconfig file
  and context, or in-cluster.
- Rate: at most ``rate`` requests a second with bursts of ``burst`` (20/s, 30), shared by every
  thread of the launcher.
- Retries: a 5xx, a 429 or a connection error is retried ``retries`` times ``retry_delay``
  seconds apart; past them the cluster is unreachable (RuntimeUnavailableError).
- Translation: 401/403 → RuntimeUnavailableError (403 with a hint naming the RBAC rule the Role
  lacks, as "pods: create"); 400/422 → permanent LaunchError with the API's message; 404 →
  NotFoundError; 409 → :class:`Conflict`; other answers → LaunchError.

Blocking calls run on the client's own thread pool (:meth:`KubeClient.call`), never on the event
loop; the watch and log threads use :meth:`KubeClient.call_sync`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pop.errors import LaunchError, NotFoundError, RuntimeUnavailableError
from pop.runtimes.kubernetes.config import KubeTarget

T = TypeVar("T")

DEFAULT_RATE = 20.0
DEFAULT_BURST = 30
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DELAY = 2.0
REQUEST_TIMEOUT_SECONDS = 30.0
_POOL_THREADS = 8


class Conflict(LaunchError):
    """409 from the API server: the name is taken, or a precondition (uid) failed."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; thread-safe."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; returns how long the caller must wait before using it."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class KubeClient:
    """The API client of one launcher; building it never contacts the server."""

    def __init__(
        self,
        target: KubeTarget,
        *,
        retries: int = DEFAULT_RETRIES,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
    ) -> None:
        self.target = target
        self.retries = retries
        self.retry_delay = retry_delay
        self._bucket = TokenBucket(rate, burst)
        self._lock = threading.Lock()
        self._api: Any = None
        self._api_client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def namespace(self) -> str:
        return self.target.namespace

    @property
    def server(self) -> str:
        return self.target.server

    def core(self) -> Any:
        """The ``CoreV1Api`` (built on first use; blocking: reads the kubeconfig)."""
        with self._lock:
            if self._api is None:
                from kubernetes import client, config

                try:
                    if self.target.in_cluster:
                        configuration = client.Configuration()
                        config.load_incluster_config(  # type: ignore[no-untyped-call]
                            client_configuration=configuration
                        )
                        self._api_client = client.ApiClient(configuration)
                    else:
                        self._api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                            config_file=self.target.kubeconfig,
                            context=self.target.context,
                            persist_config=False,
                        )
                except (config.ConfigException, OSError, ValueError) as exc:
                    raise RuntimeUnavailableError(
                        f"cannot configure the Kubernetes client: {exc}"
                    ) from exc
                self._api = client.CoreV1Api(self._api_client)
            return self._api

    async def call(self, fn: Callable[[Any], T], *, verb: str, resource: str = "pods") -> T:
        """``fn(core_v1)`` on the pool, rate-limited, retried and translated (module docs)."""
        delay = self._bucket.reserve()
        if delay:
            await asyncio.sleep(delay)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor(), lambda: self._attempts(fn, verb, resource, rate_limited=True)
        )

    def call_sync(self, fn: Callable[[Any], T], *, verb: str, resource: str = "pods") -> T:
        """Blocking :meth:`call`, for the watch and log threads."""
        return self._attempts(fn, verb, resource, rate_limited=False)

    async def delete_selected(
        self, selector: str, grace: int, *, namespace: str | None = None
    ) -> int:
        """Delete every pod labelled ``selector`` in ``namespace`` (default the client's; one
        list, then one delete each, with ``grace``); returns how many were deleted."""
        namespace = namespace or self.namespace

        def listing(core: Any) -> list[str]:
            response = core.list_namespaced_pod(
                namespace, label_selector=selector, _preload_content=False
            )
            items = json.loads(response.data).get("items") or []
            return [str(item["metadata"]["name"]) for item in items]

        names = await self.call(listing, verb="list")

        async def delete(name: str) -> bool:
            try:
                await self.call(
                    lambda core: core.delete_namespaced_pod(
                        name, namespace, grace_period_seconds=grace, _preload_content=False
                    ),
                    verb="delete",
                )
            except NotFoundError:
                return False
            return True

        deleted = await asyncio.gather(*(delete(name) for name in names))
        return sum(deleted)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            api_client, self._api_client, self._api = self._api_client, None, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if api_client is not None:
            api_client.close()

    # -- internals -----------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_POOL_THREADS, thread_name_prefix="pop-kube")
            return self._pool

    def _attempts(
        self, fn: Callable[[Any], T], verb: str, resource: str, *, rate_limited: bool
    ) -> T:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        attempt = 0
        while True:
            if not rate_limited or attempt:
                pause = self._bucket.reserve()
                if pause:
                    time.sleep(pause)
            try:
                return fn(self.core())
            except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                if is_retryable(exc) and attempt < self.retries:
                    attempt += 1
                    time.sleep(self.retry_delay)
                    continue
                raise self.translate(exc, verb=verb, resource=resource) from exc

    def translate(self, exc: BaseException, *, verb: str, resource: str) -> Exception:
        """The pop error for a client exception (module docs)."""
        from kubernetes.client.exceptions import ApiException

        where = self.server or "the cluster"
        if not isinstance(exc, ApiException) or not exc.status:
            return RuntimeUnavailableError(f"cannot reach Kubernetes at {where}: {exc}")
        status, message = int(exc.status), api_message(exc)
        if status == 401:
            return RuntimeUnavailableError(
                f"Kubernetes at {where} refused our credentials (401): {message}",
                hint="check the kubeconfig user or the service account token",
            )
        if status == 403:
            return RuntimeUnavailableError(
                f"Kubernetes at {where} forbids {verb} on {resource} in namespace "
                f"{self.namespace} (403): {message}",
                hint=f"the Role needs {resource}: {verb} (see `pop k8s manifests`)",
            )
        if status in (400, 422):
            return LaunchError(f"Kubernetes refused {verb} {resource}: {message}", permanent=True)
        if status == 404:
            return NotFoundError(f"{resource} not found: {message}")
        if status == 409:
            return Conflict(message)
        if status >= 500 or status == 429:
            return RuntimeUnavailableError(f"Kubernetes at {where} answers {status}: {message}")
        return LaunchError(f"Kubernetes refused {verb} {resource} ({status}): {message}")


def is_retryable(exc: BaseException) -> bool:
    """A 5xx, a 429 or a connection-level failure (no HTTP answer at all)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return not exc.status or exc.status >= 500 or exc.status == 429
    return is_connection_error(exc)


def is_connection_error(exc: BaseException) -> bool:
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError))


def api_message(exc: Any) -> str:
    """The ``message`` of the API's Status body, else the reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            return str(body)[:500]
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return str(getattr(exc, "reason", "") or exc)
