"""``pop serve``: POP's Agenda and Progress services over HTTP (issue 13, first part).

Layer: cli. Parses the options, builds the app (:func:`pop.server.create_app`) and serves it
(:func:`pop.server.serve`) until SIGINT or SIGTERM, then exits 0. ``pop.server`` (fastapi,
uvicorn) is imported only here, when the command runs: ``pop --help`` imports none of it. When
the server listens it prints ``pop serve: listening on URL`` on stderr (the real port with
``--port 0``); with ``--no-auth`` a ``warning:`` line just before it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

NO_AUTH_WARNING = (
    "warning: --no-auth: anyone who can reach this port can read, submit and change every "
    "agenda in this store\n"
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: a free one, printed).")
    ] = 8740,
    certfile: Annotated[
        Path | None, typer.Option("--certfile", help="TLS certificate (PEM); needs --keyfile.")
    ] = None,
    keyfile: Annotated[
        Path | None, typer.Option("--keyfile", help="TLS private key (PEM); needs --certfile.")
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="No tokens: every caller may do anything (for a laptop; prints a warning).",
        ),
    ] = False,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-body-bytes",
            min=1,
            help="Largest request body accepted; larger ones get 413 (default 16 MiB).",
        ),
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Registry file agendas are checked against.")
    ] = None,
    reap_data: Annotated[
        str | None,
        typer.Option(
            "--reap-data",
            metavar="AGE",
            help="Also delete completed agendas older than AGE (e.g. 7d), every hour; off by "
            "default. The reclaimer and the retrier always run.",
        ),
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            help="Answer browsers from this origin (e.g. https://dash.example) with CORS "
            "headers; repeatable. Default: no CORS headers.",
        ),
    ] = None,
    input_root: Annotated[
        list[Path] | None,
        typer.Option(
            "--input-root",
            metavar="DIR",
            exists=True,
            file_okay=False,
            resolve_path=True,
            help="A directory whose files customer tokens' agendas may name as inputs; "
            "repeatable. Default: none, so they may name no local input (global tokens and "
            "--no-auth are never limited).",
        ),
    ] = None,
) -> None:
    """Serve POP's routes over HTTP (under /pop/) and the web dashboard (at /, sign in with a
    token) until Ctrl-C or SIGTERM; the reclaimer and the retrier run on their intervals
    meanwhile (POP_RECLAIM_EVERY, POP_RETRY_EVERY), so work stays safe with no local executor."""
    from pop.errors import InputError

    if (certfile is None) != (keyfile is None):
        raise InputError("--certfile and --keyfile go together: give both or neither")
    from pop.config import Settings, parse_duration
    from pop.server import DEFAULT_MAX_BODY_BYTES, create_app
    from pop.server import serve as serve_app

    app = create_app(
        settings=Settings.from_env(),
        registry_path=registry,
        auth=not no_auth,
        max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES,
        upkeep=True,
        reap_data_age=None if reap_data is None else parse_duration(reap_data, what="--reap-data"),
        cors_origins=tuple(cors_origin or ()),
    )
    from pop.server.auth import limit_inputs

    limit_inputs(app, input_root or [])

    def ready(url: str) -> None:
        if no_auth:
            sys.stderr.write(NO_AUTH_WARNING)
        sys.stderr.write(f"pop serve: listening on {url}\n")
        sys.stderr.flush()

    serve_app(app, host=host, port=port, certfile=certfile, keyfile=keyfile, on_ready=ready)
