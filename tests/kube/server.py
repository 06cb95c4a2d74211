"""A Kubernetes API test server: a real HTTP server on a loopback port that speaks enough of the
core/v1 API (pods, pods/log, pods/status, configmaps, secrets) for the official ``kubernetes``
client, with the real API's Status bodies, resourceVersion/watch/410 semantics, selectors,
paging, merge patches, graceful deletes with uid preconditions, bearer-token auth and test hooks
(403 per verb, failing or dropped requests, broken streams, unschedulable pods, image pull
errors, seeded pods, a request counter).

Test infrastructure (DESIGN §13), not part of ``pop``. Start it with ``start_api_server(folder)``
(or the ``kube_api`` fixture of ``tests/kube/fixtures.py``); ``kubelet.py`` runs the pods.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.kube.endpoints import Endpoints, Route, flag
from tests.kube.store import (
    KINDS,
    ApiError,
    BrokenStream,
    KubeStore,
    Obj,
    format_time,
    not_found,
)

TOKEN = "pop-test-token"
POD_TOKEN = "pop-test-pod-token"
USERS = {TOKEN: "test-user", POD_TOKEN: "system:serviceaccount:{namespace}:default"}
DEFAULT_NAMESPACE = "pop"
FAILURE_REASONS = {
    429: "TooManyRequests",
    500: "InternalError",
    502: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class ApiRequest:
    """One request as the counter records it; ``resource`` includes a subresource (pods/log)."""

    verb: str
    resource: str
    namespace: str | None
    name: str | None
    user: str | None
    content_type: str | None = None


@dataclass
class _Failure:
    remaining: int
    status: int | str  # an HTTP status, or "drop" to close the connection without an answer
    verb: str | None
    resource: str | None
    retry_after: int | None = None


class KubeApiServer:
    """The server and its hooks. ``url``, ``kubeconfig`` (the test's) and ``pod_kubeconfig`` (what
    pods get: another token, so the counter tells handler patches from executor requests)."""

    def __init__(self, folder: Path, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.store = KubeStore()
        self.namespace = namespace
        self.folder = folder
        self._lock = threading.Lock()
        self._requests: list[ApiRequest] = []
        self._forbidden: set[tuple[str, str]] = set()
        self._by_policy: set[tuple[str, str]] = set()
        self._failures: list[_Failure] = []
        self._unschedulable: list[tuple[Callable[[Obj], bool], str]] = []
        self._image_failures: dict[str, tuple[str, str]] = {}
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self.kubelet_nodes: set[str] = set()  # nodes a kubelet simulator runs pods on
        # who a request without a token is (None: 401). kubectl sends no token over plain HTTP:
        # set this (e.g. "kubectl") to look at the simulated cluster with kubectl
        self.anonymous_user: str | None = None
        # seconds between BOOKMARK events of an idle watch that allows them (None: only one, at
        # its timeout; the API server sends them about once a minute)
        self.bookmark_interval: float | None = None
        self.stopping = threading.Event()
        self._httpd = _HttpServer(("127.0.0.1", 0), _Handler)
        self._httpd.api = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.kubeconfig = self.write_kubeconfig("kubeconfig", token=TOKEN, user="test-user")
        self.pod_kubeconfig = self.write_kubeconfig("pod-kubeconfig", token=POD_TOKEN, user="pod")
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"kube-api-{self.port}",
            daemon=True,
        )

    def write_kubeconfig(
        self,
        filename: str,
        *,
        token: str = TOKEN,
        user: str = "test-user",
        context: str = "sim",
        namespace: str | None = None,
    ) -> Path:
        """A kubeconfig for this server in ``folder``: one cluster, one user with ``token``, one
        context (current) with ``namespace`` (default: the server's)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {
                        "cluster": "sim",
                        "user": user,
                        "namespace": namespace or self.namespace,
                    },
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        path = self.folder / filename
        path.write_text(yaml.safe_dump(config))
        return path

    def start(self) -> KubeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open streams and connections, join every thread."""
        self.stopping.set()
        self.store.stop()
        if self._thread.is_alive():
            self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def threads_alive(self) -> list[str]:
        """Names of this server's threads still running (none after ``stop()``)."""
        with self._lock:
            threads = [self._thread, *self._handler_threads]
        return [thread.name for thread in threads if thread.is_alive()]

    # -- hooks ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ApiRequest]:
        with self._lock:
            return list(self._requests)

    def count(
        self,
        verb: str | None = None,
        resource: str | None = None,
        name: str | None = None,
        *,
        user: str | None = None,
    ) -> int:
        """Requests so far matching every given field (``resource`` "pods" excludes "pods/log")."""
        return sum(
            1
            for request in self.requests
            if (verb is None or request.verb == verb)
            and (resource is None or request.resource == resource)
            and (name is None or request.name == name)
            and (user is None or request.user == user)
        )

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def forbid(self, verb: str, resource: str, *, by_policy: bool = False) -> None:
        """Answer ``verb`` on ``resource`` (e.g. "create", "pods"; "get", "pods/log") with 403:
        the user's RBAC rules lack it (a rules review says so), or with ``by_policy`` an
        admission policy refuses it although the rules grant it."""
        with self._lock:
            self._forbidden.add((verb, resource))
            if by_policy:
                self._by_policy.add((verb, resource))

    def break_streams(self) -> None:
        """Drop every open watch and log stream mid-stream (clients see a broken connection)."""
        self.store.break_streams()

    def forbidden(self) -> set[tuple[str, str]]:
        """The (verb, resource) pairs the user's RBAC rules lack (not those only a policy
        refuses)."""
        with self._lock:
            return self._forbidden - self._by_policy

    def allow_all(self) -> None:
        with self._lock:
            self._forbidden.clear()
            self._by_policy.clear()

    def fail_requests(
        self,
        count: int,
        status: int | str = 503,
        *,
        verb: str | None = None,
        resource: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` matching requests get ``status`` (500, 503, 429...) or, with
        ``status="drop"``, a closed connection and no answer. A 429 carries ``Retry-After: 1``
        as the API server's does (urllib3 then retries it by itself, up to 3 times); pass
        ``retry_after`` to choose (0: retried at once)."""
        if retry_after is None and status == 429:
            retry_after = 1
        with self._lock:
            self._failures.append(_Failure(count, status, verb, resource, retry_after))

    def make_unschedulable(
        self,
        message: str = "0/1 nodes are available: 1 Insufficient cpu.",
        match: Callable[[Obj], bool] | None = None,
    ) -> None:
        """Pods (all, or those ``match`` accepts) stay Pending with PodScheduled=False."""
        with self._lock:
            self._unschedulable.append((match or (lambda pod: True), message))

    def make_schedulable(self) -> None:
        with self._lock:
            self._unschedulable.clear()

    def fail_image(
        self, image: str, reason: str = "ErrImagePull", message: str | None = None
    ) -> None:
        """Containers of ``image`` stay waiting with ``reason`` (ErrImagePull, InvalidImageName,
        CreateContainerConfigError...)."""
        with self._lock:
            self._image_failures[image] = (
                reason,
                message or f'rpc error: code = Unknown desc = failed to pull image "{image}"',
            )

    def unschedulable_message(self, pod: Obj) -> str | None:
        with self._lock:
            rules = list(self._unschedulable)
        return next((message for match, message in rules if match(pod)), None)

    def image_failure(self, image: str) -> tuple[str, str] | None:
        with self._lock:
            return self._image_failures.get(image)

    def seed_pod(
        self,
        manifest: Obj,
        *,
        namespace: str | None = None,
        status: Obj | None = None,
        created: datetime | None = None,
        node_name: str = "seeded-node",
    ) -> Obj:
        """Put a pod in the store as if it had existed (no request counted): ``status`` as given
        (e.g. ``{"phase": "Succeeded", "startTime": ...}``), ``creationTimestamp`` = ``created``,
        bound to ``node_name`` where no kubelet simulator runs, so no process starts and a delete
        removes it at once. For reaper tests and benchmarks."""
        body = copy.deepcopy(manifest)
        body.setdefault("spec", {}).setdefault("nodeName", node_name)
        return self.store.create(
            "pods", namespace or self.namespace, body, status=status, created=created
        )

    def wait_for_pod(
        self,
        name: str,
        predicate: Callable[[Obj | None], bool],
        *,
        namespace: str | None = None,
        timeout: float = 20.0,
    ) -> Obj | None:
        """Wait (on the store, no HTTP request) until ``predicate(pod)`` holds; the pod is None
        once it is gone. Returns the pod; AssertionError with its last state on timeout."""
        key = ("pods", namespace or self.namespace, name)
        deadline = time.monotonic() + timeout
        with self.store.lock:
            while True:
                current = self.store.objects.get(key)
                pod = copy.deepcopy(current) if current is not None else None
                if predicate(pod):
                    return pod
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"pod {name}: condition not met in {timeout} s: {pod}")
                self.store.changed.wait(min(remaining, 0.2))

    # -- request bookkeeping (called by the handler) -------------------------------------------

    def _admit(
        self, route: Route, token: str | None, content_type: str | None = None
    ) -> tuple[_Failure | int | None, str | None]:
        """Record the request and decide: (a failure, 401/403, or None; the user)."""
        user = USERS.get(token or "") if token is not None else self.anonymous_user
        if user:
            user = user.format(namespace=route.namespace or self.namespace)
        with self._lock:
            self._requests.append(
                ApiRequest(
                    route.verb, route.resource, route.namespace, route.name, user, content_type
                )
            )
            for failure in self._failures:
                if (
                    failure.remaining > 0
                    and failure.verb in (None, route.verb)
                    and failure.resource in (None, route.resource)
                ):
                    failure.remaining -= 1
                    return failure, user
            if user is None:
                return 401, None
            if (route.verb, route.resource) in self._forbidden:
                return 403, user
        return None, user

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
                self._handler_threads.add(threading.current_thread())
            else:
                self._connections.discard(connection)
                self._handler_threads.discard(threading.current_thread())


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    api: KubeApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (tests drop connections on purpose) is not an error worth a
        traceback in the test log; anything else still is."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
ALL_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


def _route(method: str, path: str, query: dict[str, str]) -> Route:
    parts = [unquote(part) for part in path.strip("/").split("/")]
    if parts[:2] != ["api", "v1"]:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rest = parts[2:]
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in KINDS or len(rest) > 3:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    resource, name = rest[0], rest[1] if len(rest) > 1 else None
    if len(rest) == 3:
        if rest[0] != "pods" or rest[2] not in ("log", "status"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = f"pods/{rest[2]}"
    if name is None:
        verbs = {"GET": "watch" if flag(query.get("watch")) else "list", "POST": "create"}
        verbs["DELETE"] = "deletecollection"
    else:
        verbs = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
    if method not in verbs or (namespace is None and method != "GET"):
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")
    return Route(verbs[method], resource, namespace, name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counter records requests."""

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.api._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.api._track(self.connection, False)

    @property
    def api(self) -> KubeApiServer:
        return self.server.api

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # -- plumbing ------------------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        discovery = _discovery(split.path.rstrip("/"), self.api.port)
        if discovery is not None:  # not counted, no token needed: for kubectl, not for pop
            self._json(200, discovery)
            return
        if method == "POST" and split.path.rstrip("/") == RULES_REVIEW_PATH:
            self._rules_review(raw)
            return
        try:
            route = _route(method, split.path, query)
        except ApiError as error:
            self._json(error.code, error.status())
            return
        authorization = self.headers.get("Authorization") or ""
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip() or None
        failure, user = self.api._admit(route, token, content_type)
        if failure == 401:
            self._json(401, ApiError(401, "Unauthorized", "Unauthorized").status())
            return
        if failure == 403:
            self._json(403, _forbidden(route, user or "").status())
            return
        if isinstance(failure, _Failure):
            if failure.status == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            code = int(failure.status)
            reason = FAILURE_REASONS.get(code, "InternalError")
            error = ApiError(code, reason, f"simulated failure ({code} {reason})")
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            self._json(code, error.status(), headers)
            return
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            self._json(400, ApiError(400, "BadRequest", f"invalid JSON: {exc}").status())
            return
        try:
            Endpoints(self, route, query, body).dispatch()
        except ApiError as error:
            self._json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except BrokenStream:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _rules_review(self, raw: bytes) -> None:
        """A SelfSubjectRulesReview (what ``kubectl auth can-i --list`` asks): every verb on
        every resource this server serves, less those ``forbid`` took away; counted as a
        ``create`` of ``selfsubjectrulesreviews``. ``forbid("create",
        "selfsubjectrulesreviews")`` answers 403, as a server whose RBAC denies the review."""
        body = json.loads(raw or b"{}")
        namespace = (body.get("spec") or {}).get("namespace") or self.api.namespace
        route = Route("create", "selfsubjectrulesreviews", namespace, None)
        authorization = self.headers.get("Authorization") or ""
        token = authorization[7:] if authorization.lower().startswith("bearer ") else None
        failure, _ = self.api._admit(route, token)
        if failure is not None:
            code = failure if isinstance(failure, int) else int(failure.status)
            self._json(code, ApiError(code, "Forbidden", "simulated refusal").status())
            return
        forbidden = self.api.forbidden()
        rules = []
        for resource in (*KINDS, "pods/log", "pods/status"):
            verbs = [verb for verb in ALL_VERBS if (verb, resource) not in forbidden]
            if verbs:
                rules.append({"verbs": verbs, "apiGroups": [""], "resources": [resource]})
        self._json(
            201,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": namespace},
                "status": {"resourceRules": rules, "nonResourceRules": [], "incomplete": False},
            },
        )

    def _json(self, code: int, body: Obj, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _discovery(path: str, port: int) -> Obj | None:
    """/version and the legacy discovery documents kubectl reads before ``kubectl get pods``."""
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    documents: dict[str, Obj] = {
        "/version": {"major": "1", "minor": "31", "gitVersion": "v1.31.0-pop-sim"},
        "/api": {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{port}"}
            ],
        },
        "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                *(
                    {
                        "name": resource,
                        "singularName": kind.lower(),
                        "namespaced": True,
                        "kind": kind,
                        "verbs": verbs,
                        "shortNames": short,
                    }
                    for resource, kind, short in (
                        ("pods", "Pod", ["po"]),
                        ("configmaps", "ConfigMap", ["cm"]),
                        ("secrets", "Secret", []),
                    )
                ),
                {
                    "name": "pods/log",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Pod",
                    "verbs": ["get"],
                },
                {
                    "name": "pods/status",
                    "singularName": "",
                    "namespaced": True,
                    "kind": "Pod",
                    "verbs": ["get", "patch", "update"],
                },
            ],
        },
    }
    return documents.get(path)


def _forbidden(route: Route, user: str) -> ApiError:
    named = f' "{route.name}"' if route.name else ""
    resource, _, subresource = route.resource.partition("/")
    where = f' in the namespace "{route.namespace}"' if route.namespace else " at the cluster scope"
    message = (
        f'{route.resource}{named} is forbidden: User "{user}" cannot {route.verb} resource '
        f'"{resource}"'
        + (f' in subresource "{subresource}"' if subresource else "")
        + f' in API group ""{where}'
    )
    details: Obj = {"kind": resource}
    if route.name:
        details["name"] = route.name
    return ApiError(403, "Forbidden", message, details)


def start_api_server(folder: Path, *, namespace: str = DEFAULT_NAMESPACE) -> KubeApiServer:
    """Start a server on a free loopback port; kubeconfigs written into ``folder``.
    Call ``stop()`` when done (the ``kube_api`` fixture does)."""
    folder.mkdir(parents=True, exist_ok=True)
    return KubeApiServer(folder, namespace=namespace).start()


__all__ = [
    "DEFAULT_NAMESPACE",
    "POD_TOKEN",
    "TOKEN",
    "ApiRequest",
    "KubeApiServer",
    "api_client_for",
    "format_time",
    "not_found",
    "start_api_server",
]


def api_client_for(server: KubeApiServer, *, kubeconfig: Path | None = None) -> Any:
    """A ``kubernetes.client.ApiClient`` loaded from the server's kubeconfig (global config
    untouched); close it when done."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig or server.kubeconfig))
