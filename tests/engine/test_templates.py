"""The template phase (DESIGN §4, POP-REFERENCE §3.6): parameters, whole-agenda substitution,
two-phase tokens, defaults, and the checks of ``pop template add`` and ``run``."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from pop.engine.templates import (
    expand_template,
    parse_template,
    template_parameters,
    unresolvable_references,
)
from pop.errors import InputError
from pop.models import AgendaTemplate
from tests.conftest import FIXTURES


def template_of(agenda: dict[str, Any], **fields: Any) -> AgendaTemplate:
    return AgendaTemplate.model_validate({"title": "t", "agenda": agenda, **fields})


def one_op(payload: Any, **op_fields: Any) -> dict[str, Any]:
    return {"operations": [{"name": "op", "type": "sample", "payload": payload, **op_fields}]}


def test_the_parameters_are_the_static_parameters_and_the_payload_under_both_names() -> None:
    template = template_of(one_op({}), staticParameters={"size": 3, "fmt": "jpg"})

    parameters = template_parameters(template, {"x": 1})

    assert parameters == {
        "size": 3,
        "fmt": "jpg",
        "pop.payload": {"x": 1},
        "pop.transformRequest": {"x": 1},
    }


def test_pop_transform_request_is_the_payload() -> None:
    payload = {"title": "xyz", "nested": {"list": [1, 2]}}
    template = template_of(one_op({"a": "@<pop.transformRequest>", "b": "@<pop.payload>"}))

    agenda = expand_template(template, payload)

    assert agenda.operations[0].payload == {"a": payload, "b": payload}


@pytest.mark.parametrize("name", ["pop.payload", "pop.transformRequest"])
def test_a_static_parameter_named_like_the_payload_is_defined_twice(name: str) -> None:
    template = template_of(one_op({}), staticParameters={name: "mine"})

    with pytest.raises(InputError, match=f"template parameter '{name}' is defined twice") as info:
        expand_template(template, {})

    assert info.value.exit_code == 2


def test_the_whole_agenda_is_substituted_not_only_the_payloads() -> None:
    template = template_of(
        {
            "title": "thumbs for @<pop.payload::/asset>",
            "customerId": "@<customer>",
            "linkId": "@<pop.payload::/batch>",
            "params": {"externalId": "@<pop.payload::/asset>", "priority": "@<priority>"},
            "operations": [
                {
                    "name": "@<opName>",
                    "type": "@<opType>",
                    "payload": {"size": "@<pop.payload::/size>"},
                    "params": {"timeoutSeconds": "@<timeout>"},
                }
            ],
        },
        staticParameters={
            "customer": "acme",
            "priority": 5,
            "opName": "thumbnail",
            "opType": "sample",
            "timeout": 30,
        },
    )

    agenda = expand_template(template, {"asset": "a-1", "batch": "b-7", "size": [320, 240]})

    assert agenda.to_wire() == {
        "title": "thumbs for a-1",
        "customerId": "acme",
        "linkId": "b-7",
        "params": {"externalId": "a-1", "priority": 5},
        "operations": [
            {
                "name": "thumbnail",
                "type": "sample",
                "payload": {"size": [320, 240]},
                "params": {"timeoutSeconds": 30},
            }
        ],
    }


def test_executor_phase_tokens_survive_the_template_phase() -> None:
    payload = {
        "text": "@<first.out::/text>-@<pop.payload::/suffix>",
        "whole": "@<first.out>",
        "id": "@<pop.agendaId>",
        "later": "@<first.out::/missing?fallback>",
    }
    template = template_of(
        {
            "operations": [
                {"name": "first", "type": "sample", "payload": {}},
                {"name": "second", "type": "sample", "payload": payload},
            ]
        }
    )

    agenda = expand_template(template, {"suffix": "s"})

    assert agenda.operations[1].payload == {**payload, "text": "@<first.out::/text>-s"}


def test_a_payload_field_that_is_missing_leaves_its_token_for_the_executor_phase() -> None:
    template = template_of(one_op({"name": "@<pop.payload::/nope>"}))

    agenda = expand_template(template, {"other": 1})

    assert agenda.operations[0].payload == {"name": "@<pop.payload::/nope>"}


def test_the_log_messages_example_of_pop_fills_the_list() -> None:
    template = template_of(
        {
            "operations": [
                {
                    "name": "log",
                    "type": "logMessages",
                    "payload": {"logMessages": ["@<pop.payload::/value>"]},
                }
            ]
        }
    )

    agenda = expand_template(template, {"value": "1234"})

    assert agenda.operations[0].payload == {"logMessages": ["1234"]}


def test_the_coolestdog_example_of_pop_fills_an_object_and_a_static_string() -> None:
    template = template_of(
        one_op(
            {
                "inputs": [{"file": "@<pop.payload::/sourceFile>"}],
                "processorVersion": "@<accelerateEncodeProcessorVersion>",
            }
        ),
        staticParameters={"accelerateEncodeProcessorVersion": "1.5"},
    )

    agenda = expand_template(template, {"sourceFile": {"file": "coolestdog.mp4"}})

    assert agenda.operations[0].payload == {
        "inputs": [{"file": {"file": "coolestdog.mp4"}}],
        "processorVersion": "1.5",
    }


@pytest.mark.parametrize(
    ("token", "payload", "expected"),
    [
        ("@<pop.payload::/count?1>", {}, "1"),
        ("@<pop.payload::/count?1>", {"count": 7}, 7),
        ("@<pop.payload::/tags?>", {}, None),
        ("@<pop.payload::/tags?>", {"tags": ["a"]}, ["a"]),
        ("n=@<pop.payload::/count?0>", {}, "n=0"),
        ("n=@<pop.payload::/count?>", {}, "n=null"),
        ("@<limits::/width?640>", {}, 320),
        ("@<limits::/depth?8>", {}, "8"),
    ],
)
def test_a_default_applies_only_when_the_pointer_finds_nothing(
    token: str, payload: Any, expected: Any
) -> None:
    template = template_of(one_op({"value": token}), staticParameters={"limits": {"width": 320}})

    agenda = expand_template(template, payload)

    assert agenda.operations[0].payload == {"value": expected}


def test_the_title_defaults_to_the_template_title() -> None:
    untitled = template_of(one_op({}), title="nightly thumbnails")
    titled = template_of({"title": "own title", **one_op({})}, title="nightly thumbnails")

    assert expand_template(untitled, {}).title == "nightly thumbnails"
    assert expand_template(titled, {}).title == "own title"
    assert expand_template(untitled, {}).to_wire()["title"] == "nightly thumbnails"


def test_expansion_changes_neither_the_template_nor_the_payload() -> None:
    template = template_of(one_op({"in": "@<pop.payload>"}), staticParameters={"s": {"k": 1}})
    payload = {"deep": {"list": [1]}}
    template_before = copy.deepcopy(template.to_wire())
    payload_before = copy.deepcopy(payload)

    agenda = expand_template(template, payload)
    agenda.operations[0].payload["in"]["deep"]["list"].append(2)

    assert template.to_wire() == template_before
    assert payload == payload_before


def test_the_pop_template_fixture_expands_with_unknown_fields_kept() -> None:
    document = json.loads((FIXTURES / "pop_template.json").read_text(encoding="utf-8"))
    template = parse_template(document)

    agenda = expand_template(template, {"assetId": "a-9", "sourceUrl": "s3://in/a-9.mp4"})

    wire = agenda.to_wire()
    assert wire["title"] == "thumbnails for a-9"
    assert wire["params"] == {"externalId": "a-9"}
    assert wire["templateOnlyField"] == {"keep": "me"}
    assert wire["operations"][0]["payload"] == {
        "source": "s3://in/a-9.mp4",
        "width": 320,
        "format": "jpg",
        "bucket": "thumbs",
    }
    assert wire["operations"][1]["payload"] == {
        "files": "@<thumbnail.out::/files>",
        "request": {"assetId": "a-9", "sourceUrl": "s3://in/a-9.mp4"},
    }


def test_strict_expansion_lists_every_token_that_can_never_resolve_with_where_it_is() -> None:
    template = template_of(
        {
            "title": "for @<pop.payload::/name>",
            "customerId": "@<customer>",
            "operations": [
                {
                    "name": "op",
                    "type": "sample",
                    "payload": {
                        "a": "@<pop.payload::/missing>",
                        "b": "x-@<shape>",
                        "c": "@<later.out::/x>",
                    },
                }
            ],
        },
        staticParameters={"shape": {"w": 1}},
    )

    problems = unresolvable_references(template, {})
    with pytest.raises(InputError) as info:
        expand_template(template, {}, strict=True)

    assert problems == [
        "customerId: @<customer> names no template parameter (the executor fills only "
        "operation payloads)",
        "title: @<pop.payload::/name> finds no value and has no default",
        "operation 'op' payload: @<pop.payload::/missing> finds no value and has no default",
        "operation 'op' payload: @<shape> cannot be used in composite string (an object or "
        "array inside a longer string)",
    ]
    assert info.value.exit_code == 2
    assert "template 't' cannot be filled from this payload" in info.value.message
    assert all(problem in info.value.message for problem in problems)


def test_strict_expansion_accepts_executor_phase_tokens_and_defaults() -> None:
    template = template_of(
        one_op({"a": "@<pop.payload::/x?d>", "b": "@<other.out>", "c": "@<pop.workDir>"})
    )

    agenda = expand_template(template, {}, strict=True)

    assert agenda.operations[0].payload == {"a": "d", "b": "@<other.out>", "c": "@<pop.workDir>"}


def test_a_filled_agenda_of_the_wrong_shape_is_bad_input() -> None:
    template = template_of({"linkId": "@<pop.payload::/link>", **one_op({})})

    with pytest.raises(InputError, match="linkId"):
        expand_template(template, {"link": {"not": "a string"}})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a template must be a JSON object"),
        ({"title": "no agenda"}, "needs an 'agenda' object with operations"),
        ({"agenda": {"operations": []}}, "has no operations"),
        ({"agenda": "text"}, "agenda"),
        ({"agenda": one_op({}), "staticParameters": []}, "staticParameters"),
        (
            {"agenda": one_op({}), "staticParameters": {"pop.payload": 1}},
            "template parameter 'pop.payload' is defined twice",
        ),
    ],
)
def test_parse_template_rejects_what_template_run_cannot_use(document: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_template(document, source="t.json")

    assert info.value.message.startswith("t.json: ")
