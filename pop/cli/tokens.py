"""Token commands: ``pop token add|list|revoke``, the bearer tokens of ``pop serve``.

Layer: cli. Each command parses options, calls one ``pop.api`` method and renders the result.
``add`` prints the secret once, alone on stdout (so ``$(pop token add ...)`` captures it); no
command prints a secret or its hash otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer

from pop.cli.options import JsonFlag, not_empty

app = typer.Typer(
    help="Make, list and revoke the bearer tokens of `pop serve`.", no_args_is_help=True
)


def _client() -> Any:
    from pop.api import Client

    return Client()


def _kind(customers: list[str], is_global: bool, executor: bool, insights: list[str]) -> str:
    """The token kind the flags ask for; InputError for a combination that means nothing."""
    from pop.errors import InputError

    usage = "give --customer C..., --global or --executor --insight I..."
    if is_global and executor:
        raise InputError("--global and --executor exclude each other", hint=usage)
    if is_global and (customers or insights):
        given = "--customer" if customers else "--insight"
        raise InputError(f"a --global token takes no {given}", hint="it sees every customer")
    if executor and customers:
        raise InputError(
            "an --executor token takes no --customer",
            hint="an executor token pulls and reports for its --insight ids only",
        )
    if insights and not executor:
        raise InputError("--insight is for executor tokens", hint="add --executor")
    if is_global:
        return "global"
    if executor:
        return "executor"
    if customers:
        return "customer"
    raise InputError("a token needs its rights: " + usage.removeprefix("give "))


def _when(epoch_ms: int | None, default: str) -> str:
    if epoch_ms is None:
        return default
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))


def _scope(info: Any) -> str:
    if info.kind == "global":
        return "*"
    return ",".join(info.customers if info.kind == "customer" else info.insights)


@app.command("add")
def add(
    customers: Annotated[
        list[str] | None,
        typer.Option(
            "--customer",
            metavar="C",
            help="A customer the token sees and writes for (repeatable).",
            callback=not_empty("the customer id"),
        ),
    ] = None,
    is_global: Annotated[
        bool, typer.Option("--global", help="The token sees and writes everything.")
    ] = False,
    executor: Annotated[
        bool,
        typer.Option("--executor", help="The token pulls and reports for its --insight ids."),
    ] = False,
    insights: Annotated[
        list[str] | None,
        typer.Option(
            "--insight",
            metavar="I",
            help="An insight an --executor token pulls from (repeatable).",
            callback=not_empty("the insight id"),
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", metavar="N", help="A unique name for the token.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option("--expires", metavar="D", help="Lifetime, e.g. 30d, 12h (default: none)."),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Make a bearer token and print it (this once: only its hash is stored)."""
    from pop.config import parse_duration

    kind = _kind(customers or [], is_global, executor, insights or [])
    expires_seconds = None if expires is None else parse_duration(expires, what="--expires")
    info, secret = _client().token_add(
        kind=kind,
        customers=customers or (),
        insights=insights or (),
        name=name,
        expires_seconds=expires_seconds,
    )
    if json_output:
        from pop.cli.render import print_json

        print_json({**info.to_wire(), "token": secret})
        return
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()
    sys.stderr.write(
        f"token {info.label} is shown only once (pop keeps only its hash): "
        "export POP_TOKEN=<the token above> (or put it in a file for --token-file)\n"
    )


@app.command("list")
def list_tokens(json_output: JsonFlag = False) -> None:
    """List tokens with their rights and state (never a secret)."""
    from pop.cli import render

    tokens = _client().token_list()
    if json_output:
        render.print_json(tokens)
        return
    now = int(time.time() * 1000)
    rows = [
        [
            info.id,
            info.name or "",
            info.kind,
            _scope(info),
            info.state(now),
            _when(info.expires_time, "never"),
            _when(info.last_used_time, "never"),
        ]
        for info in tokens
    ]
    render.print_table(
        ["ID", "NAME", "KIND", "CUSTOMERS/INSIGHTS", "STATE", "EXPIRES", "LAST USED"], rows
    )


@app.command("revoke")
def revoke(
    token: Annotated[
        str,
        typer.Argument(
            metavar="ID|NAME",
            help="The token's id or name (or the token itself).",
            callback=not_empty("the token id", "`pop token list` shows tokens"),
        ),
    ],
    json_output: JsonFlag = False,
) -> None:
    """Revoke a token: requests with it are refused from now on (401)."""
    info = _client().token_revoke(token)
    if json_output:
        from pop.cli.render import print_json

        print_json(info)
        return
    sys.stdout.write(f"revoked token {info.id}" + (f" ({info.name})" if info.name else "") + "\n")
