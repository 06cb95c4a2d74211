"""``pop handler run TYPE [standard args]``: run a registered Python handler standalone.

Layer: cli. The standard handler args are spelled with one dash (``-launchType local``), so
click must not read them as bundles of short flags: only ``--help`` is click's, and ``-h`` is
help only as a whole argument where an argument name goes (:func:`asks_for_help`), never the
``h`` inside ``-launchType`` or the value of ``-payloadFile -h``.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Run handlers outside an agenda.", no_args_is_help=True)


@app.command(
    "run",
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
    """Run the handler of TYPE with the standard handler args (-launchType local, -payloadFile F,
    -propFile F, -lastProgressFile F, ...); the payload comes from -payloadFile or the PAYLOAD
    environment variable. Protocol lines go to stdout; exit 0 succeeded, 1 failed, 2 failed
    permanently (bad payload or args)."""
    from pop.handlers.launchdata import HELP_ARGS, asks_for_help

    if op_type in HELP_ARGS or asks_for_help(ctx.args):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)

    from pop.api import Client
    from pop.errors import InputError
    from pop.handlers import load_handler
    from pop.handlers.entry import run_handler

    entry = Client().registry.lookup(op_type)
    if entry.handler is None:
        raise InputError(f"operation type '{op_type}' has no Python handler to run")
    raise typer.Exit(run_handler(load_handler(entry.handler), list(ctx.args)))
