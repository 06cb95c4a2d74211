"""A laid-out picture as Graphviz dot text (no Graphviz needed to write it).

Layer: graph. Each op is a node named by its op name, labelled with name, type and state, filled
by state; each edge goes from the op waited for to the op that waits. Names are quoted with
dot's escapes, so any op name is safe.
"""

from __future__ import annotations

from pop.graph.layout import Picture

FILL = {
    "not run": "#f6f8fa",
    "waiting": "#fff8c5",
    "running": "#ddf4ff",
    "succeeded": "#dafbe1",
    "failed": "#ffebe9",
}


def quote(text: str) -> str:
    """``text`` as a dot double-quoted string (backslashes and quotes escaped, no line breaks)."""
    cleaned = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + cleaned.replace("\r", " ").replace("\n", " ") + '"'


def to_dot(picture: Picture) -> str:
    """The picture as a ``digraph`` (top to bottom, like the SVG)."""
    lines = [
        f"digraph {quote(picture.title)} {{",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fontname="sans-serif"];',
    ]
    for box in picture.boxes:
        label = "\\n".join(quote(part)[1:-1] for part in (box.name, box.type, box.label))
        fill = FILL.get(box.state, "#ffffff")
        lines.append(f'  {quote(box.name)} [label="{label}", fillcolor="{fill}"];')
    for arrow in picture.arrows:
        lines.append(f"  {quote(arrow.source)} -> {quote(arrow.target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"
