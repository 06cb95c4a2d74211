"""pydantic models of every object pop stores or prints, with POP's JSON field names.

Layer: models (above errors/config, below store, engine and everything else).
"""

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
from pop.models.base import WireModel, new_id, now_ms
from pop.models.facility import AgendaTemplate, Customer, Insight, ResourcePool
from pop.models.progress import (
    FAILED,
    PENDING,
    RETRY_AFTER_KEY,
    RUNNING_OPERATIONS,
    SUCCEEDED,
    AgendaProgress,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
    ProgressSummary,
    is_failed,
    is_succeeded,
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
