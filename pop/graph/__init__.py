"""Pictures of an agenda's DAG: ops as boxes (coloured by state when a progress is given), edges
from references and ``dependsOn``, laid out by grandalf's Sugiyama layered layout.

Layer: graph (above engine, below cli; the dashboard will draw the same pictures). ``layout``
turns an agenda (and optionally its progress) into positioned boxes and edge polylines (plain
data), ``svg`` and ``dot`` write that data as text, ``png`` converts the SVG with a tool on PATH.
"""

from __future__ import annotations

from pop.graph.dot import to_dot
from pop.graph.layout import Arrow, Box, Picture, lay_out
from pop.graph.svg import to_svg

__all__ = ["Arrow", "Box", "Picture", "lay_out", "to_dot", "to_svg"]
