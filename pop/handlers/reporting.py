"""Reporters: where a handler's progress and result go.

Layer: handlers (imports pop.models and the standard library). :class:`HandlerContext` calls a
:class:`Reporter`; :func:`pop.handlers.entry.run_handler` gives it a :class:`StdoutReporter`,
:func:`pop.handlers.resident.run_resident` a :class:`CallbackReporter`.

Stdout protocol (DESIGN.md §6): ``Progress: <OperationProgress JSON>`` lines, one
``Payload: <result JSON>`` line on success, and ``HandlerComplete`` last (written by the entry
point). The ``Payload:`` line is written *before* the COMPLETE ``Progress:`` line, so a reader
that has seen COMPLETE already holds the result.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from pop.models import OperationProgress
from pop.runtimes.base import ReportSink

PROGRESS_PREFIX = "Progress: "
PAYLOAD_PREFIX = "Payload: "
HANDLER_COMPLETE = "HandlerComplete"


class Reporter(Protocol):
    """Receives a handler's progress; the context guarantees nothing follows a completion
    except, when the handler raised after completing, one overriding failure."""

    def report_progress(self, progress: OperationProgress) -> None:
        """An EXECUTING progress; a reporter may drop it when another follows soon."""
        ...

    def report_complete(self, progress: OperationProgress, result: Any) -> None:
        """The COMPLETE progress and, on success, the result (None on failure). Must raise
        (TypeError/ValueError) before reporting anything when the result cannot be sent."""
        ...


def dump_result(result: Any) -> str:
    """The compact JSON text of a result; TypeError/ValueError when it is not JSON."""
    return json.dumps(result, separators=(",", ":"), allow_nan=False)


class StdoutReporter:
    """Writes the stdout protocol lines, flushed one by one.

    EXECUTING progress is coalesced: a line is written when the state, the params or the percent
    (by at least 1) changed, or ``min_interval_seconds`` passed since the last line; a dropped
    update is superseded by the next one. COMPLETE lines are always written.

    ``sink`` (set by the entry point on kubernetes: the pod annotation reports) receives every
    progress, before the stdout coalescing, and the final report with the result JSON; it
    coalesces on its own and has sent the final report when :meth:`report_complete` returns.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        min_interval_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sink: ReportSink | None = None,
    ) -> None:
        self.sink = sink
        self._stream = stream if stream is not None else sys.stdout
        self._min_interval = min_interval_seconds
        self._clock = clock
        self._last: OperationProgress | None = None
        self._last_time = 0.0

    def report_progress(self, progress: OperationProgress) -> None:
        if self.sink is not None:
            self.sink.report(progress.to_json(), None, final=False)
        now = self._clock()
        last = self._last
        if (
            last is not None
            and now - self._last_time < self._min_interval
            and progress.processing_state == last.processing_state
            and progress.params == last.params
            and abs((progress.percent_complete or 0.0) - (last.percent_complete or 0.0)) < 1.0
        ):
            return
        self._last, self._last_time = progress, now
        self.write_line(PROGRESS_PREFIX + progress.to_json())

    def report_complete(self, progress: OperationProgress, result: Any) -> None:
        payload = None if result is None else dump_result(result)
        progress_json = progress.to_json()
        lines = [] if payload is None else [PAYLOAD_PREFIX + payload]
        lines.append(PROGRESS_PREFIX + progress_json)
        self._last, self._last_time = progress, self._clock()
        for line in lines:
            self.write_line(line)
        if self.sink is not None:
            self.sink.report(progress_json, payload, final=True)

    def write_line(self, line: str) -> None:
        """Write one line and flush, so the executor sees it at once."""
        self._stream.write(line + "\n")
        self._stream.flush()


class CallbackReporter:
    """Hands every progress to ``on_progress`` (resident handlers: the engine's callback)."""

    __slots__ = ("_on_progress",)

    def __init__(self, on_progress: Callable[[OperationProgress], None]) -> None:
        self._on_progress = on_progress

    def report_progress(self, progress: OperationProgress) -> None:
        self._on_progress(progress)

    def report_complete(self, progress: OperationProgress, result: Any) -> None:
        self._on_progress(progress)
