"""POP's JSON objects as plain dicts: the models' field orders, the params the engine reads, and
reading JSON text strictly. Standard library only.

Layer: models. The pydantic models (:mod:`pop.models.agenda`, :mod:`pop.models.progress`) and
the code that builds stored records without them (the fast ``pop submit``, the store's wire
reads) share these, so a dict built here prints its keys in the order a model's ``to_wire()``
gives them and reads its params as the model does; :func:`loads` reads JSON as strictly as the
models need it.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


GENERATOR_PARAM = "agenda.operation.generator"
GENERATED_PARENT_PARAM = "generatedOperationParent"
DEPENDS_ON_PARAM = "dependsOn"
SUBMIT_DIR_PARAM = "submitDir"  # agenda param (ours): where the submitting command ran
DEFAULT_CUSTOMER_ID = "default"
DEFAULT_MAXIMUM_ATTEMPTS = 3
MAXIMUM_ATTEMPTS_CAP = 20

# each model's fields, in order, by their wire names
AGENDA_FIELDS = (
    "id",
    "cid",
    "customerId",
    "title",
    "linkId",
    "progressId",
    "jobId",
    "params",
    "operations",
    "agendaInsight",
    "addedTime",
    "updatedTime",
)
OPERATION_FIELDS = ("name", "type", "id", "payload", "params")
AGENDA_PROGRESS_FIELDS = (
    "id",
    "agendaId",
    "linkId",
    "externalId",
    "cid",
    "customerId",
    "title",
    "processingState",
    "processingStateMessage",
    "percentComplete",
    "operationProgress",
    "diagnosticEvents",
    "attemptsCompleted",
    "maximumAttempts",
    "startedTime",
    "completedTime",
    "addedTime",
    "updatedTime",
    "params",
    "agendaInsight",
)
OPERATION_PROGRESS_FIELDS = (
    "id",
    "agendaProgressId",
    "operation",
    "processingState",
    "processingStateMessage",
    "percentComplete",
    "resultPayload",
    "diagnosticEvents",
    "attemptCount",
    "attemptTime",
    "startedTime",
    "completedTime",
    "params",
)


class DocumentError(ValueError):
    """What is wrong with a JSON document that Python's json module would read anyway."""


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0:  # inf: 1e999 and the like
        raise DocumentError(f"the number {text} is out of range")
    return value


def _not_json(text: str) -> float:
    raise DocumentError(f"{text} is not a JSON value")


def loads(text: str) -> Any:
    """JSON text as Python, as strictly as JSON is: ``NaN``, ``Infinity`` and numbers beyond a
    double's range are refused (DocumentError), as is text that is not Unicode (a lone
    surrogate such as ``\\ud800``) and nesting too deep to read; json.JSONDecodeError for
    malformed text. The models would write the numbers as null and the store cannot hold the
    surrogates."""
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_not_json)
    except RecursionError:
        raise DocumentError("it is nested too deeply") from None
    if "\\u" in text or not text.isascii():  # the only ways a lone surrogate gets in
        check_text(value)
    return value


def check_text(value: Any) -> None:
    """DocumentError when a string (or key) in a JSON value is not Unicode text."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError(
            "it holds text that is not Unicode (a lone surrogate such as \\ud800)"
        ) from None
    except RecursionError:
        raise DocumentError("it is nested too deeply") from None


def ordered(data: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``data`` with the keys of ``fields`` first, in that order, then the others as they came:
    the order of a model's ``to_wire()`` (its fields, then its unknown keys)."""
    result = {key: data[key] for key in fields if key in data}
    result.update((key, value) for key, value in data.items() if key not in result)
    return result


def depends_on(params: Mapping[str, Any]) -> list[str]:
    """The names in an op's ``params.dependsOn`` ("a, b" or a list), trimmed, empties dropped."""
    raw = params.get(DEPENDS_ON_PARAM)
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def maximum_attempts(params: Mapping[str, Any]) -> int:
    """An agenda's ``params.maximumAttempts`` (number or numeric string), default 3."""
    raw = params.get("maximumAttempts")
    if raw is None:
        return DEFAULT_MAXIMUM_ATTEMPTS
    try:
        return int(float(str(raw)))
    except (ValueError, OverflowError):  # "abc", "inf"
        return DEFAULT_MAXIMUM_ATTEMPTS
