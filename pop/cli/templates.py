"""Template commands: ``pop template add|list|show|delete|run``.

Layer: cli. Each command parses options, calls one ``pop.api`` method and renders the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pop.cli.options import JsonFlag, ServerOption, TokenFileOption, not_empty

app = typer.Typer(help="Store agenda templates and run them with a payload.", no_args_is_help=True)

TemplateId = Annotated[
    str,
    typer.Argument(
        help="Template id, unique id prefix or unique title.",
        callback=not_empty("the template id", "`pop template list` shows templates"),
    ),
]


def _client(server: str | None, token_file: Path | None, registry: Path | None = None) -> Any:
    """The local client, or the remote one for ``--server``/``POP_SERVER``."""
    from pop.api.remote import connect

    return connect(server=server, token_file=token_file, registry_path=registry)


def _read_payload(payload_file: str | None, payload_json: str | None) -> Any:
    """The payload of ``run``: from exactly one of ``--payload FILE`` and ``--payload-json``."""
    from pop.api import read_document
    from pop.errors import InputError

    if (payload_file is None) == (payload_json is None):
        raise InputError("give exactly one of --payload FILE and --payload-json TEXT")
    if payload_file is not None:
        return read_document(payload_file, what="payload")
    try:
        return json.loads(payload_json or "")
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--payload-json: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


@app.command("add")
def add(
    template_file: Annotated[str, typer.Argument(help="Template JSON file (- for stdin).")],
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Check a template and store it; print its id."""
    from pop.cli.render import print_json

    template = _client(server, token_file).template_add(template_file)
    if json_output:
        print_json(template)
    else:
        typer.echo(template.id)


@app.command("list")
def list_templates(
    server: ServerOption = None, token_file: TokenFileOption = None, json_output: JsonFlag = False
) -> None:
    """List stored templates."""
    from pop.cli import render

    templates = _client(server, token_file).template_list()
    if json_output:
        render.print_json(templates)
    else:
        render.print_templates(templates)


@app.command("show")
def show(
    template_id: TemplateId,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Show a stored template."""
    from pop.cli import render

    template = _client(server, token_file).template_get(template_id)
    if json_output:
        render.print_json(template)
    else:
        render.print_template(template)


@app.command("delete")
def delete(
    template_id: TemplateId,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete a stored template (agendas made from it are kept)."""
    from pop.cli.render import print_json

    template = _client(server, token_file).template_delete(template_id)
    if json_output:
        print_json(template)
    else:
        typer.echo(f"deleted template {template.id}")


@app.command("run")
def run(
    template_id: TemplateId,
    payload_file: Annotated[
        str | None, typer.Option("--payload", help="Payload JSON file (- for stdin).")
    ] = None,
    payload_json: Annotated[
        str | None, typer.Option("--payload-json", help="Payload as JSON text.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the agenda; store nothing.")
    ] = False,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="Group agendas.")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Fill a template from a payload and submit the agenda like `pop submit`."""
    from pop.cli.render import print_json, submission_json

    payload = _read_payload(payload_file, payload_json)
    client = _client(server, token_file, registry)
    if dry_run:
        agenda = client.template_expand(template_id, payload)
        if customer is not None:
            agenda.set(customer_id=customer)
        if link_id is not None:
            agenda.set(link_id=link_id)
        print_json(agenda)
        return
    submission = client.template_run(template_id, payload, customer_id=customer, link_id=link_id)
    if json_output:
        print_json(submission_json(submission.agenda.to_wire(), queued=submission.queued))
    else:
        typer.echo(submission.agenda.id)
