"""Reading documents users give: agenda, template and payload files (JSON or YAML, ``-`` for
stdin), with one clear InputError for each way they can be wrong.

Layer: engine. Re-exported by :mod:`pop.api` (``read_document``, ``parse_agenda``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pop.errors import InputError
from pop.models import Agenda
from pop.models.validation import json_kind, problems
from pop.models.wire import DocumentError, check_text, loads

__all__ = ["parse_agenda", "read_document"]


def read_document(source: str | Path, *, what: str = "agenda") -> Any:
    """Parse a JSON (or YAML) file, ``-`` meaning stdin; InputError naming the problem."""
    import sys

    name = str(source)
    if not name.strip():
        raise InputError(f"the {what} file name is empty", hint="give a path, or - for stdin")
    try:
        text = sys.stdin.read() if name == "-" else Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {name}") from None
    except IsADirectoryError:
        raise InputError(f"{what} file is a directory: {name}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what} file {name}: {exc}") from None
    if name.endswith((".yaml", ".yml")):
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{name}: malformed YAML: {exc}") from None
        except RecursionError:
            raise InputError(f"{name}: the document is nested too deeply") from None
        try:
            check_text(document)
        except DocumentError as exc:
            raise InputError(f"{name}: {exc}") from None
        return document
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{name}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except DocumentError as exc:
        raise InputError(f"{name}: {exc}") from None


def parse_agenda(document: Any, *, source: str = "agenda") -> Agenda:
    if not isinstance(document, dict):
        raise InputError(f"{source}: an agenda must be a JSON object, not {json_kind(document)}")
    try:
        return Agenda.model_validate(document)
    except ValidationError as exc:
        details = "; ".join(problems(exc, root="the agenda"))
        raise InputError(f"{source}: {details}") from None
