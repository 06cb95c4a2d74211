"""``GET /metrics``: Prometheus' text exposition format 0.0.4, no token (pop's extension).

Layer: server. One :class:`ServerMetrics` per app, on its own ``CollectorRegistry`` (never the
process-global one, so two apps in one process never mix). Two kinds of numbers:

- counted in this process while it serves (they start at 0 with each ``pop serve``):
  ``pop_http_request_duration_seconds{method, route, status}`` (a histogram; ``route`` is the
  route's template such as ``/pop/agenda/{agenda_id}``, ``unmatched`` for no route, so ids never
  become labels) and ``pop_claims_total`` (agendas handed out by ``getAgenda``: the ``count`` of
  each successful answer), both kept by :class:`pop.server.middleware.RequestContext`;
- read from the store at each scrape (so they cover every executor of the store, local or
  remote, and survive restarts): ``pop_agendas{state}`` (agendas by processing state),
  ``pop_queue_depth{insight}`` (agendas waiting in each insight's queue),
  ``pop_operations_total{type, outcome}`` and ``pop_operation_duration_seconds{type}`` (every
  ended attempt of the stored agendas, by op type; deleted or reaped agendas drop out, so these
  "counters" can go down after ``pop reap data`` or a DELETE).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pop.api.events import StoreNumbers, store_numbers
from pop.server.auth import client_thread

router = APIRouter(tags=["health"])

OPERATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, math.inf)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the text exposition format 0.0.4


class ServerMetrics:
    """The in-process metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_duration = Histogram(
            "pop_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.claims = Counter(
            "pop_claims",
            "Agendas handed out by getAgenda since this server started",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_duration.labels(method, route, str(status)).observe(seconds)

    def count_claims(self, count: int) -> None:
        if count > 0:
            self.claims.inc(count)


class StoreCollector(Collector):
    """The store's numbers of one scrape as Prometheus families."""

    def __init__(self, numbers: StoreNumbers) -> None:
        self.numbers = numbers

    def collect(self) -> Iterator[Metric]:
        agendas = GaugeMetricFamily("pop_agendas", "Stored agendas by state", labels=["state"])
        for state in ("WAITING", "EXECUTING", "COMPLETE"):
            self.numbers.agendas_by_state.setdefault(state, 0)
        for state, count in sorted(self.numbers.agendas_by_state.items()):
            agendas.add_metric([state], count)
        yield agendas
        queue = GaugeMetricFamily(
            "pop_queue_depth", "Agendas waiting in each insight's queue", labels=["insight"]
        )
        for insight, count in sorted(self.numbers.queue_by_insight.items()):
            queue.add_metric([insight], count)
        yield queue
        outcomes: dict[tuple[str, str], int] = defaultdict(int)
        durations: dict[str, list[float]] = defaultdict(list)
        for op_type, outcome, seconds in self.numbers.attempts:
            outcomes[(op_type, outcome)] += 1
            durations[op_type].append(seconds)
        total = CounterMetricFamily(
            "pop_operations",
            "Ended op attempts of the stored agendas, by op type and outcome",
            labels=["type", "outcome"],
        )
        for (op_type, outcome), count in sorted(outcomes.items()):
            total.add_metric([op_type, outcome], count)
        yield total
        histogram = HistogramMetricFamily(
            "pop_operation_duration_seconds",
            "How long the ended op attempts of the stored agendas ran, by op type",
            labels=["type"],
        )
        for op_type, values in sorted(durations.items()):
            buckets = [
                (_bound(bound), float(sum(1 for value in values if value <= bound)))
                for bound in OPERATION_BUCKETS
            ]
            histogram.add_metric([op_type], buckets, sum(values))
        yield histogram


def _bound(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus' text format: the in-process metrics, then the store's."""
    numbers = await client_thread(request).call(store_numbers)
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(StoreCollector(numbers))
    server: ServerMetrics = request.app.state.metrics
    body = generate_latest(server.registry) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE)
