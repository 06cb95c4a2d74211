"""An agenda (and optionally its progress) as a layered picture: positioned boxes and edges.

Layer: graph. grandalf's Sugiyama layout ranks the ops (each op one layer below every op it waits
for), orders each layer to reduce crossings and places the boxes; edges run from the bottom of
the op waited for to the top of the op that waits, through the layout's points on the layers in
between. Each connected part of the DAG is laid out on its own and the parts are set side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex  # type: ignore[import-untyped]
from grandalf.layouts import SugiyamaLayout  # type: ignore[import-untyped]

from pop.engine.dag import dependencies_of
from pop.models import Agenda, AgendaProgress
from pop.models.progress import ProcessingState, is_succeeded

NOT_RUN = "not run"
STATES = (NOT_RUN, "waiting", "running", "succeeded", "failed")
"""Every state a box can show, in legend order."""

CHAR_WIDTH = 7.2  # px of a 12px sans-serif character, roughly
LINE_HEIGHT = 16.0
PADDING = 10.0
MARGIN = 20.0
X_SPACE = 30.0
Y_SPACE = 50.0


@dataclass(frozen=True)
class Box:
    """One op: its top-left corner, size, layer (0 = waits for nothing) and what it shows."""

    name: str
    type: str
    state: str
    percent: float | None
    x: float
    y: float
    width: float
    height: float
    layer: int

    @property
    def label(self) -> str:
        """The state line: ``not run``, ``running 40%``, ``succeeded 100%``, ..."""
        if self.percent is None:
            return self.state
        return f"{self.state} {self.percent:.0f}%"


@dataclass(frozen=True)
class Arrow:
    """An edge from ``source`` (waited for) to ``target`` (waits), as a polyline."""

    source: str
    target: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Picture:
    """A laid-out agenda: boxes, arrows and the size of the whole."""

    title: str
    boxes: tuple[Box, ...]
    arrows: tuple[Arrow, ...]
    width: float
    height: float
    coloured: bool

    def box(self, name: str) -> Box:
        return next(box for box in self.boxes if box.name == name)


class _View:
    """What grandalf reads (w, h) and writes (xy = centre) for a vertex."""

    def __init__(self, width: float, height: float) -> None:
        self.w = width
        self.h = height
        self.xy = (0.0, 0.0)


class _EdgeView:
    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


def state_of(progress: AgendaProgress | None, name: str) -> tuple[str, float | None]:
    """The state shown for op ``name`` and its percent (``not run`` without a progress)."""
    if progress is None:
        return NOT_RUN, None
    for item in progress.operation_progress or []:
        if item.operation == name:
            state = item.processing_state
            if state == ProcessingState.EXECUTING:
                shown = "running"
            elif state == ProcessingState.COMPLETE:
                message = item.processing_state_message
                shown = "succeeded" if is_succeeded(state, message) else "failed"
            else:
                shown = "waiting"
            return shown, item.percent_complete
    return "waiting", None


def _size(name: str, kind: str, state_line: str) -> tuple[float, float]:
    longest = max(len(name), len(kind), len(state_line), 6)
    return longest * CHAR_WIDTH + 2 * PADDING, 3 * LINE_HEIGHT + PADDING


def lay_out(agenda: Agenda, progress: AgendaProgress | None = None) -> Picture:
    """The picture of ``agenda``; with ``progress`` each box shows its op's state and percent.
    Edges naming an op the agenda lacks are left out (a stored agenda has none)."""
    names = [op.name or f"#{index}" for index, op in enumerate(agenda.operations)]
    vertices: dict[str, Vertex] = {}
    shown: dict[str, tuple[str, str, float | None]] = {}
    for name, op in zip(names, agenda.operations, strict=True):
        state, percent = state_of(progress, name)
        kind = op.type or ""
        probe = Box(name, kind, state, percent, 0, 0, 0, 0, 0)
        vertex = Vertex(name)
        vertex.view = _View(*_size(name, kind, probe.label))
        vertices[name] = vertex
        shown[name] = (kind, state, percent)
    edges: list[Edge] = []
    for name, op in zip(names, agenda.operations, strict=True):
        for before in dependencies_of(op):
            if before in vertices and before != name:
                edge = Edge(vertices[before], vertices[name])
                edge.view = _EdgeView()
                edges.append(edge)
    graph = Graph(list(vertices.values()), edges)
    layers: dict[str, int] = {}
    offset = MARGIN
    height = 0.0
    placed: dict[str, tuple[float, float]] = {}
    for part in graph.C:
        layout = SugiyamaLayout(part)
        layout.xspace = X_SPACE
        layout.yspace = Y_SPACE
        layout.init_all()
        layout.draw()
        left = min(v.view.xy[0] - v.view.w / 2 for v in part.sV)
        top = min(v.view.xy[1] - v.view.h / 2 for v in part.sV)
        right = max(v.view.xy[0] + v.view.w / 2 for v in part.sV)
        bottom = max(v.view.xy[1] + v.view.h / 2 for v in part.sV)
        dx, dy = offset - left, MARGIN - top
        for vertex in part.sV:
            placed[vertex.data] = (vertex.view.xy[0] + dx, vertex.view.xy[1] + dy)
            layers[vertex.data] = layout.grx[vertex].rank
        for edge in part.sE:
            edge.view.points = [(x + dx, y + dy) for x, y in edge.view.points]
        offset += right - left + X_SPACE * 2
        height = max(height, bottom - top)
    boxes = []
    for name in names:
        view = vertices[name].view
        centre_x, centre_y = placed[name]
        kind, state, percent = shown[name]
        boxes.append(
            Box(
                name=name,
                type=kind,
                state=state,
                percent=percent,
                x=centre_x - view.w / 2,
                y=centre_y - view.h / 2,
                width=view.w,
                height=view.h,
                layer=layers[name],
            )
        )
    by_name = {box.name: box for box in boxes}
    arrows = []
    for edge in edges:
        source, target = by_name[edge.v[0].data], by_name[edge.v[1].data]
        middle = edge.view.points[1:-1]
        start = (source.x + source.width / 2, source.y + source.height)
        end = (target.x + target.width / 2, target.y)
        arrows.append(Arrow(source.name, target.name, (start, *middle, end)))
    return Picture(
        title=agenda.title or agenda.id or "agenda",
        boxes=tuple(boxes),
        arrows=tuple(arrows),
        width=max(offset - X_SPACE * 2 + MARGIN, 2 * MARGIN),
        height=height + 2 * MARGIN,
        coloured=progress is not None,
    )
