"""Which cluster and namespace the kubernetes runtime talks to, from runtime options and the
environment, decided before anything is stored (issue 12, items 1 and 6).

Layer: runtimes (kubernetes implementation detail). Reads kubeconfig files with PyYAML only: the
``kubernetes`` package is not imported here, so a bad ``--kubeconfig`` or ``--context`` is refused
(exit 2) without loading the client.

- Configuration: ``kubeconfig`` (``--kubeconfig``) or ``KUBECONFIG`` (its first existing file),
  with ``context`` (``--context``) or ``POP_KUBE_CONTEXT``, else the file's current context; else
  in-cluster (``KUBERNETES_SERVICE_HOST`` and the service account token); else
  RuntimeUnavailableError. A file or context named on the command line that does not exist is
  InputError (exit 2): the user typed it wrong. A ``KUBECONFIG`` from the environment that points
  nowhere is RuntimeUnavailableError (exit 3): the runtime is out of reach.
- Namespace: ``namespace`` (``--namespace``) > ``POP_KUBE_NAMESPACE`` > the context's > the
  in-cluster service account's > ``pop``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pop.errors import InputError, RuntimeUnavailableError

DEFAULT_NAMESPACE = "pop"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CONTEXT_ENV = "POP_KUBE_CONTEXT"
NAMESPACE_ENV = "POP_KUBE_NAMESPACE"
_HINT = (
    "give --kubeconfig FILE (or set KUBECONFIG) and --context NAME, or run pop inside the "
    "cluster with a service account"
)


@dataclass(frozen=True)
class KubeTarget:
    """Where the runtime connects: a kubeconfig file and context, or in-cluster (both None);
    the namespace; and the API server's URL (for records and messages)."""

    kubeconfig: str | None
    context: str | None
    namespace: str
    server: str
    in_cluster: bool = False


def resolve_target(
    options: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> KubeTarget:
    """The cluster and namespace for runtime ``options`` (``kubeconfig``, ``context``,
    ``namespace``) in ``environ`` (default: this process's environment)."""
    env = os.environ if environ is None else environ
    given_file = str(options.get("kubeconfig") or "") or None
    given_context = str(options.get("context") or "") or None
    context = given_context or env.get(CONTEXT_ENV) or None
    namespace = str(options.get("namespace") or "") or env.get(NAMESPACE_ENV) or None
    if given_file is not None:
        path = Path(given_file).expanduser()
        if not path.is_file():
            raise InputError(f"--kubeconfig {given_file}: no such file")
        return _from_file(path, context, namespace, context_given=given_context is not None)
    for candidate in _env_files(env):
        if candidate.is_file():
            return _from_file(
                candidate, context, namespace, context_given=given_context is not None
            )
    if env.get("KUBECONFIG"):
        raise RuntimeUnavailableError(
            f"cannot reach Kubernetes: KUBECONFIG names no existing file ({env['KUBECONFIG']})",
            hint=_HINT,
        )
    if given_context is not None:
        raise InputError(f"--context {given_context}: no kubeconfig file to find it in")
    if env.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT / "token").is_file():
        host, port = env["KUBERNETES_SERVICE_HOST"], env.get("KUBERNETES_SERVICE_PORT", "443")
        own = SERVICE_ACCOUNT / "namespace"
        in_cluster_namespace = own.read_text().strip() if own.is_file() else None
        return KubeTarget(
            kubeconfig=None,
            context=None,
            namespace=namespace or in_cluster_namespace or DEFAULT_NAMESPACE,
            server=f"https://{host}:{port}",
            in_cluster=True,
        )
    raise RuntimeUnavailableError(
        "cannot reach Kubernetes: no kubeconfig (--kubeconfig, KUBECONFIG) and not inside a "
        "cluster",
        hint=_HINT,
    )


def _env_files(env: Mapping[str, str]) -> list[Path]:
    listed = [part for part in env.get("KUBECONFIG", "").split(os.pathsep) if part]
    if listed:
        return [Path(part).expanduser() for part in listed]
    return [Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"]


def _from_file(
    path: Path, context: str | None, namespace: str | None, *, context_given: bool
) -> KubeTarget:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read kubeconfig {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise InputError(f"kubeconfig {path} is not a YAML mapping")
    contexts = {
        str(item.get("name")): item.get("context") or {}
        for item in document.get("contexts") or []
        if isinstance(item, dict)
    }
    name = context or document.get("current-context")
    if not name or name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        what = f"context {name!r}" if name else "a current context"
        error = InputError if context_given else RuntimeUnavailableError
        raise error(f"kubeconfig {path} has no {what} (its contexts: {known})", hint=_HINT)
    chosen = contexts[name]
    clusters = {
        str(item.get("name")): item.get("cluster") or {}
        for item in document.get("clusters") or []
        if isinstance(item, dict)
    }
    cluster = clusters.get(str(chosen.get("cluster")), {})
    return KubeTarget(
        kubeconfig=str(path),
        context=str(name),
        namespace=namespace or chosen.get("namespace") or DEFAULT_NAMESPACE,
        server=str(cluster.get("server") or ""),
    )
