"""The ``@<...>`` reference language: find tokens, derive dependencies, substitute values.

A token is ``@<name>`` or ``@<name::pointer>``; the pointer is an RFC 6901 JSON pointer into the
value of ``name`` (leading ``/`` optional, empty or ``/`` = the whole value) and may end with a
default, ``?`` (JSON null) or ``?text`` (the string ``text``). DESIGN.md §4 is the contract; the
Java behaviour it improves on is in POP-REFERENCE.md §3.

Layer: models/refs/registry. Imports only the standard library and ``jsonpointer``.
Called by agenda validation (names and dependencies of operations), the template phase
(``pop template run``) and the executor (substituting operation payloads before launch).
"""

from __future__ import annotations

import copy
import enum
import json
import re
from collections.abc import Mapping

from pop.records import Record

TYPE_CHECKING = False  # no typing, dataclasses or jsonpointer at import: `pop submit` is fast
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Final

__all__ = [
    "NO_DEFAULT",
    "Reference",
    "Resolution",
    "find_references",
    "operation_dependencies",
    "references_in",
    "substitute",
]


class _Sentinel(enum.Enum):
    # An enum member, so it stays the same object through copy, deepcopy and pickle.
    NO_DEFAULT = "NO_DEFAULT"

    def __repr__(self) -> str:
        return self.value


NO_DEFAULT: Final = _Sentinel.NO_DEFAULT
"""``Reference.default`` of a token written without ``?``."""

_OUTPUT_SUFFIX: Final = ".out"

# Name and pointer never contain "<" or ">": a token ends at the first ">", "@<>" is no token,
# and a string that fullmatches this pattern therefore holds exactly one token (fix (2)).
# The name is lazy, so the first "::" separates name and pointer.
_TOKEN: Final = re.compile(r"@<(?P<name>[^<>]+?)(?:::(?P<path>[^<>]*))?>")


class Reference(Record):
    """One ``@<...>`` token, parsed (a value: equal when every field is).

    ``text``: the token exactly as written, e.g. ``@<a.out::/x?d>``; ``name``: the parameter
    name, e.g. ``a.out`` (case-sensitive, may contain dots); ``pointer``: the normalised RFC 6901
    pointer (``""`` is the whole value, otherwise it starts with ``/``); ``default``:
    ``NO_DEFAULT``, ``None`` (a bare ``?``) or the default string (after the first ``?``)."""

    __slots__ = ("default", "name", "pointer", "text")

    def __init__(self, text: str, name: str, pointer: str, default: object) -> None:
        self.text = text
        self.name = name
        self.pointer = pointer
        self.default = default

    @property
    def output_of(self) -> str | None:
        """The op whose output this token reads (``a`` for ``a.out``), else None."""
        if self.name.endswith(_OUTPUT_SUFFIX) and len(self.name) > len(_OUTPUT_SUFFIX):
            return self.name[: -len(_OUTPUT_SUFFIX)]
        return None


def _parse(match: re.Match[str]) -> Reference:
    path = match.group("path") or ""
    default: object = NO_DEFAULT
    pointer, question, default_text = path.partition("?")
    if question:
        default = default_text if default_text else None
    if pointer == "/":
        pointer = ""
    elif pointer and not pointer.startswith("/"):
        pointer = "/" + pointer
    return Reference(
        text=match.group(0), name=match.group("name"), pointer=pointer, default=default
    )


def find_references(text: str) -> list[Reference]:
    """Every token in one string, left to right."""
    return [_parse(match) for match in _TOKEN.finditer(text)]


def _string_values(document: Any) -> Iterator[str]:
    if isinstance(document, str):
        yield document
    elif isinstance(document, Mapping):
        for value in document.values():
            yield from _string_values(value)
    elif isinstance(document, list):
        for item in document:
            yield from _string_values(item)


def references_in(document: Any) -> list[Reference]:
    """Every token in every string value of a JSON document (object keys are ignored)."""
    return [ref for text in _string_values(document) for ref in find_references(text)]


def operation_dependencies(payload: Any) -> set[str]:
    """Names of the ops whose output ``payload`` reads through ``@<op.out...>`` tokens."""
    return {ref.output_of for ref in references_in(payload) if ref.output_of is not None}


class Resolution(Record):
    """What ``substitute`` produced and which tokens it could not resolve.

    ``value``: the substituted document, a new object (the input is never mutated);
    ``missing``: tokens whose name is unknown, as written; ``invalid``: ``@<name::/pointer>``
    (pointer absent, no default) or ``<token> cannot be used in composite string``; both
    deduplicated, in the order found."""

    __slots__ = ("invalid", "missing", "value")

    def __init__(
        self, value: Any, missing: list[str] | None = None, invalid: list[str] | None = None
    ) -> None:
        self.value = value
        self.missing: list[str] = [] if missing is None else missing
        self.invalid: list[str] = [] if invalid is None else invalid

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was


class _Absent(enum.Enum):
    ABSENT = "ABSENT"


_ABSENT: Final = _Absent.ABSENT


def _lookup(value: Any, pointer: str) -> Any:
    """The value at ``pointer`` with JSON semantics, or ``_ABSENT``."""
    from jsonpointer import EndOfList, JsonPointer, JsonPointerException

    try:
        json_pointer = JsonPointer(pointer)
    except JsonPointerException:  # malformed pointer, e.g. "~2": it can point at nothing
        return _ABSENT
    for part in json_pointer.parts:
        # jsonpointer would index into strings (they are Sequences); JSON pointers do not.
        if not isinstance(value, Mapping | list):
            return _ABSENT
        try:
            value = json_pointer.walk(value, part)
        except JsonPointerException:
            return _ABSENT
        if isinstance(value, EndOfList):  # "-" names the element after the last one
            return _ABSENT
    return value


def _is_container(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _as_text(value: Any) -> str:
    # Fix (3): numbers, booleans and null render as JSON does (1e+20, true, null).
    return value if isinstance(value, str) else json.dumps(value)


class _Substituter:
    """One substitution pass over a document, collecting missing and invalid references."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.context = context
        self.missing: dict[str, None] = {}  # dicts as ordered sets
        self.invalid: dict[str, None] = {}

    def resolve(self, ref: Reference) -> Any:
        """The value ``ref`` stands for, or ``_ABSENT`` after recording why not."""
        if ref.name not in self.context:
            self.missing[ref.text] = None
            return _ABSENT
        value = _lookup(self.context[ref.name], ref.pointer)
        if value is _ABSENT:
            if ref.default is NO_DEFAULT:
                # Reported without the default, pointer normalised (it is never "" here).
                self.invalid[f"@<{ref.name}::{ref.pointer}>"] = None
                return _ABSENT
            return ref.default
        return value

    def walk(self, document: Any) -> Any:
        if isinstance(document, str):
            return self.string(document)
        if isinstance(document, Mapping):
            return {key: self.walk(value) for key, value in document.items()}
        if isinstance(document, list):
            return [self.walk(item) for item in document]
        return document

    def string(self, text: str) -> Any:
        whole = _TOKEN.fullmatch(text)
        if whole is not None:
            value = self.resolve(_parse(whole))
            # Fix (1): every JSON type is substituted, booleans included.
            return text if value is _ABSENT else copy.deepcopy(value)
        # One pass: substituted text is never scanned again for tokens.
        return _TOKEN.sub(self.interpolate, text)

    def interpolate(self, match: re.Match[str]) -> str:
        ref = _parse(match)
        value = self.resolve(ref)
        if value is _ABSENT:
            return ref.text
        if _is_container(value):
            self.invalid[f"{ref.text} cannot be used in composite string"] = None
            return ref.text
        return _as_text(value)


def substitute(document: Any, context: Mapping[str, Any]) -> Resolution:
    """Replace every token in ``document``'s string values with its value from ``context``.

    A string that is exactly one token becomes the value itself, with its JSON type; tokens inside
    longer strings are replaced by their text. Unresolved tokens stay as written and are listed in
    ``missing`` (unknown name) or ``invalid`` (pointer absent without default, or an object/array
    inside a longer string). Resolved values are copied, so the result shares nothing mutable
    with ``document`` or ``context``.
    """
    substituter = _Substituter(context)
    value = substituter.walk(document)
    return Resolution(
        value=value, missing=list(substituter.missing), invalid=list(substituter.invalid)
    )
