"""pop.graph's layout: every op a box, every dependency an edge, in layers (an edge always goes
from a lower layer to a higher one, downwards) and no two boxes overlapping; states and percents
from a progress; a 200-op agenda lays out."""

from __future__ import annotations

import json
import random

import pytest

from pop.engine.dag import dependencies_of
from pop.graph import Picture, lay_out
from pop.models import Agenda, AgendaProgress
from tests.conftest import EXAMPLES


def random_agenda(seed: int, count: int) -> Agenda:
    """``count`` ops, each waiting (by reference or dependsOn) for up to three earlier ones."""
    chooser = random.Random(seed)
    operations = []
    for index in range(count):
        earlier = sorted(chooser.sample(range(index), min(index, chooser.randint(0, 3))))
        by_reference = [f"@<op{i}.out::/x>" for i in earlier if i % 2 == 0]
        by_depends_on = [f"op{i}" for i in earlier if i % 2 == 1]
        operation: dict[str, object] = {
            "name": f"op{index}",
            "type": "sample",
            "payload": {"refs": by_reference},
        }
        if by_depends_on:
            operation["params"] = {"dependsOn": ", ".join(by_depends_on)}
        operations.append(operation)
    return Agenda.model_validate({"title": f"random {seed}", "operations": operations})


def hello() -> Agenda:
    return Agenda.model_validate(json.loads((EXAMPLES / "hello.json").read_text()))


def assert_layered(agenda: Agenda, picture: Picture) -> None:
    names = [op.name for op in agenda.operations]
    assert [box.name for box in picture.boxes] == names
    expected = {(before, op.name) for op in agenda.operations for before in dependencies_of(op)}
    assert {(arrow.source, arrow.target) for arrow in picture.arrows} == expected
    assert len(picture.arrows) == len(expected)
    for arrow in picture.arrows:
        source, target = picture.box(arrow.source), picture.box(arrow.target)
        assert source.layer < target.layer, arrow
        assert source.y + source.height < target.y, arrow
        assert arrow.points[0] == (source.x + source.width / 2, source.y + source.height)
        assert arrow.points[-1] == (target.x + target.width / 2, target.y)
        heights = [y for _, y in arrow.points]
        assert heights == sorted(heights), arrow  # always downwards
    for box in picture.boxes:
        assert box.x >= 0 and box.y >= 0
        assert box.x + box.width <= picture.width and box.y + box.height <= picture.height
        waits_for = dependencies_of(agenda.operations[names.index(box.name)])
        assert (box.layer == 0) == (not waits_for), box
    boxes = list(picture.boxes)
    for index, one in enumerate(boxes):
        for other in boxes[index + 1 :]:
            apart = (
                one.x + one.width <= other.x
                or other.x + other.width <= one.x
                or one.y + one.height <= other.y
                or other.y + other.height <= one.y
            )
            assert apart, (one, other)


def test_hello_is_three_layers_with_its_five_edges() -> None:
    agenda = hello()
    picture = lay_out(agenda)
    assert_layered(agenda, picture)
    layers = {box.name: box.layer for box in picture.boxes}
    assert layers == {"prepare": 0, "note": 0, "shout": 1, "whisper": 1, "combine": 2}
    assert {box.state for box in picture.boxes} == {"not run"}
    assert not picture.coloured
    assert picture.title == agenda.title


@pytest.mark.parametrize("seed", range(6))
def test_random_dags_are_layered_without_overlaps(seed: int) -> None:
    agenda = random_agenda(seed, 30)
    assert_layered(agenda, lay_out(agenda))


def test_unconnected_parts_sit_side_by_side() -> None:
    agenda = Agenda.model_validate(
        {
            "operations": [
                {"name": "a", "type": "sample"},
                {"name": "b", "type": "sample", "params": {"dependsOn": "a"}},
                {"name": "lonely", "type": "sample"},
                {"name": "c", "type": "sample"},
                {"name": "d", "type": "sample", "params": {"dependsOn": "c"}},
            ]
        }
    )
    assert_layered(agenda, lay_out(agenda))


def test_an_empty_agenda_is_an_empty_picture() -> None:
    picture = lay_out(Agenda.model_validate({"title": "nothing", "operations": []}))
    assert picture.boxes == () and picture.arrows == ()
    assert picture.width > 0 and picture.height > 0


def test_a_progress_gives_each_box_its_state_and_percent() -> None:
    agenda = hello()
    states = {
        "prepare": ("COMPLETE", "succeeded", 100.0),
        "note": ("COMPLETE", "failed", 0.0),
        "shout": ("EXECUTING", "Running Operations", 40.0),
        "whisper": ("WAITING", "pending", 0.0),
    }
    progress = AgendaProgress.model_validate(
        {
            "operationProgress": [
                {
                    "operation": name,
                    "processingState": state,
                    "processingStateMessage": message,
                    "percentComplete": percent,
                }
                for name, (state, message, percent) in states.items()
            ]
        }
    )
    picture = lay_out(agenda, progress)
    assert picture.coloured
    shown = {box.name: (box.state, box.label) for box in picture.boxes}
    assert shown == {
        "prepare": ("succeeded", "succeeded 100%"),
        "note": ("failed", "failed 0%"),
        "shout": ("running", "running 40%"),
        "whisper": ("waiting", "waiting 0%"),
        "combine": ("waiting", "waiting"),  # no op progress yet
    }


def test_a_200_op_agenda_lays_out() -> None:
    agenda = random_agenda(200, 200)
    picture = lay_out(agenda)
    assert len(picture.boxes) == 200
    assert_layered(agenda, picture)
