"""Facility commands: ``pop customer|pool|insight add|list|show|update|delete``.

Layer: cli. Each command turns its flags into POP JSON fields (on top of ``--file`` when given),
calls one ``pop.api`` method and prints the id, a table or (``--json``) the stored object.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from pop.cli.options import JsonFlag, ServerOption, TokenFileOption, not_empty

customer_app = typer.Typer(
    help="Customers (tenants): each belongs to a resource pool.", no_args_is_help=True
)
pool_app = typer.Typer(
    help="Resource pools: processing capacity shared by customers.", no_args_is_help=True
)
insight_app = typer.Typer(
    help="Insights: queues that map agendas to a pool and hand them out.", no_args_is_help=True
)

FileOption = Annotated[
    Path | None, typer.Option("--file", help="The POP JSON object (flags override its fields).")
]
Title = Annotated[str | None, typer.Option("--title", help="Title (required).")]
Pool = Annotated[str | None, typer.Option("--pool", help="Resource pool id.")]
BillingCode = Annotated[str | None, typer.Option("--billing-code", help="Billing code.")]
QueueSize = Annotated[
    int | None,
    typer.Option("--queue-size", help="Agendas handed out and not finished, at most (>= 1)."),
]
Algorithm = Annotated[
    str | None,
    typer.Option("--algorithm", help="FirstInFirstOut (default), RoundRobin or Priority."),
]
Mapper = Annotated[
    list[str] | None,
    typer.Option(
        "--mapper",
        help="operationName=N, operationType=T or paramMap=key=value (repeatable).",
    ),
]
Global = Annotated[
    bool | None, typer.Option("--global/--not-global", help="Visible to every customer.")
]
Allow = Annotated[
    list[str] | None, typer.Option("--allow", help="A customer of another pool (repeatable).")
]


def _client(server: str | None, token_file: Path | None) -> Any:
    """The local client, or the remote one for ``--server``/``POP_SERVER``."""
    from pop.api.remote import connect

    return connect(server=server, token_file=token_file)


def _fields(**values: Any) -> dict[str, Any]:
    """The camelCase fields that were given on the command line."""
    from pop.models.base import WireModel

    return {
        WireModel.model_config["alias_generator"](name): value  # type: ignore[misc,operator]
        for name, value in values.items()
        if value is not None
    }


def _mappers(options: Sequence[str] | None) -> dict[str, list[str]] | None:
    """``--mapper NAME=VALUE`` options as POP's mappers object."""
    from pop.errors import InputError

    if not options:
        return None
    mappers: dict[str, list[str]] = {}
    for option in options:
        name, separator, value = option.partition("=")
        if not separator or not name or not value:
            raise InputError(
                f"--mapper {option}: give NAME=VALUE", hint="for example operationType=transcode"
            )
        mappers.setdefault(name, []).append(value)
    return mappers


def _text(value: Any) -> str:
    """A field as table text: lists comma-separated, mappers as ``name=value`` pairs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict) and all(isinstance(item, list) for item in value.values()):
        return ", ".join(f"{name}={item}" for name, items in value.items() for item in items)
    return json.dumps(value)


_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "customer": [
        ("customer", "id"),
        ("title", "title"),
        ("pool", "resourcePoolId"),
        ("billing code", "billingCode"),
    ],
    "pool": [("pool", "id"), ("title", "title"), ("insights", "insightIds")],
    "insight": [
        ("insight", "id"),
        ("title", "title"),
        ("pool", "resourcePoolId"),
        ("algorithm", "schedulingAlgorithm"),
        ("queue size", "queueSize"),
        ("mappers", "mappers"),
        ("global", "isGlobal"),
        ("allowed", "allowedCustomerIds"),
    ],
}


def _print(kind: str, result: Any, json_output: bool, done: Callable[[Any], str]) -> None:
    from pop.cli.render import print_json

    if json_output:
        print_json(result)
    else:
        sys.stdout.write(done(result) + "\n")


def object_id_argument(kind: str) -> Any:
    """The positional id of one kind's ``show``, ``update`` and ``delete`` (never empty)."""
    return typer.Argument(
        metavar=f"{kind.upper()}_ID",
        help=f"The {kind} id.",
        callback=not_empty(f"the {kind} id", f"`pop {kind} list` shows them"),
    )


def _common_commands(app: typer.Typer, kind: str) -> None:
    """``list``, ``show`` and ``delete`` of one kind."""
    object_id_default = object_id_argument(kind)

    def list_objects(
        server: ServerOption = None,
        token_file: TokenFileOption = None,
        json_output: JsonFlag = False,
    ) -> None:
        items = _client(server, token_file).facility_list(kind)
        if json_output:
            from pop.cli.render import print_json

            print_json(items)
            return
        columns = _COLUMNS[kind]
        rows = [[_text(item.to_wire().get(key)) for _, key in columns] for item in items]
        from pop.cli.render import print_table

        print_table([label for label, _ in columns], rows)

    def show(
        object_id: str = object_id_default,
        server: ServerOption = None,
        token_file: TokenFileOption = None,
        json_output: JsonFlag = False,
    ) -> None:
        item = _client(server, token_file).facility_get(kind, object_id)
        if json_output:
            from pop.cli.render import print_json

            print_json(item)
            return
        for key, value in item.to_wire().items():
            sys.stdout.write(f"{key}: {_text(value)}\n")

    def delete(
        object_id: str = object_id_default,
        server: ServerOption = None,
        token_file: TokenFileOption = None,
        json_output: JsonFlag = False,
    ) -> None:
        item = _client(server, token_file).facility_delete(kind, object_id)
        _print(kind, item, json_output, lambda done: f"deleted {kind} {done.id}")

    list_objects.__doc__ = f"List the stored {kind}s."
    show.__doc__ = f"Show a stored {kind}."
    delete.__doc__ = f"Delete a stored {kind}."
    app.command("list")(list_objects)
    app.command("show")(show)
    app.command("delete")(delete)


# -- customers --------------------------------------------------------------------------------


@customer_app.command("add")
def customer_add(
    customer_id: Annotated[str | None, typer.Option("--id", help="Customer id.")] = None,
    title: Title = None,
    pool: Pool = None,
    billing_code: BillingCode = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Store a customer (its id is its customerId); print its id."""
    fields = _fields(id=customer_id, title=title, resource_pool_id=pool, billing_code=billing_code)
    item = _client(server, token_file).facility_add("customer", fields, source=file)
    _print("customer", item, json_output, lambda done: str(done.id))


@customer_app.command("update")
def customer_update(
    customer_id: str = object_id_argument("customer"),
    title: Title = None,
    pool: Pool = None,
    billing_code: BillingCode = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Change a customer: the given fields replace the stored ones."""
    fields = _fields(title=title, resource_pool_id=pool, billing_code=billing_code)
    item = _client(server, token_file).facility_update("customer", customer_id, fields, source=file)
    _print("customer", item, json_output, lambda done: f"updated customer {done.id}")


_common_commands(customer_app, "customer")


# -- pools ------------------------------------------------------------------------------------


@pool_app.command("add")
def pool_add(
    pool_id: Annotated[str | None, typer.Option("--id", help="Pool id (default: a UUID).")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Title.")] = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Store a resource pool; print its id."""
    item = _client(server, token_file).facility_add(
        "pool", _fields(id=pool_id, title=title), source=file
    )
    _print("pool", item, json_output, lambda done: str(done.id))


@pool_app.command("update")
def pool_update(
    pool_id: str = object_id_argument("pool"),
    title: Annotated[str | None, typer.Option("--title", help="Title.")] = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Change a resource pool: the given fields replace the stored ones."""
    item = _client(server, token_file).facility_update(
        "pool", pool_id, _fields(title=title), source=file
    )
    _print("pool", item, json_output, lambda done: f"updated pool {done.id}")


_common_commands(pool_app, "pool")


# -- insights ---------------------------------------------------------------------------------


def _insight_fields(
    *,
    insight_id: str | None = None,
    title: str | None,
    pool: str | None,
    queue_size: int | None,
    algorithm: str | None,
    mapper: list[str] | None,
    is_global: bool | None,
    allow: list[str] | None,
) -> dict[str, Any]:
    return _fields(
        id=insight_id,
        title=title,
        resource_pool_id=pool,
        queue_size=queue_size,
        scheduling_algorithm=algorithm,
        mappers=_mappers(mapper),
        is_global=is_global,
        allowed_customer_ids=allow or None,
    )


@insight_app.command("add")
def insight_add(
    insight_id: Annotated[
        str | None, typer.Option("--id", help="Insight id (default: a UUID).")
    ] = None,
    title: Title = None,
    pool: Pool = None,
    queue_size: QueueSize = None,
    algorithm: Algorithm = None,
    mapper: Mapper = None,
    is_global: Global = None,
    allow: Allow = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Store an insight (a queue of a pool); print its id."""
    fields = _insight_fields(
        insight_id=insight_id,
        title=title,
        pool=pool,
        queue_size=queue_size,
        algorithm=algorithm,
        mapper=mapper,
        is_global=is_global,
        allow=allow,
    )
    item = _client(server, token_file).facility_add("insight", fields, source=file)
    _print("insight", item, json_output, lambda done: str(done.id))


@insight_app.command("update")
def insight_update(
    insight_id: str = object_id_argument("insight"),
    title: Title = None,
    pool: Pool = None,
    queue_size: QueueSize = None,
    algorithm: Algorithm = None,
    mapper: Mapper = None,
    is_global: Global = None,
    allow: Allow = None,
    file: FileOption = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Change an insight: the given fields replace the stored ones (--mapper and --allow replace
    all mappers and allowed customers)."""
    fields = _insight_fields(
        title=title,
        pool=pool,
        queue_size=queue_size,
        algorithm=algorithm,
        mapper=mapper,
        is_global=is_global,
        allow=allow,
    )
    item = _client(server, token_file).facility_update("insight", insight_id, fields, source=file)
    _print("insight", item, json_output, lambda done: f"updated insight {done.id}")


_common_commands(insight_app, "insight")
