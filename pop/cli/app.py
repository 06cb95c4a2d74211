"""The typer application: one module per command group, registered here.

Layer: cli. ``build_app(first)`` keeps only the command or group the command line names first:
typer makes every registered command into a click command (reading its signature and evaluating
its annotations) before it parses anything, about 1 ms a command, and ``pop list`` needs one.
The same line parses and runs the same either way; ``pop --help`` and unknown names get them all.
"""

from __future__ import annotations

import typer


def build_app(first: str | None = None) -> typer.Typer:
    """The ``pop`` app; with ``first`` (the command line's first word) naming a command or a
    group, that one alone."""
    from pop.cli import (
        agendas,
        batch,
        executor,
        facility,
        handler,
        progress,
        registry,
        rerun,
        services,
        templates,
    )

    app = typer.Typer(
        name="pop",
        help="Priority Operation Processing: store agendas (workflows of typed operations), "
        "queue them fairly and run each operation as a local process (Docker containers and "
        "Kubernetes pods: not built yet).",
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
    app.add_typer(templates.app, name="template")
    app.add_typer(facility.customer_app, name="customer")
    app.add_typer(facility.pool_app, name="pool")
    app.add_typer(facility.insight_app, name="insight")
    app.add_typer(progress.app, name="progress")
    app.add_typer(registry.app, name="registry")
    app.add_typer(handler.app, name="handler")
    services.register(app)
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

    if first is not None:
        _keep_only(app, first)
    return app


def _keep_only(app: typer.Typer, name: str) -> None:
    """Drop every command and group but ``name`` (nothing when no command or group has it)."""
    commands = [info for info in app.registered_commands if info.name == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if commands or groups:
        app.registered_commands = commands
        app.registered_groups = groups
