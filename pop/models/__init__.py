"""pydantic models of every object pop stores or prints, with POP's JSON field names.

Layer: models (above errors/config, below store, engine and everything else).

Each name is loaded on first use (PEP 562): ``from pop.models import now_ms`` or
``ProcessingState`` loads no pydantic, so the store and the fast CLI views
(:mod:`pop.cli.quick`) start without it; a model class loads pydantic when first asked for.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pop.models.agenda import (
        DEFAULT_CUSTOMER_ID,
        DEPENDS_ON_PARAM,
        GENERATED_PARENT_PARAM,
        GENERATOR_PARAM,
        MAXIMUM_ATTEMPTS_CAP,
        Agenda,
        AgendaInsight,
        Operation,
    )
    from pop.models.base import WireModel
    from pop.models.facility import AgendaTemplate, Customer, Insight, ResourcePool
    from pop.models.progress import (
        RETRY_AFTER_KEY,
        AgendaProgress,
        DiagnosticEvent,
        OperationProgress,
        ProgressSummary,
    )
    from pop.models.states import (
        FAILED,
        PENDING,
        RUNNING_OPERATIONS,
        SUCCEEDED,
        ProcessingState,
        is_failed,
        is_succeeded,
        new_id,
        now_ms,
    )
    from pop.models.tokens import TOKEN_KINDS, TokenInfo, TokenKind, TokenState

__all__ = [
    "DEFAULT_CUSTOMER_ID",
    "DEPENDS_ON_PARAM",
    "FAILED",
    "GENERATED_PARENT_PARAM",
    "GENERATOR_PARAM",
    "MAXIMUM_ATTEMPTS_CAP",
    "PENDING",
    "RETRY_AFTER_KEY",
    "RUNNING_OPERATIONS",
    "SUCCEEDED",
    "TOKEN_KINDS",
    "Agenda",
    "AgendaInsight",
    "AgendaProgress",
    "AgendaTemplate",
    "Customer",
    "DiagnosticEvent",
    "Insight",
    "Operation",
    "OperationProgress",
    "ProcessingState",
    "ProgressSummary",
    "ResourcePool",
    "TokenInfo",
    "TokenKind",
    "TokenState",
    "WireModel",
    "is_failed",
    "is_succeeded",
    "new_id",
    "now_ms",
]


_MODULES = {
    "agenda": (
        "DEFAULT_CUSTOMER_ID",
        "DEPENDS_ON_PARAM",
        "GENERATED_PARENT_PARAM",
        "GENERATOR_PARAM",
        "MAXIMUM_ATTEMPTS_CAP",
        "Agenda",
        "AgendaInsight",
        "Operation",
    ),
    "base": ("WireModel",),
    "facility": ("AgendaTemplate", "Customer", "Insight", "ResourcePool"),
    "progress": (
        "RETRY_AFTER_KEY",
        "AgendaProgress",
        "DiagnosticEvent",
        "OperationProgress",
        "ProgressSummary",
    ),
    "states": (
        "FAILED",
        "PENDING",
        "RUNNING_OPERATIONS",
        "SUCCEEDED",
        "ProcessingState",
        "is_failed",
        "is_succeeded",
        "new_id",
        "now_ms",
    ),
    "tokens": ("TOKEN_KINDS", "TokenInfo", "TokenKind", "TokenState"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'pop.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pop.models.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
