"""A laid-out picture as standalone SVG text.

Layer: graph. Boxes carry the class ``op state-<state>`` (``state-not-run``, ``state-running``,
...) and a ``data-op``/``data-state`` pair, so a page or a test finds each op's state; colours
come from CSS classes in the picture's own ``<style>``, with a ``prefers-color-scheme: dark``
variant, so the text stays readable in either theme. Every name is XML-escaped.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from pop.graph.layout import MARGIN, NOT_RUN, PADDING, STATES, Arrow, Box, Picture

LEGEND_HEIGHT = 30.0

COLOURS = {  # state: (fill, stroke) in light, then in dark
    "not run": (("#f6f8fa", "#8c959f"), ("#161b22", "#6e7681")),
    "waiting": (("#fff8c5", "#bf8700"), ("#3b2e00", "#d29922")),
    "running": (("#ddf4ff", "#0969da"), ("#0c2d6b", "#58a6ff")),
    "succeeded": (("#dafbe1", "#1a7f37"), ("#033a16", "#3fb950")),
    "failed": (("#ffebe9", "#cf222e"), ("#5d0f12", "#f85149")),
}


def _state_rules(dark: bool) -> str:
    rules = []
    for state, themes in COLOURS.items():
        fill, stroke = themes[1 if dark else 0]
        css = state_class(state)
        rules.append(
            f".pop-dag .{css} rect.box, .pop-dag rect.key.{css} "
            f"{{ fill: {fill}; stroke: {stroke}; }}"
        )
    return "\n".join(rules)


def state_class(state: str) -> str:
    """``state-not-run``, ``state-running``, ...: the CSS class of a state."""
    return "state-" + state.replace(" ", "-")


STYLE = f"""
svg.pop-dag {{ font-family: sans-serif; font-size: 12px; }}
.pop-dag .bg {{ fill: #ffffff; }}
.pop-dag text {{ fill: #1b1f24; }}
.pop-dag text.type, .pop-dag text.state {{ fill: #3d444d; }}
.pop-dag .edge {{ fill: none; stroke: #57606a; stroke-width: 1.5; }}
.pop-dag .arrowhead {{ fill: #57606a; }}
.pop-dag rect.box {{ stroke-width: 1.5; }}
{_state_rules(dark=False)}
@media (prefers-color-scheme: dark) {{
.pop-dag .bg {{ fill: #0d1117; }}
.pop-dag text {{ fill: #e6edf3; }}
.pop-dag text.type, .pop-dag text.state {{ fill: #c9d1d9; }}
.pop-dag .edge {{ stroke: #8b949e; }}
.pop-dag .arrowhead {{ fill: #8b949e; }}
{_state_rules(dark=True)}
}}
"""


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _box(box: Box) -> str:
    name = escape(box.name)
    centre = _number(box.x + box.width / 2)
    top = box.y + PADDING / 2
    lines = [
        f'<g class="op {state_class(box.state)}" data-op={quoteattr(box.name)} '
        f'data-state="{box.state}">',
        f"<title>{name}: {escape(box.type)}, {escape(box.label)}</title>",
        f'<rect class="box" x="{_number(box.x)}" y="{_number(box.y)}" '
        f'width="{_number(box.width)}" height="{_number(box.height)}" rx="6"/>',
        f'<text class="name" x="{centre}" y="{_number(top + 13)}" text-anchor="middle" '
        f'font-weight="bold">{name}</text>',
        f'<text class="type" x="{centre}" y="{_number(top + 29)}" '
        f'text-anchor="middle">{escape(box.type)}</text>',
        f'<text class="state" x="{centre}" y="{_number(top + 45)}" '
        f'text-anchor="middle">{escape(box.label)}</text>',
        "</g>",
    ]
    return "\n".join(lines)


def _arrow(arrow: Arrow) -> str:
    points = list(arrow.points)
    path = "M " + " L ".join(f"{_number(x)} {_number(y)}" for x, y in points)
    return (
        f'<path class="edge" data-source={quoteattr(arrow.source)} '
        f'data-target={quoteattr(arrow.target)} d="{path}" marker-end="url(#pop-arrow)"/>'
    )


def _legend(picture: Picture, top: float) -> str:
    shown = STATES[1:] if picture.coloured else (NOT_RUN,)
    items = ['<g class="legend" aria-hidden="true">']
    x = MARGIN
    for state in shown:
        items.append(
            f'<rect class="key {state_class(state)}" x="{_number(x)}" y="{_number(top)}" '
            'width="14" height="14" rx="3" stroke-width="1.5"/>'
        )
        items.append(f'<text x="{_number(x + 20)}" y="{_number(top + 11)}">{state}</text>')
        x += 20 + len(state) * 7.2 + 18
    items.append("</g>")
    return "\n".join(items)


def to_svg(picture: Picture) -> str:
    """The picture as an SVG document (UTF-8 text, no XML declaration needed)."""
    width = max(picture.width, 460.0)
    height = picture.height + LEGEND_HEIGHT
    count = len(picture.boxes)
    label = (
        f"DAG of {picture.title}: {count} operation{'s' if count != 1 else ''}, "
        f"{len(picture.arrows)} edge{'s' if len(picture.arrows) != 1 else ''}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pop-dag" role="img" '
        f'width="{_number(width)}" height="{_number(height)}" '
        f'viewBox="0 0 {_number(width)} {_number(height)}" aria-label={quoteattr(label)}>',
        f"<title>{escape(label)}</title>",
        f"<style>{STYLE}</style>",
        "<defs>",
        '<marker id="pop-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse">',
        '<path class="arrowhead" d="M 0 0 L 10 5 L 0 10 z"/>',
        "</marker>",
        "</defs>",
        f'<rect class="bg" x="0" y="0" width="{_number(width)}" height="{_number(height)}"/>',
        '<g class="edges">',
        *(_arrow(arrow) for arrow in picture.arrows),
        "</g>",
        '<g class="ops">',
        *(_box(box) for box in picture.boxes),
        "</g>",
        _legend(picture, picture.height),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
