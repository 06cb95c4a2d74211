"""The CPU budget: CPUs that running work takes, shared by every agenda of a process.

Layer: engine. One :class:`CpuBudget` is made by whoever runs agendas (``pop run-local`` makes one
per agenda; ``pop executor`` and ``pop batch`` share one among all the agendas they run, so eight
agendas at once still never start more ffmpeg processes than the cores allow). The executor takes
from it on its event loop; resident handlers' external launches take from it through
:meth:`CpuBudget.acquire` (run on that loop for them), in the order they asked.

A launched op takes :func:`op_cpus` of its registry entry for its whole run. A resident op takes
nothing itself: each external binary it launches takes its ``external.<name>`` CPUs while it
runs, so its probing, downloading and bookkeeping never hold a CPU that ffmpeg could use. A
request larger than the whole budget still starts when nothing else holds CPU, so it can never
wait forever.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable

from pop.registry import HandlerEntry

_EPSILON = 1e-9


def op_cpus(entry: HandlerEntry) -> float:
    """The CPUs an op of ``entry`` takes from the budget when it starts, until it ends.

    A launched op takes its ``cpuMinRequestCount`` or, when larger, that of the biggest binary
    it runs (``external.<name>.cpuMinRequestCount``): its external binaries run one at a time
    inside the op's process. A resident op runs on a thread of the executor and takes nothing:
    its external launches take theirs while they run (:meth:`CpuBudget.acquire`).
    """
    if entry.resident:
        return 0.0  # its external launches take their own share while they run
    return max(entry.cpu_request, max(entry.external_cpus.values(), default=0.0))


class CpuBudget:
    """``total`` CPUs handed out to running work; waiting acquirers are served first, in order,
    then listeners hear that some came back."""

    def __init__(self, total: float | None = None) -> None:
        self.total = float(total or os.cpu_count() or 1)
        self.used = 0.0
        self._listeners: list[Callable[[], None]] = []
        self._waiters: deque[tuple[float, asyncio.Future[None]]] = deque()

    def _fits(self, cpus: float) -> bool:
        return not cpus or self.used <= _EPSILON or self.used + cpus <= self.total + _EPSILON

    def try_take(self, cpus: float) -> bool:
        """Take ``cpus`` if they fit (or nothing else is held) and nobody is waiting in
        :meth:`acquire`; False leaves the budget as it was. Zero always fits."""
        if cpus and (self._waiters or not self._fits(cpus)):
            return False
        self.used += cpus
        return True

    async def acquire(self, cpus: float) -> None:
        """Take ``cpus``, waiting (first come, first served) until they fit. Cancelled while
        waiting, it takes nothing."""
        if self.try_take(cpus):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (cpus, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give(cpus)  # granted just as the wait was cancelled
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def give(self, cpus: float) -> None:
        """Return ``cpus`` taken earlier, serve the waiting acquirers that now fit (in order),
        then wake every listener."""
        if not cpus:
            return
        self.used = max(0.0, self.used - cpus)
        while self._waiters:
            wanted, waiter = self._waiters[0]
            if waiter.done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            if not self._fits(wanted):
                break
            self._waiters.popleft()
            self.used += wanted
            waiter.set_result(None)
        for listener in list(self._listeners):
            listener()

    def listen(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` whenever CPU comes back; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop
