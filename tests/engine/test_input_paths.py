"""Relative input paths resolve against the submitting directory (issue 10, point 3)."""

from __future__ import annotations

from pathlib import Path

from pop.config import Settings
from pop.engine.input_paths import resolve_input_paths
from pop.models import Agenda
from pop.registry import Registry


def agenda_of(*operations: dict[str, object]) -> Agenda:
    return Agenda.model_validate({"operations": list(operations)})


def registry() -> Registry:
    return Registry.load(None, settings=Settings.from_env())


def test_declared_path_fields_become_absolute_and_the_directory_is_recorded() -> None:
    agenda = agenda_of(
        {"name": "t", "type": "transcode", "payload": {"input": "clips/a.mp4",
                                                      "renditions": [{"name": "360p"}]}},
        {"name": "p", "type": "analysis", "payload": {"inputs": ["a.mp4", "/abs/b.mp4",
                                                              "https://x/c.mp4"]}},
    )  # fmt: skip
    resolved = resolve_input_paths(agenda, registry(), "/data/in")
    assert resolved.params["submitDir"] == "/data/in"
    assert resolved.operations[0].payload["input"] == "/data/in/clips/a.mp4"
    assert resolved.operations[0].payload["renditions"] == [{"name": "360p"}]
    assert resolved.operations[1].payload["inputs"] == [
        "/data/in/a.mp4",
        "/abs/b.mp4",
        "https://x/c.mp4",
    ]


def test_references_undeclared_fields_and_unknown_types_are_left_alone() -> None:
    agenda = agenda_of(
        {"name": "t", "type": "transcode", "payload": {"input": "@<pop.payload::/input>"}},
        {"name": "s", "type": "sample", "payload": {"resultPayload": {"file": "a.mp4"}}},
        {"name": "u", "type": "nosuchtype", "payload": {"input": "a.mp4"}},
    )
    resolved = resolve_input_paths(agenda, registry(), "/data/in")
    assert [op.payload for op in resolved.operations] == [op.payload for op in agenda.operations]


def test_a_recorded_directory_wins_over_where_the_command_runs_now(tmp_path: Path) -> None:
    agenda = agenda_of({"name": "t", "type": "thumbnail", "payload": {"input": "a.mp4"}})
    first = resolve_input_paths(agenda, registry(), "/first")
    again = resolve_input_paths(first, registry(), str(tmp_path))
    assert again.params["submitDir"] == "/first"
    assert again.operations[0].payload["input"] == "/first/a.mp4"
