"""``pop graph (AGENDA.json | ID)``: an agenda's DAG as a picture (SVG, PNG or Graphviz dot).

Layer: cli. An agenda file (validated as ``pop submit`` would) draws its ops uncoloured; an id
(agenda id, progress id or a unique prefix, local or ``--server``) colours each op by its state
and shows its percent. The layout is :mod:`pop.graph`'s, the one the dashboard draws.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pop.cli.options import ServerOption, TokenFileOption

FORMATS = ("svg", "png", "dot")
FILE_SUFFIXES = (".json", ".yaml", ".yml")


def register(app: typer.Typer) -> None:
    app.command("graph")(graph)


def _is_file(source: str) -> bool:
    return source == "-" or source.lower().endswith(FILE_SUFFIXES) or Path(source).is_file()


def graph(
    source: Annotated[
        str,
        typer.Argument(
            metavar="AGENDA.json|ID",
            help="Agenda file (- for stdin), or an agenda id, its progress id, or a unique "
            "prefix of either.",
        ),
    ],
    output_format: Annotated[
        str, typer.Option("--format", "-f", help="svg, png (needs rsvg-convert) or dot.")
    ] = "svg",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
) -> None:
    """Draw an agenda's DAG (ops as boxes, edges from references and dependsOn); given an id,
    each op is coloured by its state and shows its percent."""
    from pop.errors import InputError
    from pop.graph import lay_out, to_dot, to_svg

    if output_format not in FORMATS:
        raise InputError(f"unknown --format {output_format!r}: use svg, png or dot")
    if output_format == "png" and output is None and sys.stdout.isatty():
        raise InputError("--format png writes binary data: give -o FILE or redirect stdout")
    agenda, progress = _agenda_and_progress(source, registry, server, token_file)
    picture = lay_out(agenda, progress)
    if output_format == "dot":
        data = to_dot(picture).encode()
    else:
        data = to_svg(picture).encode()
        if output_format == "png":
            from pop.graph.png import to_png

            data = to_png(data.decode())
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None


def _agenda_and_progress(
    source: str, registry: Path | None, server: str | None, token_file: Path | None
) -> tuple[Any, Any]:
    """The agenda to draw and its progress (None for a file)."""
    if _is_file(source):
        from pop.api import Client

        return Client(registry_path=registry).load_agenda(source), None
    from pop.api.remote import connect

    client = connect(server=server, token_file=token_file, registry_path=registry)
    progress = client.status(source)
    return client.agenda(progress.agenda_id or source), progress
