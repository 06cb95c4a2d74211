"""``pop image base`` and ``pop image build``: the images the docker runtime runs, built here.

Layer: cli. Each command calls one :class:`pop.api.Client` method. Progress goes to stderr; the
image tag is the last line of stdout, so one command's output feeds the next:

    pop image build --base "$(pop image base | tail -1)"

(``--json`` prints one JSON object on stdout instead.)
"""

from __future__ import annotations

from typing import Annotated

import typer

from pop.cli.options import JsonFlag

app = typer.Typer(
    help="Build the images the docker runtime runs: `pop image build` makes pop-handlers "
    "(pop, its dependencies and ffmpeg); offline, on `pop image base`.",
    no_args_is_help=True,
)

ENGINE_HELP = "Docker engine to build in (default: DOCKER_HOST, else the local socket)."

EngineOption = Annotated[str | None, typer.Option("--docker-host", metavar="URL", help=ENGINE_HELP)]


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@app.command("base")
def base(
    suite: Annotated[
        str | None,
        typer.Option("--suite", help="Debian release of the root file system (default bookworm)."),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option("--mirror", metavar="URL", help="Debian mirror debootstrap reads from."),
    ] = None,
    docker_host: EngineOption = None,
) -> None:
    """Build pop's offline base image (a Debian minbase root file system with python3, made
    with debootstrap as root and imported into the engine; no image registry needed), cached by
    a tag that hashes its recipe. Prints the tag as the last line."""
    from pop.api import Client

    tag = Client().build_base_image(
        suite=suite, mirror=mirror, docker_host=docker_host, log=_progress
    )
    typer.echo(tag)


@app.command("build")
def build(
    base_image: Annotated[
        str | None,
        typer.Option(
            "--base",
            metavar="IMAGE",
            help="Image to build on (default python:3.11-slim-bookworm; offline: the tag "
            "`pop image base` prints).",
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            metavar="T",
            help="Tag the image T instead of pop-handlers:<version> and pop-handlers:latest.",
        ),
    ] = None,
    push: Annotated[
        str | None,
        typer.Option("--push", metavar="REF", help="Also tag the image REF and push it."),
    ] = None,
    docker_host: EngineOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Build pop-handlers:<version> and :latest (the registry's default image): pop and its
    dependencies from wheels built here (pinned to the versions installed here), and ffmpeg
    being this host's imageio-ffmpeg binary. Skipped when the engine has an image of the same
    recipe. Prints the tag as the last line."""
    from pop import __version__
    from pop.api import Client

    result = Client().build_handlers_image(
        version=__version__,
        base=base_image,
        tag=tag,
        push=push,
        docker_host=docker_host,
        log=_progress,
    )
    if json_output:
        from pop.cli.render import print_json

        print_json(result.to_json())
        return
    typer.echo(result.tag)
