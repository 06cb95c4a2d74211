"""``pop rerun``: reset a stored agenda (all, some ops, or none) and queue it again.

Layer: cli. Parses the options, calls :meth:`pop.api.Client.rerun` (or the remote client's, with
``--server``), prints the agenda id (or
the AgendaProgress with ``--json``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from pop.cli.options import JsonFlag, ServerOption, TokenFileOption


def register(app: typer.Typer) -> None:
    """Add the rerun command to the app."""
    app.command("rerun")(rerun)


def rerun(
    agenda_id: Annotated[str, typer.Argument(help="Agenda id (or unique prefix).")],
    reset_all: Annotated[
        bool, typer.Option("--reset-all", help="Reset every op (the default).")
    ] = False,
    reset: Annotated[
        list[str] | None,
        typer.Option("--reset", help="Reset these ops (a,b) and every op that depends on them."),
    ] = None,
    keep: Annotated[
        bool, typer.Option("--continue", help="Reset nothing: run what did not succeed.")
    ] = False,
    skip_execution: Annotated[
        bool, typer.Option("--skip-execution", help="Only reset; do not queue the agenda.")
    ] = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Reset a stored agenda to WAITING/pending and queue it again for `pop executor`."""
    from pop.api.remote import connect

    progress = connect(server=server, token_file=token_file).rerun(
        agenda_id,
        reset=reset or None,
        reset_all=reset_all,
        keep=keep,
        skip_execution=skip_execution,
    )
    if json_output:
        from pop.cli.render import print_json

        print_json(progress)
    else:
        typer.echo(progress.agenda_id)
