"""pydantic's validation errors in pop's words: where the problem is and what the value must be.

Layer: models. Called wherever a user's document meets a model: agenda and template files
(:mod:`pop.engine.documents`, :mod:`pop.engine.templates`), payloads checked at submit
(:mod:`pop.engine.payloads`) and in a handler (:func:`pop.handlers.context.load_payload`),
customers, pools and insights (:mod:`pop.scheduling.facility`), generated operations. No message
of pydantic's own ("Input should be a valid dictionary or instance of SamplePayload") reaches
a user:

    >>> problems(exc)                      # payload [1, 2] for a model
    ['the payload must be a JSON object, not an array']
    >>> problems(exc)                      # {"actions": "x"}
    ['actions must be a JSON array, not a string']
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

_OBJECT = ("dict_type", "model_type", "model_attributes_type", "mapping_type", "dataclass_type")
_MUST_BE: dict[str, str] = {
    **dict.fromkeys(_OBJECT, "a JSON object"),
    **dict.fromkeys(("list_type", "tuple_type", "set_type", "iterable_type"), "a JSON array"),
    **dict.fromkeys(("string_type", "string_sub_type", "str_type"), "a string"),
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "a whole number"),
    **dict.fromkeys(("float_type", "float_parsing", "decimal_type"), "a number"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "true or false"),
    "none_required": "null",
}


def json_kind(value: Any) -> str:
    """What a JSON value is, with its article: ``an object``, ``an array``, ``a string``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def problems(exc: ValidationError, *, root: str = "the payload", limit: int = 5) -> list[str]:
    """One sentence per problem of ``exc`` (at most ``limit``): ``<where> <what it must be>``.

    ``where`` is the dotted path of the field (``actions.0.action``) or ``root`` for the whole
    document. Alternatives of a union are merged into one sentence."""
    sentences: list[str] = []
    merged: dict[tuple[Any, ...], int] = {}
    for error in exc.errors(include_url=False):
        location = tuple(error["loc"])
        kind = _MUST_BE.get(error["type"])
        # a union reports each alternative at loc + (its type's name,): one sentence for all
        if kind is not None and location and location[:-1] in merged and _is_tag(location[-1]):
            index = merged[location[:-1]]
            sentences[index] = sentences[index].replace(", not ", f" or {kind}, not ", 1)
            continue
        if kind is not None and location and _is_tag(location[-1]):
            location = location[:-1]
            merged[location] = len(sentences)
        where = ".".join(str(part) for part in location) or root
        sentences.append(f"{where} {_requirement(error, kind)}")
    if len(sentences) > limit:
        sentences = [*sentences[:limit], f"and {len(sentences) - limit} more"]
    return sentences


def _is_tag(part: Any) -> bool:
    """Whether a location part names a union alternative (``int``, ``list[str]``), not a field."""
    return isinstance(part, str) and (
        part in {"int", "str", "float", "bool", "dict", "list", "none"} or "[" in part
    )


def _requirement(error: Any, kind: str | None) -> str:
    value = error.get("input")
    if kind is not None:
        return f"must be {kind}, not {json_kind(value)}"
    kind_of = error["type"]
    if kind_of == "missing":
        return "is required"
    if kind_of == "extra_forbidden":
        return "is not a known field"
    context = error.get("ctx") or {}
    if kind_of in ("too_short", "too_long"):
        bound = context.get("min_length" if kind_of == "too_short" else "max_length")
        plural = "" if bound == 1 else "s"
        return f"must have at {'least' if kind_of == 'too_short' else 'most'} {bound} item{plural}"
    if kind_of in ("string_too_short", "string_too_long"):
        bound = context.get("min_length" if kind_of == "string_too_short" else "max_length")
        plural = "" if bound == 1 else "s"
        most = "least" if kind_of == "string_too_short" else "most"
        return f"must be at {most} {bound} character{plural} long"
    if kind_of in ("value_error", "assertion_error"):
        cause = context.get("error")
        return f"is not valid: {cause}" if cause else "is not valid"
    message = str(error["msg"])
    for prefix in ("Input should be ", "Input should have ", "Input "):
        if message.startswith(prefix):
            verb = {"Input should be ": "must be ", "Input should have ": "must have "}
            return verb.get(prefix, "") + message[len(prefix) :]
    return f"is not valid: {message[:1].lower()}{message[1:]}"
