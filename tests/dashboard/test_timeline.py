"""The agenda page's timeline (pop.server.dashboard.timeline): one row per op in first-start
order, one bar per attempt from its start to its end or to now, coloured by outcome, a time
axis, titles and data attributes, every text escaped, and a short text without attempts."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any

from pop.server.dashboard.timeline import (
    LABEL_WIDTH,
    RIGHT_MARGIN,
    WIDTH,
    duration_text,
    tick_label,
    tick_step,
    timeline_svg,
)

SVG = "{http://www.w3.org/2000/svg}"
CHART = WIDTH - LABEL_WIDTH - RIGHT_MARGIN
T0 = 1_700_000_000_000  # an epoch ms


def attempt(row_id: int, operation: str | None, number: int, start: float, end: float | None,
            outcome: str | None = None, **more: Any) -> dict[str, Any]:  # fmt: skip
    """An attempt row as Client.attempts returns it; times in seconds after T0."""
    return {
        "id": row_id,
        "operation": operation,
        "number": number,
        "startedTime": T0 + int(start * 1000),
        "endedTime": None if end is None else T0 + int(end * 1000),
        "outcome": outcome,
        "exitCode": more.get("exit_code"),
        "message": more.get("message"),
    }


def bars(svg: str) -> list[tuple[str, str, str, float, float, str]]:
    """(op, attempt, outcome, x, width, title) of each bar, in document order."""
    root = ElementTree.fromstring(svg)
    found = []
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "attempt":
            continue
        rect = group.find(f"{SVG}rect")
        title = group.find(f"{SVG}title")
        assert rect is not None and title is not None
        assert rect.get("class") == f"bar {group.get('data-outcome')}"
        found.append(
            (
                group.get("data-op") or "",
                group.get("data-attempt") or "",
                group.get("data-outcome") or "",
                float(rect.get("x") or 0),
                float(rect.get("width") or 0),
                title.text or "",
            )
        )
    return found


def test_each_attempt_is_a_bar_on_its_ops_row_in_first_start_order() -> None:
    rows = [
        attempt(1, None, 1, 0, 30, "succeeded"),  # the agenda's own attempt: no bar
        attempt(3, "transcode", 1, 4, 10, "failed", exit_code=1, message="ffmpeg exited 1"),
        attempt(2, "analysis", 1, 0, 4, "succeeded", exit_code=0),
        attempt(4, "transcode", 2, 11, 20, "succeeded", exit_code=0),
        attempt(5, "package", 1, 20, 30, "cancelled"),
    ]
    svg = timeline_svg(rows, now_ms=T0 + 60_000)
    found = bars(svg)
    assert [(op, number, outcome) for op, number, outcome, *_ in found] == [
        ("analysis", "1", "succeeded"),
        ("transcode", "1", "failed"),
        ("transcode", "2", "succeeded"),
        ("package", "1", "stopped"),
    ]
    root = ElementTree.fromstring(svg)
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["analysis", "transcode", "package"]  # one row per op, first start first
    # the bars span the attempts' times on one scale: 0..30 s over the chart's width
    scale = CHART / 30
    analysis, failed, retried, package = found
    assert analysis[3] == LABEL_WIDTH and abs(analysis[4] - 4 * scale) < 0.2
    assert abs(failed[3] - (LABEL_WIDTH + 4 * scale)) < 0.2
    assert abs(retried[3] + retried[4] - (LABEL_WIDTH + 20 * scale)) < 0.2
    assert abs(package[3] + package[4] - (LABEL_WIDTH + CHART)) < 0.2
    assert failed[5] == "transcode, attempt 1: 6.0 s, failed (exit 1): ffmpeg exited 1"
    assert retried[5] == "transcode, attempt 2: 9.0 s, succeeded (exit 0)"
    # the axis: ticks from 0 s every 5 s to 30 s
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("class") != "label"]
    assert ticks == ["0 s", "5 s", "10 s", "15 s", "20 s", "25 s", "30 s"]
    assert root.get("role") == "img" and "4 attempts of 3 ops" in (root.get("aria-label") or "")


def test_a_running_attempt_reaches_to_now() -> None:
    rows = [attempt(1, "encode", 1, 0, 10, "failed"), attempt(2, "encode", 2, 12, None)]
    svg = timeline_svg(rows, now_ms=T0 + 40_000)
    first, running = bars(svg)
    assert running[2] == "running"
    assert abs(running[3] + running[4] - (LABEL_WIDTH + CHART)) < 0.2  # its end is now, the edge
    assert abs(running[4] - CHART * 28 / 40) < 0.2
    assert running[5] == "encode, attempt 2: 28 s so far, running"
    assert first[4] < running[4]
    # later, the same running attempt is longer and the scale shrinks the ended one
    later = bars(timeline_svg(rows, now_ms=T0 + 80_000))
    assert later[1][5] == "encode, attempt 2: 1 min 08 s so far, running"
    assert later[0][4] < first[4]


def test_names_and_messages_are_escaped() -> None:
    name = "<script>alert(\"x\")</script> & 'q'"
    rows = [attempt(1, name, 1, 0, 1.5, "failed", message="<b>bad</b> & worse")]
    svg = timeline_svg(rows, now_ms=T0 + 2000)
    assert "<script>" not in svg and "<b>" not in svg
    (bar,) = bars(svg)  # parses as XML, so every text and attribute was escaped
    assert bar[0] == name
    assert bar[5] == f"{name}, attempt 1: 1.5 s, failed: <b>bad</b> & worse"
    long_name = "a-very-long-operation-name-that-goes-on"
    root = ElementTree.fromstring(timeline_svg([attempt(1, long_name, 1, 0, 1, "succeeded")], T0))
    (label,) = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"]
    assert label is not None and label.endswith("…") and long_name.startswith(label[:-1])


def test_no_attempts_is_a_short_text() -> None:
    assert timeline_svg([], now_ms=T0) == '<p class="timeline-empty">No attempts yet.</p>'
    only_the_agenda = [attempt(1, None, 1, 0, None)]
    assert "No attempts yet" in timeline_svg(only_the_agenda, now_ms=T0)


def test_colours_follow_the_graphs_and_have_a_dark_variant() -> None:
    svg = timeline_svg([attempt(1, "a", 1, 0, 1, "succeeded")], now_ms=T0)
    assert ".pop-timeline rect.bar.succeeded { fill: #dafbe1; stroke: #1a7f37; }" in svg
    assert ".pop-timeline rect.bar.failed { fill: #ffebe9; stroke: #cf222e; }" in svg
    dark = svg[svg.index("prefers-color-scheme: dark") :]
    assert ".pop-timeline rect.bar.running { fill: #0c2d6b; stroke: #58a6ff; }" in dark


def test_ticks_and_durations_read_as_times() -> None:
    assert [tick_step(span) for span in (0.3, 3, 30, 100, 600, 7200)] == [
        0.05, 0.5, 5.0, 20.0, 120.0, 1800.0,
    ]  # fmt: skip
    assert tick_label(0.5, 0.5) == "0.5 s" and tick_label(0.25, 0.05) == "0.25 s"
    assert tick_label(90, 30) == "1:30" and tick_label(3900, 1800) == "1:05:00"
    assert duration_text(0.42) == "0.4 s" and duration_text(12.4) == "12 s"
    assert duration_text(185) == "3 min 05 s" and duration_text(3720) == "1 h 02 min"
