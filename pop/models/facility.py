"""Facility objects: Customer, ResourcePool, Insight, and AgendaTemplate.

Layer: models.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pop.models.agenda import Agenda
from pop.models.base import WireModel


class Customer(WireModel):
    """A tenant; ``id`` equals ``customerId``."""

    id: str | None = None
    customer_id: str | None = None
    cid: str | None = None
    title: str | None = None
    resource_pool_id: str | None = None
    billing_code: str | None = None
    added_time: int | None = None
    updated_time: int | None = None


class ResourcePool(WireModel):
    """A pool of processing capacity; ``insightIds`` is derived from the stored insights."""

    id: str | None = None
    customer_id: str | None = None
    cid: str | None = None
    title: str | None = None
    insight_ids: list[str] | None = None
    added_time: int | None = None
    updated_time: int | None = None


class Insight(WireModel):
    """A queue definition that maps agendas to a pool."""

    id: str | None = None
    customer_id: str | None = None
    cid: str | None = None
    title: str | None = None
    resource_pool_id: str | None = None
    queue_name: str | None = None
    queue_size: int | None = None
    scheduling_algorithm: str | None = None
    mappers: dict[str, list[str]] | None = None
    is_global: bool | None = None
    allowed_customer_ids: list[str] | None = None
    added_time: int | None = None
    updated_time: int | None = None


class AgendaTemplate(WireModel):
    """An agenda with ``@<...>`` parameters, filled from a payload (``pop template run``)."""

    id: str | None = None
    cid: str | None = None
    customer_id: str | None = None
    title: str | None = None
    allowed_customer_ids: list[str] | None = None
    is_global: bool | None = None
    is_default_template: bool | None = None
    static_parameters: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    agenda: Agenda | None = None
    added_time: int | None = None
    updated_time: int | None = None
