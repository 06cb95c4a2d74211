"""The payload parameters of a template, as its ``@<pop.payload::/...>`` tokens declare them.

Layer: server (the template page of the dashboard). A POP AgendaTemplate has no list of
parameters (POP-REFERENCE §1.4): its only inputs are the payload (``pop.payload`` and its second
name ``pop.transformRequest``) and its ``staticParameters``. What a payload must hold is written
in the tokens themselves: ``@<pop.payload::/input>`` reads the payload's field ``input`` and
needs it (no default); ``@<pop.payload::/repeat?1>`` reads ``repeat`` and falls back to the text
``1``. :func:`payload_parameters` collects them, one :class:`Parameter` per top-level field,
for the page's table and for its script's checks as you type; the server's fill
(:func:`pop.server.services.fill_template`) stays the authority.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonpointer import JsonPointer, JsonPointerException

from pop.engine.templates import PAYLOAD_PARAMETERS
from pop.models import AgendaTemplate
from pop.refs import NO_DEFAULT, Reference, find_references

ANY = "any JSON value"
TEXT = "text: a string, number, boolean or null"
OBJECT = "object"


@dataclass
class Parameter:
    """One top-level field of the payload that the template reads."""

    name: str
    type: str = ANY
    required: bool = False
    default: str | None = None  # the token's ``?default`` text as written
    has_default: bool = False
    uses: list[str] = field(default_factory=list)  # where in the agenda, e.g. "operation 'a'"

    @property
    def description(self) -> str:
        return "read by " + ", ".join(dict.fromkeys(self.uses))


@dataclass
class Read:
    """One token reading the payload: the pointer, whether it is needed, how it is used."""

    pointer: str
    required: bool
    whole: bool  # the token is a whole string value (any JSON type) or inside longer text


@dataclass
class PayloadParameters:
    parameters: list[Parameter]
    reads: list[Read]
    takes_whole_payload: bool  # ``@<pop.payload>`` somewhere: any field may be read

    def for_script(self) -> dict[str, Any]:
        """What the page's script checks a payload against (JSON)."""
        return {
            "parameters": [
                {"name": item.name, "type": item.type, "required": item.required}
                for item in self.parameters
            ],
            "reads": [
                {"pointer": read.pointer, "required": read.required, "whole": read.whole}
                for read in self.reads
            ],
            "wholePayload": self.takes_whole_payload,
            "types": {"any": ANY, "text": TEXT, "object": OBJECT},
        }

    def example(self) -> dict[str, Any]:
        """The editor's first payload: each optional field with its default, each required one
        empty (nested fields as objects)."""
        payload: dict[str, Any] = {}
        by_name = {parameter.name: parameter for parameter in self.parameters}
        for read in self.reads:
            if not read.pointer:
                continue
            parts = JsonPointer(read.pointer).parts
            place = payload
            for part in parts[:-1]:
                nested = place.get(part)
                if not isinstance(nested, dict):
                    nested = place[part] = {}
                place = nested
            if parts[-1] not in place:
                parameter = by_name.get(parts[0])
                optional = not read.required and parameter is not None and parameter.has_default
                place[parts[-1]] = parameter.default if optional and parameter else ""
        return payload


def _strings(document: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(document, str):
        yield where, document
    elif isinstance(document, dict):
        for value in document.values():
            yield from _strings(value, where)
    elif isinstance(document, list):
        for item in document:
            yield from _strings(item, where)


def _places(agenda: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, string value) for every string of the template's agenda."""
    for key, value in agenda.items():
        if key == "operations" and isinstance(value, list):
            for index, operation in enumerate(value):
                name = operation.get("name") if isinstance(operation, dict) else None
                yield from _strings(operation, f"operation '{name or f'#{index + 1}'}'")
        else:
            yield from _strings(value, f"agenda {key}")


def _type_of(reference: Reference, whole: bool) -> str:
    if reference.pointer.count("/") > 1:
        return OBJECT  # it reads inside the field
    return ANY if whole else TEXT


def payload_parameters(template: AgendaTemplate) -> PayloadParameters:
    """The payload fields the template's tokens read, in the order first read."""
    found: dict[str, Parameter] = {}
    reads: dict[str, Read] = {}
    whole_payload = False
    agenda = template.agenda.to_wire() if template.agenda else {}
    for where, text in _places(agenda):
        references = find_references(text)
        whole = len(references) == 1 and references[0].text == text
        for reference in references:
            if reference.name not in PAYLOAD_PARAMETERS:
                continue
            if not reference.pointer:
                whole_payload = True
                continue
            try:
                name = JsonPointer(reference.pointer).parts[0]
            except JsonPointerException:
                continue  # the server's fill reports it
            required = reference.default is NO_DEFAULT
            parameter = found.setdefault(name, Parameter(name))
            parameter.uses.append(where)
            parameter.required = parameter.required or required
            kind = _type_of(reference, whole)
            if parameter.type != OBJECT and kind != ANY:
                parameter.type = kind
            if not required and not parameter.has_default:
                parameter.has_default = True
                parameter.default = (
                    reference.default if isinstance(reference.default, str) else None
                )
            read = reads.setdefault(reference.pointer, Read(reference.pointer, required, whole))
            read.required = read.required or required
            read.whole = read.whole and whole
    return PayloadParameters(list(found.values()), list(reads.values()), whole_payload)
