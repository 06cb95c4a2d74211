"""Path fields of handler payloads: declared once, resolved against the submitting directory.

Layer: handlers (SDK). A payload model marks a field that names a local file with
:data:`InputPath` (or ``list[InputPath]``); at submission pop rewrites a relative value of such a
field to an absolute path against the directory the submitting command ran in, so an executor
started anywhere finds the file, and the stored payload shows what it resolved to. URLs
(``scheme://``), absolute paths and values holding ``@<...>`` references are left as they are.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, get_args

from pydantic import BaseModel


class _PathMarker:
    """Metadata that marks a payload field as a local path (see :data:`InputPath`)."""

    def __repr__(self) -> str:
        return "InputPath"


PATH_MARKER = _PathMarker()
InputPath = Annotated[str, PATH_MARKER]


def _marked(annotation: Any, metadata: list[Any]) -> str | None:
    """ "one" for a path field, "many" for a list of paths, None otherwise."""
    if any(item is PATH_MARKER for item in metadata):
        return "one"
    for argument in get_args(annotation):
        if any(item is PATH_MARKER for item in get_args(argument)[1:]):
            return "many"
        nested = _marked(argument, [])
        if nested is not None:
            return nested
    return None


def path_fields(model: type[BaseModel]) -> dict[str, str]:
    """The model's path fields by their JSON name: ``{"input": "one", "inputs": "many"}``."""
    found = {}
    for name, info in model.model_fields.items():
        kind = _marked(info.annotation, list(info.metadata))
        if kind is not None:
            found[info.alias or name] = kind
    return found


def resolve_path(value: str, base: str) -> str:
    """``value`` made absolute against ``base`` unless it is a URL, absolute or a reference."""
    if not value or "://" in value or "@<" in value or os.path.isabs(value):
        return value
    if value.startswith("file:"):
        return value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def resolve_payload_paths(payload: Any, fields: dict[str, str], base: str) -> Any:
    """A copy of ``payload`` (a JSON object) with its path fields resolved against ``base``."""
    if not isinstance(payload, dict) or not fields:
        return payload
    result = dict(payload)
    for name, kind in fields.items():
        value = result.get(name)
        if kind == "one" and isinstance(value, str):
            result[name] = resolve_path(value, base)
        elif kind == "many" and isinstance(value, list):
            result[name] = [
                resolve_path(item, base) if isinstance(item, str) else item for item in value
            ]
    return result
