"""Option and argument definitions that several commands share, so each reads the same everywhere.

Layer: cli. Imported by the command modules (``pop/cli/*.py``); typer only, no pop imports at
module level, so ``pop --help`` stays fast.

- :data:`JsonFlag`: the one ``--json`` flag and its one help text.
- :data:`LAUNCH_HELP`, :data:`EXTERNAL_LAUNCH_HELP`, :data:`KEEP_HELP`, :data:`DockerHostOption`:
  the runtime options and their help, which says which runtimes are built (``kubernetes`` is
  accepted and exits 3 until it is); :func:`runtime_options` gathers the runtime settings.
- :func:`not_empty`: a parameter callback refusing an empty (or blank) id, so no message ever
  names an empty id (``no template with id ``): the command stops with ``error: the template id
  is empty`` and exit 2 before anything is read or stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

JSON_HELP = "Print machine-readable JSON on stdout."
LAUNCH_HELP = (
    "Runtime: local, docker or kubernetes (kubernetes: tested on a simulated cluster only)."
)
EXTERNAL_LAUNCH_HELP = (
    "Runtime for the binaries handlers launch, e.g. ffmpeg (default: the --launch runtime)."
)
KEEP_HELP = "Keep containers and pods after they end (no effect on local)."
DOCKER_HOST_HELP = (
    "Docker engine to use (default: DOCKER_HOST, else the local socket); stored with the agenda."
)

DockerHostOption = Annotated[
    str | None, typer.Option("--docker-host", metavar="URL", help=DOCKER_HOST_HELP)
]
KubeconfigOption = Annotated[
    str | None,
    typer.Option(
        "--kubeconfig",
        metavar="FILE",
        help="Kubeconfig for the kubernetes runtime (default: KUBECONFIG).",
    ),
]
ContextOption = Annotated[
    str | None,
    typer.Option(
        "--context",
        metavar="NAME",
        help="Kubeconfig context (default: POP_KUBE_CONTEXT, else the file's current one).",
    ),
]
NamespaceOption = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        metavar="NS",
        help="Namespace of the pods (default: POP_KUBE_NAMESPACE, else the context's, else pop).",
    ),
]


ServerOption = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="A pop serve to talk to (default: POP_SERVER; none: this machine's store). "
        "The token comes from POP_TOKEN or --token-file.",
    ),
]
TokenFileOption = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        metavar="FILE",
        help="File holding the bearer token for --server (default: POP_TOKEN).",
    ),
]


def runtime_options(
    docker_host: str | None,
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
) -> dict[str, str] | None:
    """The runtime options given on a command line (None: none given, so a resume keeps the
    stored ones)."""
    given = {
        key: value
        for key, value in (
            ("docker_host", docker_host),
            ("kubeconfig", kubeconfig),
            ("context", context),
            ("namespace", namespace),
        )
        if value
    }
    return given or None


JsonFlag = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


def not_empty(what: str, hint: str | None = None) -> Callable[[Any], Any]:
    """A typer callback: InputError ``<what> is empty`` (exit 2) for a blank value or list item."""

    def check(value: Any) -> Any:
        from pop.errors import InputError

        values = value if isinstance(value, list) else [value]
        if any(item is not None and not item.strip() for item in values):
            raise InputError(f"{what} is empty", hint=hint)
        return value

    return check
