"""What every data route shares for POP's CRUD semantics (POP-REFERENCE §2.3).

Layer: server. Used by :mod:`pop.server.agendas`, :mod:`pop.server.templates` and
:mod:`pop.server.facility`:

- :func:`object_body`: a PUT or POST body must be one JSON object;
- :func:`put_changes`: a PUT names its object in the path (422 without, "Unable to PUT an object
  without specifying an id" in POP); an ``id`` in the body must be that one (422); null fields
  are dropped, so they keep their stored values (the partial merge);
- :func:`collection_id`: ``PUT``/``DELETE`` on a collection path take the id from ``?id=``,
  else the body's ``id`` (as POP does), else 422;
- :func:`query_response`: a ``by<field>`` query over objects already filtered by visibility.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from pop.api import Client
from pop.errors import InputError
from pop.server.auth import Caller, client_thread
from pop.server.bodies import json_body, json_object
from pop.server.envelope import cid_of, count_response, data_response
from pop.server.queries import ByQuery, Selection, select


async def object_body(request: Request, what: str) -> dict[str, Any]:
    """The request body as a JSON object (InputError naming what it is otherwise)."""
    return await json_object(request, what=f"the {what}", named=f"a {what}")


async def put_changes(request: Request, object_id: str, what: str) -> dict[str, Any]:
    """A PUT body's fields that change the stored object: every non-null field but ``id``,
    which must equal the path's."""
    document = await object_body(request, what)
    given = document.get("id")
    if given is not None and given != object_id:
        raise InputError(
            f"mismatched id: the path names {what} {object_id}, the body {given!r}",
            hint="leave the id out of the body, or make it the path's",
        )
    return {key: value for key, value in document.items() if value is not None and key != "id"}


async def collection_id(request: Request, what: str) -> str:
    """The id a PUT or DELETE on a collection path names: ``?id=``, else the body's ``id``."""
    given = request.query_params.get("id")
    if not given and (await request.body()).strip():
        document = await json_body(request, what=f"the {what}")
        given = document.get("id") if isinstance(document, dict) else None
    if isinstance(given, str) and given.strip():
        return given
    raise InputError(
        f"unable to {request.method} a {what} without its id",
        hint=f"{request.method} /pop/.../<id>, or give ?id= or an id in the body",
    )


def query_response(request: Request, items: Iterable[dict[str, Any]]) -> JSONResponse:
    """``by<field>`` conditions (all on the JSON), ``bylimit``, ``bycount``, ``byfields``."""
    query = ByQuery.parse(request.query_params.multi_items())
    selection = select(items, query, ())
    if query.count_only:
        return count_response(selection.count, cid_of(request))
    return data_response(selection.items, cid_of(request))


def deleted_response(request: Request, items: list[dict[str, Any]]) -> JSONResponse:
    """DELETE's answer: what was deleted (an empty list when there was nothing)."""
    return data_response(items, cid_of(request))


OneReader = Callable[[Client, Caller, str], list[dict[str, Any]]]
Selector = Callable[[Client, Caller, ByQuery], Selection]


async def one_response(
    request: Request, caller: Caller, object_id: str, read_one: OneReader
) -> JSONResponse:
    """``read_one(client, caller, id)`` on the client's thread, in the envelope."""
    found = await client_thread(request).call(lambda client: read_one(client, caller, object_id))
    return data_response(found, cid_of(request))


async def one_or_query_response(
    request: Request, caller: Caller, read_one: OneReader, select: Selector
) -> JSONResponse:
    """A collection GET: ``?id=`` reads one object as ``/{id}`` does; else every object
    matching the ``by<field>`` conditions (``bycount=true``: only their number)."""
    given = request.query_params.get("id")
    if given:
        return await one_response(request, caller, given, read_one)
    query = ByQuery.parse(request.query_params.multi_items())
    selection = await client_thread(request).call(lambda client: select(client, caller, query))
    if query.count_only:
        return count_response(selection.count, cid_of(request))
    return data_response(selection.items, cid_of(request))
