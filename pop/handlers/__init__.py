"""The handler SDK: what a Python handler author imports, and the built-in handlers.

Layer: handlers (above runtimes/models/errors, below engine). Handler modules import
:func:`handler`, :class:`HandlerContext` and the errors from here; the engine and the registry
resolve ``module.path:function`` references with :func:`load_handler` and read a handler's
payload model with :func:`payload_model_of`.

A handler is ``def run(ctx: HandlerContext) -> Any``; see :mod:`pop.handlers.context` for what a
return value or an exception means, :mod:`pop.handlers.entry` for the launched form
(``python -m pop.handlers module:function [standard args]``) and :mod:`pop.handlers.resident`
for the in-process form.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from pop.errors import HandlerError, InputError, PermanentError, TemporaryError

if TYPE_CHECKING:
    from pop.handlers.context import HandlerContext
    from pop.handlers.external import ExternalResult

# loaded on first use: they bring asyncio, which reading a handler's payload model (pop status,
# pop submit) does not need
_LAZY = {"HandlerContext": "pop.handlers.context", "ExternalResult": "pop.handlers.external"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pop.handlers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


PAYLOAD_MODEL_ATTRIBUTE = "__pop_payload_model__"

F = TypeVar("F", bound=Callable[..., Any])


def handler(payload_model: type[BaseModel] | None = None) -> Callable[[F], F]:
    """Mark a handler function and attach its payload model (validated before it runs, and at
    submit time for registered types): ``@handler(payload_model=MyPayload)``."""
    if payload_model is not None and not (
        isinstance(payload_model, type) and issubclass(payload_model, BaseModel)
    ):
        raise TypeError(f"payload_model must be a pydantic model class, not {payload_model!r}")

    def mark(func: F) -> F:
        setattr(func, PAYLOAD_MODEL_ATTRIBUTE, payload_model)
        return func

    return mark


def payload_model_of(func: Callable[..., Any]) -> type[BaseModel] | None:
    """The payload model a handler declared with :func:`handler`, or None."""
    model = getattr(func, PAYLOAD_MODEL_ATTRIBUTE, None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model
    return None


def load_handler(ref: str) -> Callable[[HandlerContext], Any]:
    """The handler function named by ``"module.path:function"``; InputError naming ``ref`` when
    the reference is malformed, the module cannot be imported or the function is missing."""
    module_name, colon, attribute = ref.partition(":")
    if not colon or not module_name.strip() or not attribute.strip():
        raise InputError(
            f"Invalid handler reference {ref!r}: expected 'module.path:function'",
            hint="for example pop.handlers.sample:run",
        )
    try:
        module = importlib.import_module(module_name.strip())
    except Exception as exc:
        raise InputError(
            f"Cannot import the module of handler {ref!r}: {type(exc).__name__}: {exc}"
        ) from exc
    target: Any = module
    for part in attribute.strip().split("."):
        if not hasattr(target, part):
            raise InputError(f"Handler {ref!r} not found: {module_name} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise InputError(f"Handler {ref!r} is not callable")
    function: Callable[[HandlerContext], Any] = target
    return function


__all__ = [
    "PAYLOAD_MODEL_ATTRIBUTE",
    "ExternalResult",
    "HandlerContext",
    "HandlerError",
    "PermanentError",
    "TemporaryError",
    "handler",
    "load_handler",
    "payload_model_of",
]
