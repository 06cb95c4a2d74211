"""Reading a request's JSON body, with every problem said in pop's words.

Layer: server. Routes read their bodies here rather than through FastAPI's body parameters, so a
malformed body is one ``InputError`` (422) naming where the JSON breaks, in the envelope. JSON
is strict: ``NaN`` and ``Infinity`` (which Python's parser takes) are not JSON, and a document
nested deeper than :data:`MAX_DEPTH` levels is refused before anything walks it recursively.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from pop.errors import InputError
from pop.models.validation import json_kind

MAX_DEPTH = 128


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_over(document: Any, limit: int) -> bool:
    """True when arrays and objects nest more than ``limit`` levels (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


async def json_body(request: Request, *, what: str = "the request body") -> Any:
    """The body as JSON; InputError when it is empty, not UTF-8, not JSON or nested too deeply."""
    raw = await request.body()
    if not raw.strip():
        raise InputError(f"{what} is empty: a JSON document is required")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:  # NaN, Infinity, -Infinity
        raise InputError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InputError(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    if _depth_over(document, MAX_DEPTH):
        raise InputError(f"{what} is nested deeper than {MAX_DEPTH} levels")
    return document


async def json_object(
    request: Request, *, what: str = "the request body", named: str = "the request"
) -> dict[str, Any]:
    """The body as a JSON object: :func:`json_body`, then InputError ``<named> must be a JSON
    object, not <kind>`` for any other JSON value."""
    document = await json_body(request, what=what)
    if not isinstance(document, dict):
        raise InputError(f"{named} must be a JSON object, not {json_kind(document)}")
    return document


def required_text(document: dict[str, Any], name: str, message: str) -> str:
    """Field ``name`` of ``document``, a string that is not blank (as given, not stripped);
    InputError ``message`` otherwise."""
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(message)
    return value
