"""Submission validation and dependency extraction."""

from __future__ import annotations

from typing import Any

import pytest

from pop.engine.dag import dependencies_of, find_cycles, validate_agenda
from pop.errors import AgendaValidationError
from pop.models import Agenda, Operation

TYPES = ["sample", "logMessages"]


def agenda(*operations: dict[str, Any]) -> Agenda:
    return Agenda.model_validate({"operations": list(operations)})


def problems_of(value: Agenda) -> list[str]:
    with pytest.raises(AgendaValidationError) as caught:
        validate_agenda(value, known_types=TYPES)
    assert caught.value.exit_code == 2
    return caught.value.problems


def test_dependencies_come_from_output_references_and_depends_on() -> None:
    operation = Operation.model_validate(
        {
            "name": "c",
            "payload": {"x": "@<a.out::/x>", "y": ["@<b.out>", "@<pop.agendaId>"]},
            "params": {"dependsOn": " d, ,a "},
        }
    )
    assert dependencies_of(operation) == ["a", "b", "d"]


def test_a_valid_agenda_passes() -> None:
    validate_agenda(
        agenda(
            {"name": "a", "type": "sample", "payload": {}},
            {"name": "b", "type": "sample", "payload": {"x": "@<a.out>", "id": "@<pop.agendaId>"}},
        ),
        known_types=TYPES,
    )


def test_an_agenda_without_operations_is_rejected() -> None:
    assert problems_of(agenda()) == ["the agenda has no operations"]


def test_every_problem_is_listed_at_once_naming_the_ops() -> None:
    problems = problems_of(
        agenda(
            {"name": "", "type": "sample"},
            {"name": "foo", "type": "sample"},
            {"name": "FOo", "type": "sample"},
            {"name": "typo", "type": "sampel"},
            {"name": "ref", "type": "sample", "payload": {"x": "@<nosuch.out::/a>"}},
            {"name": "tmpl", "type": "sample", "payload": {"x": "@<pop.payload::/a>"}},
            {"name": "dep", "type": "sample", "params": {"dependsOn": "ghost"}},
        )
    )
    text = "\n".join(problems)
    assert "operation #1 has no name" in text
    assert "'foo' and 'FOo' have the same name" in text
    assert "operation 'typo' has unknown type 'sampel'" in text
    assert "@<nosuch.out::/a>" in text and "no operation 'nosuch'" in text
    assert "@<pop.payload::/a>" in text and "template parameter" in text
    assert "dependsOn 'ghost'" in text
    assert len(problems) == 6


@pytest.mark.parametrize(
    ("operations", "expected"),
    [
        ([("a", "@<a.out>", "")], "operation 'a' depends on itself"),
        ([("a", "@<b.out>", ""), ("b", "@<a.out>", "")], "dependency cycle: a -> b -> a"),
        (
            [("a", "", "c"), ("b", "@<a.out>", ""), ("c", "@<b.out>", "")],
            "dependency cycle: a -> c -> b -> a",
        ),
    ],
)
def test_cycles_through_references_or_depends_on_are_rejected(
    operations: list[tuple[str, str, str]], expected: str
) -> None:
    ops = [
        {"name": n, "type": "sample", "payload": {"x": ref}, "params": {"dependsOn": dep}}
        for n, ref, dep in operations
    ]
    assert expected in problems_of(agenda(*ops))


def test_find_cycles_reports_each_cycle_once() -> None:
    graph = {"1": ["2"], "2": ["3"], "3": ["4"], "4": ["1"]}
    assert find_cycles(graph) == [["1", "2", "3", "4", "1"]]
