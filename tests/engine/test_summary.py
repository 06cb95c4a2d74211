"""POP's progress summary over the agendas of one linkId, rule by rule."""

from __future__ import annotations

import pytest

from pop.engine.summary import summarize
from pop.models import AgendaProgress

W, E, C = "WAITING", "EXECUTING", "COMPLETE"


def member(state: str, percent: float | None = None, message: str | None = None) -> AgendaProgress:
    if message is None:
        message = {"WAITING": "pending", "EXECUTING": "Running Operations"}.get(state, "succeeded")
    return AgendaProgress(
        processing_state=state, processing_state_message=message, percent_complete=percent
    )


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([C], C),
        ([W], W),
        ([E], E),
        ([W, W], W),
        ([C, W], E),
        ([C, C], C),
        ([E, W, C], E),
        ([], C),
    ],
)
def test_the_group_state_follows_pops_rules(states: list[str], expected: str) -> None:
    assert summarize([member(state) for state in states]).processing_state == expected


def test_any_failed_member_makes_the_group_complete_with_no_percent() -> None:
    result = summarize([member(E, 50), member(C, 100, "failed"), member(W, 0)])
    assert result.processing_state == C
    assert result.processing_percent is None
    assert result.model_dump(by_alias=True)["processingPercent"] is None


def test_a_failed_message_counts_case_insensitively() -> None:
    assert summarize([member(C, 100, "FAILED")]).processing_percent is None


@pytest.mark.parametrize(
    ("percents", "expected"),
    [([None], 0.0), ([None, 45], 22.5), ([45, None], 22.5), ([150, 150, 150], 100.0)],
)
def test_the_percent_is_the_mean_capped_at_100(
    percents: list[float | None], expected: float
) -> None:
    assert summarize([member(E, p) for p in percents]).processing_percent == expected


def test_an_empty_group_is_complete_at_zero_percent() -> None:
    result = summarize([])
    assert (result.processing_state, result.processing_percent) == (C, 0.0)
