"""The SVG and dot texts: every op and every edge appear, names are escaped (an op named
``<b>&"x"`` is safe in both), the SVG parses as XML and carries its accessible name, states
as classes and a legend, and a dark-theme style."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pop.graph import lay_out, to_dot, to_svg
from pop.models import Agenda, AgendaProgress
from tests.graph.test_layout import hello, random_agenda

SVG = "{http://www.w3.org/2000/svg}"
NASTY = '<b>&"x"'


def nasty_agenda() -> Agenda:
    return Agenda.model_validate(
        {
            "title": 'a <title> & "quotes"',
            "operations": [
                {"name": NASTY, "type": "sample"},
                {"name": "it's \\ fine", "type": "t<y>pe", "params": {"dependsOn": NASTY}},
            ],
        }
    )


def ops_of(root: ET.Element) -> dict[str, ET.Element]:
    return {
        g.get("data-op", ""): g
        for g in root.iter(f"{SVG}g")
        if g.get("class", "").startswith("op ")
    }


def test_every_op_and_edge_is_in_the_svg() -> None:
    agenda = random_agenda(7, 40)
    picture = lay_out(agenda)
    root = ET.fromstring(to_svg(picture))
    assert root.tag == f"{SVG}svg"
    ops = ops_of(root)
    assert set(ops) == {op.name for op in agenda.operations}
    for box in picture.boxes:
        texts = [text.text for text in ops[box.name].iter(f"{SVG}text")]
        assert texts == [box.name, box.type, "not run"]
        assert ops[box.name].get("data-state") == "not run"
        assert "state-not-run" in (ops[box.name].get("class") or "")
    edges = {
        (path.get("data-source"), path.get("data-target"))
        for path in root.iter(f"{SVG}path")
        if path.get("class") == "edge"
    }
    assert edges == {(arrow.source, arrow.target) for arrow in picture.arrows}
    assert all(
        path.get("marker-end") == "url(#pop-arrow)"
        for path in root.iter(f"{SVG}path")
        if path.get("class") == "edge"
    )


def test_the_svg_is_accessible_and_themed() -> None:
    root = ET.fromstring(to_svg(lay_out(hello())))
    assert root.get("role") == "img"
    label = root.get("aria-label") or ""
    assert "hello: fan-out and fan-in" in label and "5 operations" in label and "5 edges" in label
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == label
    style = root.find(f"{SVG}style")
    assert style is not None and "prefers-color-scheme: dark" in (style.text or "")
    legend = [
        text.text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "legend"
        for text in g.iter(f"{SVG}text")
    ]
    assert legend == ["not run"]


def test_a_coloured_svg_has_a_class_and_percent_per_state_and_the_full_legend() -> None:
    progress = AgendaProgress.model_validate(
        {
            "operationProgress": [
                {
                    "operation": "prepare",
                    "processingState": "COMPLETE",
                    "processingStateMessage": "succeeded",
                    "percentComplete": 100,
                },
                {
                    "operation": "shout",
                    "processingState": "COMPLETE",
                    "processingStateMessage": "failed",
                    "percentComplete": 30,
                },
                {"operation": "whisper", "processingState": "EXECUTING", "percentComplete": 55},
            ]
        }
    )
    root = ET.fromstring(to_svg(lay_out(hello(), progress)))
    ops = ops_of(root)
    assert "state-succeeded" in (ops["prepare"].get("class") or "")
    assert "state-failed" in (ops["shout"].get("class") or "")
    assert "state-running" in (ops["whisper"].get("class") or "")
    assert "state-waiting" in (ops["combine"].get("class") or "")
    assert [text.text for text in ops["whisper"].iter(f"{SVG}text")][-1] == "running 55%"
    legend = [
        text.text
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "legend"
        for text in g.iter(f"{SVG}text")
    ]
    assert legend == ["waiting", "running", "succeeded", "failed"]


def test_names_are_escaped_in_the_svg() -> None:
    text = to_svg(lay_out(nasty_agenda()))
    assert NASTY not in text  # never raw
    root = ET.fromstring(text)
    ops = ops_of(root)
    assert set(ops) == {NASTY, "it's \\ fine"}
    assert next(t.text for t in ops[NASTY].iter(f"{SVG}text")) == NASTY
    assert [t.text for t in ops["it's \\ fine"].iter(f"{SVG}text")][1] == "t<y>pe"
    assert 'a <title> & "quotes"' in (root.get("aria-label") or "")
    edge = next(p for p in root.iter(f"{SVG}path") if p.get("class") == "edge")
    assert (edge.get("data-source"), edge.get("data-target")) == (NASTY, "it's \\ fine")


def test_every_op_and_edge_is_in_the_dot_text() -> None:
    agenda = random_agenda(3, 25)
    picture = lay_out(agenda)
    text = to_dot(picture)
    assert text.startswith('digraph "random 3" {') and text.rstrip().endswith("}")
    for box in picture.boxes:
        assert (
            f'  "{box.name}" [label="{box.name}\\nsample\\nnot run", fillcolor="#f6f8fa"];' in text
        )
    for arrow in picture.arrows:
        assert f'  "{arrow.source}" -> "{arrow.target}";' in text
    assert text.count(" -> ") == len(picture.arrows)


def test_names_are_quoted_in_the_dot_text() -> None:
    text = to_dot(lay_out(nasty_agenda()))
    assert '"<b>&\\"x\\"" -> "it\'s \\\\ fine";' in text
    assert 'digraph "a <title> & \\"quotes\\"" {' in text
