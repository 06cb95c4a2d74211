"""Progress over a group of agendas that share a ``linkId`` (POP's progress summary).

Layer: engine. Called by the api for ``pop progress summary`` and ``pop status --link-id``.

Rules (POP): any member failed → COMPLETE with ``processingPercent`` null; else any EXECUTING →
EXECUTING; all WAITING → WAITING; some WAITING and some COMPLETE → EXECUTING; otherwise (all
COMPLETE, or no members) COMPLETE. ``processingPercent`` = min(100, Σ percentComplete / members).
"""

from __future__ import annotations

from collections.abc import Sequence

from pop.models import AgendaProgress, ProcessingState, ProgressSummary


def summarize(progress_list: Sequence[AgendaProgress]) -> ProgressSummary:
    items = list(progress_list)
    summary = ProgressSummary(progress_list=items)
    if any(item.failed for item in items):
        summary.processing_state = ProcessingState.COMPLETE
        summary.processing_percent = None
        return summary
    states = {item.processing_state for item in items}
    if ProcessingState.EXECUTING in states:
        summary.processing_state = ProcessingState.EXECUTING
    elif ProcessingState.WAITING in states:
        summary.processing_state = (
            ProcessingState.WAITING
            if states == {ProcessingState.WAITING}
            else ProcessingState.EXECUTING
        )
    else:
        summary.processing_state = ProcessingState.COMPLETE
    total = sum(item.percent_complete or 0.0 for item in items)
    summary.processing_percent = min(100.0, total / len(items)) if items else 0.0
    return summary
