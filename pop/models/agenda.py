"""Agenda and Operation: the workflow a user submits (POP's wire shape).

Layer: models.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pop.models import wire
from pop.models.base import WireModel
from pop.models.wire import (
    DEFAULT_CUSTOMER_ID,
    DEFAULT_MAXIMUM_ATTEMPTS,
    DEPENDS_ON_PARAM,
    GENERATED_PARENT_PARAM,
    GENERATOR_PARAM,
    MAXIMUM_ATTEMPTS_CAP,
    SUBMIT_DIR_PARAM,
)

__all__ = [
    "DEFAULT_CUSTOMER_ID",
    "DEFAULT_MAXIMUM_ATTEMPTS",
    "DEPENDS_ON_PARAM",
    "GENERATED_PARENT_PARAM",
    "GENERATOR_PARAM",
    "MAXIMUM_ATTEMPTS_CAP",
    "SUBMIT_DIR_PARAM",
    "Agenda",
    "AgendaInsight",
    "Operation",
]


class AgendaInsight(WireModel):
    """The resource pool and insight (queue) an agenda was routed to."""

    resource_pool_id: str | None = None
    insight_id: str | None = None


class Operation(WireModel):
    """One step of an agenda; ``type`` picks its handler, ``name`` is its handle."""

    name: str | None = None
    type: str | None = None
    id: str | None = None
    payload: Any = None
    params: dict[str, Any] = Field(default_factory=dict)

    def depends_on(self) -> list[str]:
        """The names in ``params.dependsOn`` ("a, b"), trimmed, empties dropped."""
        return wire.depends_on(self.params)

    @property
    def generator(self) -> dict[str, Any] | None:
        value = self.params.get(GENERATOR_PARAM)
        return value if isinstance(value, dict) else None


class Agenda(WireModel):
    """A workflow: named, typed operations with JSON payloads, a DAG through references."""

    id: str | None = None
    cid: str | None = None
    customer_id: str | None = None
    title: str | None = None
    link_id: str | None = None
    progress_id: str | None = None
    job_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    operations: list[Operation] = Field(default_factory=list)
    agenda_insight: AgendaInsight | None = None
    added_time: int | None = None
    updated_time: int | None = None

    @property
    def effective_customer_id(self) -> str:
        return self.customer_id or DEFAULT_CUSTOMER_ID

    def maximum_attempts(self) -> int:
        """``params.maximumAttempts`` (number or numeric string), default 3."""
        return wire.maximum_attempts(self.params)

    def operation(self, name: str) -> Operation | None:
        for operation in self.operations:
            if operation.name == name:
                return operation
        return None
