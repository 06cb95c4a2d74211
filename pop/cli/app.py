"""The typer application: one module per command group, registered here.

Layer: cli.
"""

from __future__ import annotations

import typer


def build_app() -> typer.Typer:
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

    return app
