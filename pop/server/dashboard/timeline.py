"""The agenda page's timeline: a Gantt chart of its op attempts as standalone SVG text.

Layer: server (the dashboard). :func:`timeline_svg` takes the attempt rows as
:meth:`pop.api.Client.attempts` returns them (``operation``, ``number``, ``startedTime``,
``endedTime``, ``outcome``, ``exitCode``, ``message``; times in epoch ms) and draws one row per
op, in the order the ops first started, and one bar per attempt from its start to its end (to
``now_ms`` while it runs). The agenda page (:mod:`pop.server.dashboard.agenda`) puts it in
``templates/_timeline.html``. Bars are coloured by outcome with the colours of the DAG picture
(:data:`pop.graph.svg.COLOURS`: running, succeeded, failed; a cancelled or lost attempt is
``stopped``), from CSS classes in the picture's own ``<style>`` with a ``prefers-color-scheme:
dark`` variant. Every text is XML-escaped: the result may be inserted into a page as is.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pop.graph.svg import COLOURS

WIDTH = 960
LABEL_WIDTH = 180  # the op names' column
RIGHT_MARGIN = 24
AXIS_HEIGHT = 28
ROW_HEIGHT = 26
BAR_HEIGHT = 16
MAX_LABEL = 24  # characters of an op name shown; the whole name is in the row's <title>
TICKS = 6  # about this many ticks on the time axis

SUCCEEDED, RUNNING, FAILED, STOPPED = "succeeded", "running", "failed", "stopped"
STOPPED_OUTCOMES = {"cancelled", "lost"}  # the attempt was stopped, it did not fail itself
BAR_COLOURS = {  # a bar's class: the DAG picture's state of the same meaning
    SUCCEEDED: COLOURS["succeeded"],
    RUNNING: COLOURS["running"],
    FAILED: COLOURS["failed"],
    STOPPED: COLOURS["not run"],
}


def _bar_rules(dark: bool) -> str:
    return "\n".join(
        f".pop-timeline rect.bar.{kind} {{ fill: {themes[1 if dark else 0][0]}; "
        f"stroke: {themes[1 if dark else 0][1]}; }}"
        for kind, themes in BAR_COLOURS.items()
    )


STYLE = f"""
svg.pop-timeline {{ font-family: sans-serif; font-size: 12px; max-width: 100%; height: auto; }}
.pop-timeline .bg {{ fill: #ffffff; }}
.pop-timeline text {{ fill: #1b1f24; }}
.pop-timeline .tick line, .pop-timeline .grid {{ stroke: #d0d7de; }}
.pop-timeline .axis {{ stroke: #57606a; }}
.pop-timeline rect.bar {{ stroke-width: 1.5; }}
{_bar_rules(dark=False)}
@media (prefers-color-scheme: dark) {{
.pop-timeline .bg {{ fill: #0d1117; }}
.pop-timeline text {{ fill: #e6edf3; }}
.pop-timeline .tick line, .pop-timeline .grid {{ stroke: #30363d; }}
.pop-timeline .axis {{ stroke: #8b949e; }}
{_bar_rules(dark=True)}
}}
"""


def bar_kind(attempt: dict[str, Any]) -> str:
    """``running``, ``succeeded``, ``failed`` or ``stopped``: the class of an attempt's bar."""
    if attempt.get("endedTime") is None:
        return RUNNING
    outcome = str(attempt.get("outcome") or "")
    if outcome == SUCCEEDED:
        return SUCCEEDED
    return STOPPED if outcome in STOPPED_OUTCOMES else FAILED


def duration_text(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``: an attempt's length."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def tick_step(span_seconds: float) -> float:
    """A round step (1, 2 or 5 times a power of ten seconds; whole minutes past a minute) that
    cuts ``span_seconds`` into about :data:`TICKS` parts."""
    rough = max(span_seconds, 0.001) / TICKS
    if rough > 60:
        for minutes in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 1440):
            if minutes * 60 >= rough:
                return minutes * 60.0
        return 1440 * 60.0 * math.ceil(rough / (1440 * 60))
    power: float = 10.0 ** math.floor(math.log10(rough))
    for factor in (1, 2, 5, 10):
        if factor * power >= rough:
            return float(factor * power)
    return 10.0 * power  # not reached: 10 * power >= rough always


def tick_label(seconds: float, step: float) -> str:
    """A tick's time since the first start: ``0.5 s``, ``20 s``, ``1:30``, ``1:05:00``."""
    if step < 1:
        return f"{seconds:.{max(0, -math.floor(math.log10(step)))}f} s"
    if step < 60 and seconds < 60:
        return f"{seconds:g} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _short(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def _title(attempt: dict[str, Any], seconds: float, kind: str) -> str:
    outcome = "running" if kind == RUNNING else str(attempt.get("outcome") or kind)
    words = f"{attempt['operation']}, attempt {attempt.get('number') or 1}: "
    words += f"{duration_text(seconds)}{' so far' if kind == RUNNING else ''}, {outcome}"
    if attempt.get("exitCode") is not None:
        words += f" (exit {attempt['exitCode']})"
    if attempt.get("message"):
        words += f": {attempt['message']}"
    return words


def timeline_svg(attempts: list[dict[str, Any]], now_ms: int) -> str:
    """The op attempts as a Gantt chart (SVG text, escaped); ``No attempts yet`` as a
    paragraph when no op has started."""
    rows = [a for a in attempts if a.get("operation") and a.get("startedTime") is not None]
    if not rows:
        return '<p class="timeline-empty">No attempts yet.</p>'
    rows.sort(key=lambda a: (a["startedTime"], a.get("id") or 0))
    order: list[str] = []
    for attempt in rows:
        if attempt["operation"] not in order:
            order.append(attempt["operation"])
    start: int = rows[0]["startedTime"]
    end: int = max(max(a.get("endedTime") or now_ms, a["startedTime"]) for a in rows)
    span: float = max((end - start) / 1000, 0.001)
    step = tick_step(span)
    span = max(span, step)  # a very short run still shows one whole step
    chart_width = WIDTH - LABEL_WIDTH - RIGHT_MARGIN
    height = AXIS_HEIGHT + ROW_HEIGHT * len(order) + 8

    def x_of(ms: float) -> float:
        return LABEL_WIDTH + (ms - start) / 1000 / span * chart_width

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pop-timeline" role="img" '
        f'aria-label="Timeline of {len(rows)} attempts of {len(order)} ops" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">',
        f"<style>{STYLE}</style>",
        f'<rect class="bg" width="{WIDTH}" height="{height}"/>',
    ]
    bottom = AXIS_HEIGHT + ROW_HEIGHT * len(order)
    parts.append(
        f'<line class="axis" x1="{LABEL_WIDTH}" y1="{AXIS_HEIGHT}" '
        f'x2="{LABEL_WIDTH + chart_width}" y2="{AXIS_HEIGHT}"/>'
    )
    count = math.floor(span / step + 1e-9)
    for index in range(count + 1):
        seconds = index * step
        x = _number(LABEL_WIDTH + seconds / span * chart_width)
        parts.append(
            f'<g class="tick"><line x1="{x}" y1="{AXIS_HEIGHT - 4}" x2="{x}" y2="{bottom}"/>'
            f'<text x="{x}" y="{AXIS_HEIGHT - 8}" text-anchor="middle">'
            f"{escape(tick_label(seconds, step))}</text></g>"
        )
    for row, operation in enumerate(order):
        top = AXIS_HEIGHT + row * ROW_HEIGHT
        parts.append(f'<g class="row" data-op={quoteattr(operation)}>')
        parts.append(f"<title>{escape(operation)}</title>")
        parts.append(
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{top + ROW_HEIGHT / 2 + 4:g}" '
            f'text-anchor="end">{escape(_short(operation))}</text>'
        )
        parts.append(
            f'<line class="grid" x1="{LABEL_WIDTH}" y1="{top + ROW_HEIGHT}" '
            f'x2="{LABEL_WIDTH + chart_width}" y2="{top + ROW_HEIGHT}"/>'
        )
        for attempt in (a for a in rows if a["operation"] == operation):
            kind = bar_kind(attempt)
            ended = attempt.get("endedTime") if kind != RUNNING else None
            stop = max(ended if ended is not None else now_ms, attempt["startedTime"])
            left = x_of(attempt["startedTime"])
            width = max(x_of(stop) - left, 2.0)  # an instant attempt stays visible
            seconds = (stop - attempt["startedTime"]) / 1000
            parts.append(
                f'<g class="attempt" data-op={quoteattr(operation)} '
                f'data-attempt="{int(attempt.get("number") or 1)}" data-outcome="{kind}">'
                f"<title>{escape(_title(attempt, seconds, kind))}</title>"
                f'<rect class="bar {kind}" x="{_number(left)}" '
                f'y="{_number(top + (ROW_HEIGHT - BAR_HEIGHT) / 2)}" width="{_number(width)}" '
                f'height="{BAR_HEIGHT}" rx="3"/></g>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
