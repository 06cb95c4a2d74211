"""Agenda and Operation: the workflow a user submits (POP's wire shape).

Layer: models.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pop.models.base import WireModel

GENERATOR_PARAM = "agenda.operation.generator"
GENERATED_PARENT_PARAM = "generatedOperationParent"
DEPENDS_ON_PARAM = "dependsOn"
SUBMIT_DIR_PARAM = "submitDir"  # agenda param (ours): where the submitting command ran
DEFAULT_CUSTOMER_ID = "default"
DEFAULT_MAXIMUM_ATTEMPTS = 3
MAXIMUM_ATTEMPTS_CAP = 20


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
        raw = self.params.get(DEPENDS_ON_PARAM)
        if raw is None:
            return []
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

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
        raw = self.params.get("maximumAttempts")
        if raw is None:
            return DEFAULT_MAXIMUM_ATTEMPTS
        try:
            return int(float(str(raw)))
        except ValueError:
            return DEFAULT_MAXIMUM_ATTEMPTS

    def operation(self, name: str) -> Operation | None:
        for operation in self.operations:
            if operation.name == name:
                return operation
        return None
