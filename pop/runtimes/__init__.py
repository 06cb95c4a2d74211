"""Runtimes: the Launcher protocol and the one place runtime names map to implementations.

Layer: runtimes. The executor, the services, the handler SDK and the CLI call
:func:`create_launcher` with a runtime name and then use only the protocol types re-exported
here. Implementations are imported inside :func:`create_launcher`, so importing this package stays
cheap (no subprocess machinery, no docker or kubernetes SDK).
"""

from __future__ import annotations

from pop.errors import InputError, RuntimeUnavailableError

TYPE_CHECKING = False  # the protocol types load on first use: `pop status` needs only names.py
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from pop.runtimes.base import (
        CANCELLED,
        EXITED,
        LOST,
        TIMED_OUT,
        Capabilities,
        ExitStatus,
        Handle,
        Launcher,
        LaunchInfo,
        LaunchRecord,
        LaunchSpec,
        ListingLauncher,
        Mount,
        ReportSink,
    )

RUNTIME_NAMES = ("local", "docker", "kubernetes", "fake")

__all__ = [
    "CANCELLED",
    "EXITED",
    "LOST",
    "RUNTIME_NAMES",
    "TIMED_OUT",
    "Capabilities",
    "ExitStatus",
    "Handle",
    "LaunchInfo",
    "LaunchRecord",
    "LaunchSpec",
    "Launcher",
    "ListingLauncher",
    "Mount",
    "ReportSink",
    "check_runtime_name",
    "create_launcher",
    "create_report_sink",
]


_FROM_BASE = frozenset(
    (
        "CANCELLED",
        "EXITED",
        "LOST",
        "TIMED_OUT",
        "Capabilities",
        "ExitStatus",
        "Handle",
        "LaunchInfo",
        "LaunchRecord",
        "LaunchSpec",
        "Launcher",
        "ListingLauncher",
        "Mount",
        "ReportSink",
    )
)


def __getattr__(name: str) -> object:
    if name not in _FROM_BASE:
        raise AttributeError(f"module 'pop.runtimes' has no attribute {name!r}")
    from pop.runtimes import base

    value = getattr(base, name)
    globals()[name] = value
    return value


def check_runtime_name(name: str, *, what: str = "runtime") -> str:
    """``name`` when it is a runtime pop knows, else InputError (exit 2) naming the valid ones;
    called before anything is stored, so ``--launch dokcer`` leaves the store unchanged."""
    if name not in RUNTIME_NAMES:
        raise InputError(f"unknown {what} {name!r}; valid runtimes: {', '.join(RUNTIME_NAMES)}")
    return name


def create_launcher(
    name: str, *, keep: bool = False, options: Mapping[str, Any] | None = None
) -> Launcher:
    """The launcher of runtime ``name`` (one of :data:`RUNTIME_NAMES`).

    ``keep`` leaves containers and pods in place after cleanup (meaningless for ``local`` and
    ``fake``). ``options`` holds runtime settings (``RunOptions.runtime_options``: for docker
    ``docker_host``; for kubernetes ``kubeconfig``, ``context``, ``namespace``, ``work_root``);
    each runtime reads the keys it knows and ignores the rest. Raises InputError for an unknown
    name or a kubeconfig/context that does not exist, and RuntimeUnavailableError for a runtime
    this installation cannot provide. Building a launcher never contacts the runtime:
    :meth:`Launcher.check` does.
    """
    settings: Mapping[str, Any] = options or {}
    if name == "local":
        from pop.runtimes.local import LocalLauncher

        return LocalLauncher.from_options(settings)
    if name == "fake":
        from pop.runtimes.fake import FakeLauncher

        return FakeLauncher()
    if name == "docker":
        from pop.runtimes.docker import DockerLauncher

        return DockerLauncher.from_options(settings, keep=keep)
    if name == "kubernetes":
        from pop.runtimes.kubernetes.launcher import KubernetesLauncher

        return KubernetesLauncher.from_options(settings, keep=keep)
    if name in RUNTIME_NAMES:
        raise RuntimeUnavailableError(f"the {name} runtime is not available in this version")
    raise InputError(f"unknown runtime {name!r}; valid runtimes: {', '.join(RUNTIME_NAMES)}")


def create_report_sink(
    launch_type: str,
    env: Mapping[str, str],
    *,
    oauth_cert_path: str | None = None,
    oauth_token_path: str | None = None,
    master_url: str | None = None,
    namespace: str | None = None,
    warn: Callable[[str], None] | None = None,
) -> ReportSink | None:
    """Where a launched handler's reports go besides stdout: for launchType ``kubernetes`` with
    ``MY_POD_NAME`` in ``env``, the annotation sink patching ``pop.report.progress`` and
    ``pop.report.payload`` on that pod (:mod:`pop.runtimes.kubernetes.reporter`); None otherwise.
    The oauth files, ``master_url`` (``pop.kubernetes.masterUrl``) and ``namespace``
    (``pop.kubernetes.namespace``) are the handler's standard arguments and properties;
    ``warn`` receives the sink's one warning line (default: stderr). Never contacts the cluster:
    the first report does."""
    if launch_type != "kubernetes" or not env.get("MY_POD_NAME"):
        return None
    from pop.runtimes.kubernetes.reporter import create_sink

    return create_sink(
        env,
        oauth_cert_path=oauth_cert_path,
        oauth_token_path=oauth_token_path,
        master_url=master_url,
        namespace=namespace,
        warn=warn,
    )
