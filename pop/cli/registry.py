"""Registry commands: ``pop registry validate`` and ``pop registry show``.

Layer: cli.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pop.cli.options import JsonFlag

app = typer.Typer(help="Check and show the handler registry.", no_args_is_help=True)


@app.command("validate")
def validate(
    registry_file: Annotated[Path | None, typer.Argument(help="Registry file to check.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Report every problem of a registry file, each with its path; exit 2 when any."""
    from pop.api import Client
    from pop.errors import EXIT_BAD_INPUT

    source, problems = Client().registry_problems(registry_file)
    if json_output:
        from pop.cli.render import print_json

        print_json({"source": source, "valid": not problems, "problems": problems})
    elif problems:
        for problem in problems:
            sys.stderr.write(f"error: {problem}\n")
    else:
        sys.stdout.write(f"{source}: ok\n")
    if problems:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command("show")
def show(
    registry_file: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Print the effective registry (built-in types plus the registry file's)."""
    from pop.api import Client

    document = Client(registry_path=registry_file).registry_document()
    if json_output:
        from pop.cli.render import print_json

        print_json(document)
    else:
        import yaml

        sys.stdout.write(yaml.safe_dump(document, sort_keys=False))
