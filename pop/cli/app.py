"""The typer application: one module per command group, registered here.

Layer: cli. ``build_app(first)`` builds what the command line's first word needs: typer makes
every registered command into a click command (reading its signature and evaluating its
annotations) before it parses anything, about 0.5 ms a command. A command or group named first
is kept alone; for ``pop --help`` (``-h``, or no word at all) each command is kept with its
help but without its options, which that listing does not show; any other first word gets the
whole app. The same line parses and prints the same either way (tests/cli/test_app.py).
"""

from __future__ import annotations

import copy
from typing import Any

import typer

HELP_WORDS = ("--help", "-h")


def build_app(first: str | None = None) -> typer.Typer:
    """The ``pop`` app, whole (``first`` None), or for a command line whose first word is
    ``first``: that command or group alone, or with ``--help``/``-h`` the listing alone."""
    from pop.cli import (
        agendas,
        batch,
        executor,
        facility,
        graph,
        handler,
        image,
        k8s,
        progress,
        registry,
        rerun,
        serve,
        services,
        templates,
        tokens,
    )

    app = typer.Typer(
        name="pop",
        help="Priority Operation Processing: store agendas (workflows of typed operations), "
        "queue them fairly and run each operation as a local process, a Docker container or a "
        "Kubernetes pod (Kubernetes: tested on a simulated cluster only).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    agendas.register(app)
    executor.register(app)
    rerun.register(app)
    batch.register(app)
    graph.register(app)
    app.add_typer(templates.app, name="template")
    app.add_typer(facility.customer_app, name="customer")
    app.add_typer(facility.pool_app, name="pool")
    app.add_typer(facility.insight_app, name="insight")
    app.add_typer(progress.app, name="progress")
    app.add_typer(registry.app, name="registry")
    app.add_typer(handler.app, name="handler")
    app.add_typer(image.app, name="image")
    app.add_typer(k8s.app, name="k8s")
    app.add_typer(tokens.app, name="token")
    services.register(app)
    serve.register(app)
    app.add_typer(services.reap_app, name="reap")

    def show_version(value: bool) -> None:
        if value:
            from pop import __version__

            typer.echo(f"pop {__version__}")
            raise typer.Exit(0)

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", is_eager=True, callback=show_version, help="Print the version."
        ),
    ) -> None:
        """Global options (also: --debug prints the traceback of an error, same exit code)."""

    if first in HELP_WORDS:
        _listing_only(app)
    elif first is not None:
        _keep_only(app, first)
    return app


def _keep_only(app: typer.Typer, name: str) -> None:
    """Drop every command and group but ``name`` (nothing when no command or group has it)."""
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if commands or groups:
        app.registered_commands = commands
        app.registered_groups = groups


def _listing_only(app: typer.Typer) -> None:
    """Each command's callback swapped for one without parameters and with the same docstring,
    each group without its commands (on copies: the groups' Typer objects are shared): what
    ``pop --help`` lists, each name and help, stays the same."""
    app.registered_commands = [_without_options(info) for info in app.registered_commands]
    app.registered_groups = [_without_commands(info) for info in app.registered_groups]


def _without_options(info: Any) -> Any:
    def listed() -> None:  # never called: pop --help only lists it
        return None

    listed.__doc__ = info.callback.__doc__
    copied = copy.copy(info)
    copied.callback = listed
    return copied


def _without_commands(info: Any) -> Any:
    instance = copy.copy(info.typer_instance)
    instance.registered_commands = []
    instance.registered_groups = []
    copied = copy.copy(info)
    copied.typer_instance = instance
    return copied
