"""The handler side's one request, made with the standard library: a JSON merge patch of the
handler's own pod, for configurations that need nothing beyond a bearer token, a client
certificate and TLS files (in-cluster service accounts, POP's oauth files, plain kubeconfigs).

Layer: runtimes (kubernetes implementation detail). Used by
:mod:`pop.runtimes.kubernetes.reporter`, which falls back to the official ``kubernetes`` client
when :func:`direct_patcher` returns None (a kubeconfig user with ``exec``, ``auth-provider`` or a
password, a cluster with ``proxy-url`` or ``tls-server-name``).

Why: importing the official client costs a launched handler about 0.65 s of CPU (its API modules
are built with pydantic), more than a no-op handler's whole run, for the one request it makes.
The request is the same one the client sends: ``PATCH /api/v1/namespaces/NS/pods/NAME`` with
``Content-Type: application/merge-patch+json`` and ``Authorization: Bearer TOKEN``, proxies
ignored as the client ignores them, TLS verified against the cluster's CA.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pop.errors import PopError
from pop.runtimes.kubernetes.config import SERVICE_ACCOUNT, resolve_target

MERGE_PATCH = "application/merge-patch+json"
_DIRECT_USER_KEYS = frozenset(
    {
        "token",
        "tokenFile",
        "client-certificate",
        "client-certificate-data",
        "client-key",
        "client-key-data",
    }
)
_DIRECT_CLUSTER_KEYS = frozenset(
    {
        "server",
        "certificate-authority",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "extensions",
    }
)


@dataclass(frozen=True)
class PodPatcher:
    """Merge-patches pods of one API server; ``patch_namespaced_pod`` has the official
    ``CoreV1Api`` method's shape, so the reporter uses either. Errors are urllib's
    (``HTTPError`` carries ``status`` and ``reason``) or OSError."""

    server: str
    token: str | None
    context: ssl.SSLContext | None

    def patch_namespaced_pod(
        self,
        name: str,
        namespace: str,
        body: Mapping[str, Any],
        *,
        _content_type: str = MERGE_PATCH,
        _request_timeout: float = 10.0,
    ) -> None:
        path = "/api/v1/namespaces/{}/pods/{}".format(
            urllib.parse.quote(namespace, safe=""), urllib.parse.quote(name, safe="")
        )
        headers = {"Content-Type": _content_type, "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.server.rstrip("/") + path,
            data=json.dumps(body, separators=(",", ":")).encode(),
            headers=headers,
            method="PATCH",
        )
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if self.context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self.context))
        opener = urllib.request.build_opener(*handlers)
        with opener.open(request, timeout=_request_timeout) as response:
            response.read()

    def close(self) -> None:
        """Nothing held between requests."""


def direct_patcher(
    env: Mapping[str, str],
    *,
    oauth_cert_path: str | None = None,
    oauth_token_path: str | None = None,
    master_url: str | None = None,
) -> tuple[PodPatcher, str | None] | None:
    """A standard-library patcher and the namespace of its configuration's source (None when it
    names none), chosen in POP's order (in-cluster, oauth files, kubeconfig); None when the
    configuration needs the official client. PopError when no configuration applies or a file
    it names cannot be read."""
    token_file = SERVICE_ACCOUNT / "token"
    if env.get("KUBERNETES_SERVICE_HOST") and token_file.is_file():
        host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
        own = SERVICE_ACCOUNT / "namespace"
        namespace = own.read_text().strip() if own.is_file() else None
        context = _tls(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
        return PodPatcher(f"https://{_host(host)}:{port}", _read(token_file), context), namespace
    if oauth_cert_path and oauth_token_path:
        server = master_url or ""
        if not server and env.get("KUBERNETES_SERVICE_HOST"):
            port = env.get("KUBERNETES_SERVICE_PORT", "443")
            server = f"https://{_host(env['KUBERNETES_SERVICE_HOST'])}:{port}"
        if not server:
            raise PopError(
                "oauthCertPath and oauthTokenPath need pop.kubernetes.masterUrl "
                "(or KUBERNETES_SERVICE_HOST)"
            )
        token = _read(Path(oauth_token_path), what="oauthTokenPath")
        tls = _tls(cafile=oauth_cert_path) if server.startswith("https:") else None
        return PodPatcher(server, token, tls), None
    target = resolve_target({}, env)  # PopError when there is no kubeconfig either
    if target.in_cluster or target.kubeconfig is None:
        raise PopError("no kubeconfig and no in-cluster service account token")
    patcher = _from_kubeconfig(Path(target.kubeconfig), target.context)
    return None if patcher is None else (patcher, target.namespace)


def _from_kubeconfig(path: Path, context_name: str | None) -> PodPatcher | None:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PopError(f"cannot read kubeconfig {path}: {exc}") from exc

    def named(section: str, name: Any, key: str) -> dict[str, Any]:
        for item in document.get(section) or []:
            if isinstance(item, dict) and item.get("name") == name:
                found = item.get(key) or {}
                return found if isinstance(found, dict) else {}
        return {}

    context = named("contexts", context_name, "context")
    cluster = named("clusters", context.get("cluster"), "cluster")
    user = named("users", context.get("user"), "user")
    server = str(cluster.get("server") or "")
    if not server or set(user) - _DIRECT_USER_KEYS or set(cluster) - _DIRECT_CLUSTER_KEYS:
        return None  # exec or auth-provider plugins, passwords, proxies: the official client
    base = path.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read(base / str(user["tokenFile"]), what="tokenFile")
    if not server.startswith("https:"):
        return PodPatcher(server, str(token) if token else None, None)
    context_tls = _tls(
        cafile=_file(base, cluster.get("certificate-authority")),
        cadata=_data(cluster.get("certificate-authority-data")),
        verify=not cluster.get("insecure-skip-tls-verify"),
    )
    cert = _pem(base, user, "client-certificate")
    key = _pem(base, user, "client-key")
    if cert is not None and key is not None:
        _load_chain(context_tls, cert, key)
    return PodPatcher(server, str(token) if token else None, context_tls)


def _tls(
    *, cafile: str | None = None, cadata: str | None = None, verify: bool = True
) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=cafile, cadata=cadata)
    except (OSError, ssl.SSLError) as exc:
        raise PopError(f"cannot load the cluster's CA certificate: {exc}") from exc
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _pem(base: Path, user: Mapping[str, Any], key: str) -> bytes | str | None:
    """A client certificate or key: inline data (bytes) or a file path (str)."""
    if user.get(f"{key}-data"):
        return base64.b64decode(str(user[f"{key}-data"]))
    return _file(base, user.get(key))


def _load_chain(context: ssl.SSLContext, cert: bytes | str, key: bytes | str) -> None:
    """``load_cert_chain`` wants files: inline data goes through private temporary ones."""
    written: list[str] = []
    try:
        paths = []
        for part in (cert, key):
            if isinstance(part, str):
                paths.append(part)
                continue
            handle, name = tempfile.mkstemp(prefix="pop-kube-", suffix=".pem")
            written.append(name)
            with os.fdopen(handle, "wb") as file:
                file.write(part)
            paths.append(name)
        context.load_cert_chain(paths[0], paths[1])
    except (OSError, ssl.SSLError) as exc:
        raise PopError(f"cannot load the kubeconfig's client certificate: {exc}") from exc
    finally:
        for name in written:
            Path(name).unlink(missing_ok=True)


def _file(base: Path, value: Any) -> str | None:
    return str(base / str(value)) if value else None


def _data(value: Any) -> str | None:
    return base64.b64decode(str(value)).decode("ascii") if value else None


def _read(path: Path, *, what: str = "the service account token") -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PopError(f"cannot read {what} {path}: {exc}") from exc


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
