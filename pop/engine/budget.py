"""The CPU budget: CPUs that launched ops take while they run, shared by every agenda of a process.

Layer: engine. One :class:`CpuBudget` is made by whoever runs agendas (``pop run-local`` makes one
per agenda; ``pop executor`` and ``pop batch`` share one among all the agendas they run, so eight
agendas at once still never start more ffmpeg processes than the cores allow). Everything runs on
one event loop, so no locking is needed.

An op takes :func:`op_cpus` of its registry entry. A request larger than the whole budget still
starts when nothing else holds CPU, so it can never wait forever.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pop.registry import HandlerEntry

_EPSILON = 1e-9


def op_cpus(entry: HandlerEntry) -> float:
    """The CPUs an op of ``entry`` takes from the budget while it runs.

    A launched op takes its ``cpuMinRequestCount`` or, when larger, that of the biggest binary
    it runs (``external.<name>.cpuMinRequestCount``): its external binaries run one at a time
    inside the op. A resident op runs on a thread of the executor and takes only what its
    external binaries ask for (nothing when it declares none).
    """
    external = max(entry.external_cpus.values(), default=0.0)
    if entry.resident:
        return external
    return max(entry.cpu_request, external)


class CpuBudget:
    """``total`` CPUs handed out to running ops; listeners hear when some come back."""

    def __init__(self, total: float | None = None) -> None:
        self.total = float(total or os.cpu_count() or 1)
        self.used = 0.0
        self._listeners: list[Callable[[], None]] = []

    def try_take(self, cpus: float) -> bool:
        """Take ``cpus`` if they fit (or nothing else is held); False leaves the budget as it
        was. Zero always fits."""
        if cpus and self.used > _EPSILON and self.used + cpus > self.total + _EPSILON:
            return False
        self.used += cpus
        return True

    def give(self, cpus: float) -> None:
        """Return ``cpus`` taken earlier and wake everyone waiting for CPU."""
        if not cpus:
            return
        self.used = max(0.0, self.used - cpus)
        for listener in list(self._listeners):
            listener()

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever CPU comes back; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop
