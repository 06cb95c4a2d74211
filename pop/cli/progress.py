"""``pop progress summary --link-id L``: POP's progress summary over a group of agendas.

Layer: cli.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pop.cli.options import JsonFlag, ServerOption, TokenFileOption

app = typer.Typer(help="Progress over groups of agendas.", no_args_is_help=True)


@app.command("summary")
def summary(
    link_id: Annotated[str, typer.Option("--link-id", help="The agendas' linkId.")],
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Print {progressList, processingState, processingPercent} over every agenda of a link."""
    from pop.api.remote import connect
    from pop.cli import render

    result = connect(server=server, token_file=token_file).progress_summary(link_id)
    if json_output:
        data = result.model_dump(by_alias=True, mode="json")
        data["progressList"] = [item.to_wire() for item in result.progress_list]
        render.print_json(data)
        return
    percent = result.processing_percent
    shown = "n/a (a member failed)" if percent is None else f"{percent:.0f}%"
    sys.stdout.write(
        f"link {link_id}: {len(result.progress_list)} agendas, "
        f"{result.processing_state.value}, {shown}\n"
    )
    if result.progress_list:
        render.print_list(result.progress_list)
