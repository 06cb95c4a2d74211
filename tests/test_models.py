"""The wire models load POP's Java JSON and give it back unchanged (DESIGN §3)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pop.models import (
    Agenda,
    AgendaProgress,
    AgendaTemplate,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return document


def test_a_pop_agenda_round_trips_unchanged() -> None:
    document = load_fixture("pop_agenda.json")

    agenda = Agenda.model_validate(copy.deepcopy(document))

    assert agenda.to_wire() == document
    assert json.loads(agenda.to_json()) == document


def test_an_agenda_keeps_unknown_fields_at_every_level() -> None:
    document = load_fixture("pop_agenda.json")

    wire = Agenda.model_validate(document).to_wire()

    assert wire["supportingObjects"] == {"requestHeaders": {"X-Trace": "abc123"}}
    assert wire["isDeleted"] is False
    assert wire["operations"][2]["operationNotes"] == "field the Java model does not know"
    assert wire["agendaInsight"]["queueName"] == "media-queue"
    assert wire["agendaInsight"]["insightScheduleInfo"]["lastExecuted"] == 1700000000000


def test_an_agenda_reads_pop_camel_case_fields_into_python_names() -> None:
    agenda = Agenda.model_validate(load_fixture("pop_agenda.json"))

    assert agenda.customer_id == "http://data.example.com/customers/42"
    assert agenda.link_id == "link-8812"
    assert agenda.progress_id == "a1b2c3d4-0000-4000-8000-0000000000aa"
    assert agenda.agenda_insight is not None
    assert agenda.agenda_insight.insight_id == "insight-media"
    assert [op.name for op in agenda.operations] == ["sample.1", "transcode.1", "package.1"]
    assert agenda.operations[1].depends_on() == ["sample.1"]
    assert agenda.added_time == 1700000000123


def test_an_agenda_without_customer_belongs_to_the_default_customer() -> None:
    assert Agenda.model_validate({"operations": []}).effective_customer_id == "default"


def test_a_new_agenda_emits_only_the_fields_it_was_given() -> None:
    assert Agenda.model_validate({"title": "t"}).to_wire() == {"title": "t"}


def test_a_pop_template_round_trips_unchanged() -> None:
    document = load_fixture("pop_template.json")

    template = AgendaTemplate.model_validate(copy.deepcopy(document))

    assert template.to_wire() == document
    assert template.static_parameters["thumbnail.width"] == 320
    assert template.allowed_customer_ids == [
        "http://data.example.com/customers/42",
        "http://data.example.com/customers/77",
    ]
    assert template.is_global is False
    assert template.agenda is not None
    assert template.agenda.operations[0].payload["width"] == "@<thumbnail.width>"
    assert template.to_wire()["agenda"]["templateOnlyField"] == {"keep": "me"}
    assert template.to_wire()["version"] == 7


def test_a_pop_progress_round_trips_with_its_string_result_payload_parsed() -> None:
    document = load_fixture("pop_agenda_progress.json")
    expected = copy.deepcopy(document)
    expected["operationProgress"][0]["resultPayload"] = {
        "file": "/media/8812/source.mp4",
        "sizeBytes": 1048576,
        "hdr": False,
    }

    progress = AgendaProgress.model_validate(copy.deepcopy(document))

    assert progress.to_wire() == expected
    assert AgendaProgress.model_validate(progress.to_wire()).to_wire() == expected


def test_a_progress_keeps_unknown_fields_of_operations_and_diagnostics() -> None:
    wire = AgendaProgress.model_validate(load_fixture("pop_agenda_progress.json")).to_wire()

    assert wire["processingHost"] == "executor-2"
    assert wire["retryCount"] == 0
    assert wire["operationProgress"][0]["hostName"] == "pop-handler-sample-7f9c"
    event = wire["operationProgress"][1]["diagnosticEvents"][0]
    assert event["eventLevel"] == "WARN"
    assert event["stackTrace"].startswith("java.io.IOException")
    assert event["statusCode"] == 0


def test_a_string_result_payload_is_parsed_to_its_json_value() -> None:
    progress = AgendaProgress.model_validate(load_fixture("pop_agenda_progress.json"))

    first = progress.operation("sample.1")
    assert first is not None
    assert first.result_payload == {
        "file": "/media/8812/source.mp4",
        "sizeBytes": 1048576,
        "hdr": False,
    }
    assert first.succeeded


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("[1, 2]", [1, 2]),
        ("42", 42),
        ("true", True),
        ('"text"', "text"),
        ({"already": "json"}, {"already": "json"}),
        ("not json at all", "not json at all"),
    ],
)
def test_result_payload_accepts_a_json_string_or_a_json_value(given: Any, expected: Any) -> None:
    progress = OperationProgress.model_validate({"resultPayload": given})

    assert progress.result_payload == expected
    assert progress.to_wire() == {"resultPayload": expected}


def test_processing_state_has_exactly_pop_s_three_values() -> None:
    assert [state.value for state in ProcessingState] == ["WAITING", "EXECUTING", "COMPLETE"]
    assert ProcessingState("EXECUTING") is ProcessingState.EXECUTING


def test_an_unknown_processing_state_is_rejected() -> None:
    with pytest.raises(ValidationError):
        OperationProgress.model_validate({"processingState": "RUNNING"})


def test_processing_state_is_written_as_its_name() -> None:
    progress = OperationProgress.model_validate({"processingState": "COMPLETE"})

    assert progress.processing_state is ProcessingState.COMPLETE
    assert progress.to_wire() == {"processingState": "COMPLETE"}


@pytest.mark.parametrize("message", ["succeeded", "Succeeded", "SUCCEEDED"])
def test_succeeded_is_compared_case_insensitively(message: str) -> None:
    progress = OperationProgress.model_validate(
        {"processingState": "COMPLETE", "processingStateMessage": message}
    )

    assert progress.succeeded


def test_a_complete_agenda_with_any_other_message_failed() -> None:
    progress = AgendaProgress.model_validate(
        {"processingState": "COMPLETE", "processingStateMessage": "failed"}
    )

    assert progress.failed
    assert not progress.succeeded


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"maximumAttempts": 5}, 5),
        ({"maximumAttempts": "7"}, 7),
        ({"maximumAttempts": "2.0"}, 2),
        ({}, 3),
        ({"maximumAttempts": "many"}, 3),
    ],
)
def test_maximum_attempts_comes_from_params_with_a_default_of_three(
    params: dict[str, Any], expected: int
) -> None:
    assert Agenda.model_validate({"params": params}).maximum_attempts() == expected


def test_maximum_attempts_of_the_pop_fixture_is_read_from_its_numeric_string() -> None:
    assert Agenda.model_validate(load_fixture("pop_agenda.json")).maximum_attempts() == 5


def test_a_diagnostic_event_made_with_of_carries_message_time_and_payload() -> None:
    event = DiagnosticEvent.of("boom", payload=["last", "lines"])

    wire = event.to_wire()
    assert wire["message"] == "boom"
    assert wire["payload"] == ["last", "lines"]
    assert isinstance(wire["time"], int)
    assert "stackTrace" not in wire
