"""Submit-time payload checks: an op whose handler declares a payload model is validated
before anything is stored (DESIGN §6), when its payload holds no references yet. Problems are
said in pop's words (:mod:`pop.models.validation`): ``the payload must be a JSON object, not an
array``.

Layer: engine. Called by the api through ``validate_agenda(check_payload=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from pop import refs
from pop.errors import PopError
from pop.handlers import load_handler, payload_model_of
from pop.models.validation import problems

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pop.models.views import OperationLike
    from pop.registry.builtin import HandlerRefs


def payload_model_for(registry: HandlerRefs, op_type: str) -> type[BaseModel] | None:
    """The payload model the handler of ``op_type`` declares; None for unknown types, plain
    commands, handlers without a model, and broken handler references (they fail at run time)."""
    if op_type not in registry:
        return None
    handler = registry.handler_ref(op_type)
    if handler is None:
        return None
    try:
        return payload_model_of(load_handler(handler))
    except PopError:
        return None


def payload_checker(registry: HandlerRefs) -> Callable[[OperationLike], list[str]]:
    """A function listing the payload problems of one op (empty when fine or not checkable)."""
    models: dict[str, type[BaseModel] | None] = {}

    def model_for(op_type: str) -> type[BaseModel] | None:
        if op_type not in models:
            models[op_type] = payload_model_for(registry, op_type)
        return models[op_type]

    def check(operation: OperationLike) -> list[str]:
        model = model_for(operation.type or "")
        payload: Any = operation.payload
        if model is None or refs.references_in(payload):
            return []
        try:
            model.model_validate({} if payload is None else payload)
        except ValidationError as exc:
            details = "; ".join(problems(exc, root="the payload"))
            return [
                f"operation '{operation.name}' has an invalid {operation.type} payload: {details}"
            ]
        return []

    return check
