"""``pop handler run TYPE [standard args]``: run a registered Python handler standalone.

Layer: cli.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Run handlers outside an agenda.", no_args_is_help=True)


@app.command(
    "run",
    # Only --help: the standard args' one-dash spelling (-launchType) would otherwise be read
    # as a bundle of short flags containing -h.
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": ["--help"],
    },
)
def run(
    ctx: typer.Context,
    op_type: Annotated[str, typer.Argument(metavar="TYPE", help="Operation type.")],
) -> None:
    """Run the handler of TYPE with the standard handler args (-launchType, -payloadFile, ...);
    the payload comes from -payloadFile or the PAYLOAD environment variable."""
    from pop.api import Client
    from pop.errors import InputError
    from pop.handlers import load_handler
    from pop.handlers.entry import run_handler

    entry = Client().registry.lookup(op_type)
    if entry.handler is None:
        raise InputError(f"operation type '{op_type}' has no Python handler to run")
    raise typer.Exit(run_handler(load_handler(entry.handler), list(ctx.args)))
