"""The queues page's forms: a pool, customer or insight as the fields of an HTML form, turned
into the POP JSON object ``Client.facility_add`` and ``facility_update`` take.

Layer: server. Only the shape changes here (text to numbers, lists, mappers, a checkbox); every
check is POP's own in :mod:`pop.scheduling.facility`, so a form and the API refuse the same
things with the same messages. A blank field is ``null``: on update that clears the field (the
form shows every stored value, so what is sent is the whole object).
"""

from __future__ import annotations

import re
from typing import Any

from pop.errors import InputError
from pop.scheduling.facility import Kind

KIND_NAMES: dict[str, str] = {"insight": "insight", "pool": "resource pool", "customer": "customer"}

# the form's field -> the POP JSON field, per kind
TEXT_FIELDS: dict[str, dict[str, str]] = {
    "pool": {"id": "id", "title": "title"},
    "customer": {
        "id": "id",
        "title": "title",
        "pool": "resourcePoolId",
        "billing": "billingCode",
    },
    "insight": {
        "id": "id",
        "title": "title",
        "pool": "resourcePoolId",
        "algorithm": "schedulingAlgorithm",
    },
}


def _first(lists: dict[str, list[str]], name: str) -> str:
    return (lists.get(name) or [""])[0].strip()


def _queue_size(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"the queue size '{text}' is not a whole number",
            hint="leave it empty for an unbounded insight",
        ) from None


def _mappers(text: str) -> dict[str, list[str]] | None:
    """``NAME=VALUE`` lines (as ``--mapper``) as POP's mappers object."""
    mappers: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, separator, value = line.partition("=")
        if not separator or not name.strip() or not value.strip():
            raise InputError(
                f"the mapper line '{line}' is not NAME=VALUE",
                hint="for example operationType=transcode, one a line",
            )
        mappers.setdefault(name.strip(), []).append(value.strip())
    return mappers or None


def form_document(kind: Kind, lists: dict[str, list[str]]) -> dict[str, Any]:
    """The POP JSON object of a submitted form of ``kind``."""
    document: dict[str, Any] = {
        field: _first(lists, name) or None for name, field in TEXT_FIELDS[kind].items()
    }
    if kind == "insight":
        document["queueSize"] = _queue_size(_first(lists, "queueSize"))
        document["mappers"] = _mappers((lists.get("mappers") or [""])[0])
        document["isGlobal"] = _first(lists, "isGlobal") == "on"
        allowed = [item for item in re.split(r"[,\s]+", _first(lists, "allowed")) if item]
        document["allowedCustomerIds"] = allowed or None
    if document.get("id") is None:
        document.pop("id")  # add: a generated id (customers must give one: POP's check says so)
    return document


def mapper_lines(mappers: dict[str, list[str]] | None) -> str:
    """An insight's mappers as the form's ``NAME=VALUE`` lines."""
    return "\n".join(
        f"{name}={value}" for name, values in (mappers or {}).items() for value in values
    )
