"""The launchers of one run: the executor's runtime and the one handlers launch binaries on.

Layer: services. Used by the api (``run-local``, ``pop executor``) and ``pop batch``: runtime
names are checked here before anything is stored (``--launch dokcer`` is exit 2 with the store
unchanged), and both launchers are built with the run's keep and runtime options.
"""

from __future__ import annotations

from pop.engine.state import RunOptions
from pop.runtimes import Launcher, check_runtime_name, create_launcher
from pop.runtimes.settings import check_runtime_settings


def check_names(options: RunOptions) -> None:
    """InputError (exit 2) for a runtime name pop does not know, or runtime options mistyped
    for it (``--kubeconfig /nope``), before anything is stored."""
    check_runtime_name(options.launch, what="--launch runtime")
    check_runtime_name(options.external_runtime, what="--external-launch runtime")
    for name in {options.launch, options.external_runtime}:
        check_runtime_settings(name, options.runtime_options)


def launchers(options: RunOptions) -> tuple[Launcher, Launcher | None]:
    """The run's launcher and, when ``--external-launch`` names another runtime, the handlers'
    one (None: the same runtime). Building them contacts neither runtime."""
    check_names(options)
    settings = dict(options.runtime_options)
    launcher = create_launcher(options.launch, keep=options.keep, options=settings)
    if options.external_runtime == options.launch:
        return launcher, None
    external = create_launcher(options.external_runtime, keep=options.keep, options=settings)
    return launcher, external


async def close_launchers(launcher: Launcher, external: Launcher | None) -> None:
    try:
        await launcher.close()
    finally:
        if external is not None:
            await external.close()
