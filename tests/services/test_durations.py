"""Durations: one parser for every service option and setting (issue 4 item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pop.config import Settings, parse_duration
from pop.errors import InputError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("24h", 86400.0),
        ("3d", 259200.0),
        ("90", 90.0),
        ("1.5h", 5400.0),
        (" 2 D ", 172800.0),
        ("0", 0.0),
    ],
)
def test_durations_parse_with_or_without_a_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "abc", "-5s", "5x", "3dd", "nan", "inf", "3 days"])
def test_bad_durations_are_input_errors_naming_the_text(text: str) -> None:
    with pytest.raises(InputError, match="invalid --older-than") as raised:
        parse_duration(text, what="--older-than")
    assert raised.value.exit_code == 2
    assert repr(text) in raised.value.message


def test_every_service_duration_has_a_default_and_an_environment_override(
    pop_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pop_home`` clears every POP_* variable first."""
    defaults = Settings.from_env()
    assert (
        defaults.reclaim_grace_seconds,
        defaults.retry_backoff_seconds,
        defaults.retry_backoff_factor,
        defaults.retry_backoff_max_seconds,
        defaults.reap_data_age_seconds,
    ) == (60.0, 30.0, 2.0, 600.0, 259200.0)
    for name, value in {
        "POP_RECLAIM_GRACE": "5m",
        "POP_RETRY_BACKOFF": "2",
        "POP_RETRY_BACKOFF_FACTOR": "3",
        "POP_RETRY_BACKOFF_MAX": "1h",
        "POP_REAP_DATA_AGE": "12h",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (
        settings.reclaim_grace_seconds,
        settings.retry_backoff_seconds,
        settings.retry_backoff_factor,
        settings.retry_backoff_max_seconds,
        settings.reap_data_age_seconds,
    ) == (300.0, 2.0, 3.0, 3600.0, 43200.0)
