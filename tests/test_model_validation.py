"""``pop.models.validation``: pydantic's validation errors said in pop's words, never pydantic's
("Input should be a valid dictionary or instance of ...") (issue 10 point 8)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pop.handlers.sample import SamplePayload
from pop.models import Agenda
from pop.models.validation import json_kind, problems


class Rendition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    height: int = Field(default=360, gt=0)
    codec: Literal["h264", "av1"] = "h264"
    crf: int | str = 23
    tags: list[str] = Field(default_factory=list, max_length=2)
    label: str = Field(default="ok", min_length=2)

    @field_validator("name")
    @classmethod
    def file_name(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("a rendition name is a file name")
        return value


def said(model: type[BaseModel], data: Any, **options: Any) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    return problems(raised.value, **options)


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ([1, 2], "the payload must be a JSON object, not an array"),
        ("hello", "the payload must be a JSON object, not a string"),
        (5, "the payload must be a JSON object, not a number"),
        (None, "the payload must be a JSON object, not null"),
    ],
)
def test_a_document_that_is_not_an_object_says_what_it_is(data: Any, sentence: str) -> None:
    assert said(SamplePayload, data) == [sentence]


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({}, "name is required"),
        ({"name": "a", "size": 1}, "size is not a known field"),
        ({"name": 5}, "name must be a string, not a number"),
        ({"name": "a", "height": "tall"}, "height must be a whole number, not a string"),
        ({"name": "a", "height": 0}, "height must be greater than 0"),
        ({"name": "a", "codec": "vp9"}, "codec must be 'h264' or 'av1'"),
        ({"name": "a", "crf": [1]}, "crf must be a whole number or a string, not an array"),
        ({"name": "a", "tags": "x"}, "tags must be a JSON array, not a string"),
        ({"name": "a", "tags": ["a", "b", "c"]}, "tags must have at most 2 items"),
        ({"name": "a", "label": "x"}, "label must be at least 2 characters long"),
        ({"name": "a/b"}, "name is not valid: a rendition name is a file name"),
    ],
)
def test_each_kind_of_problem_names_the_field_and_what_it_must_be(
    data: dict[str, Any], sentence: str
) -> None:
    assert said(Rendition, data) == [sentence]


def test_nested_fields_are_named_by_their_path() -> None:
    document = {"title": "t", "operations": [{"name": "a", "params": 5}]}

    assert said(Agenda, document, root="the agenda") == [
        "operations.0.params must be a JSON object, not a number"
    ]


def test_many_problems_are_cut_after_the_limit() -> None:
    document = {"name": 1, "height": "x", "codec": 1, "tags": 1, "label": 1, "extra": 1}

    sentences = said(Rendition, document, limit=3)

    assert len(sentences) == 4 and sentences[-1] == "and 3 more"


def test_no_sentence_carries_pydantic_wording() -> None:
    document = {"name": 1, "height": "x", "codec": 1, "tags": 1, "label": 1, "extra": 1}

    for sentence in said(Rendition, document, limit=10):
        assert "Input should" not in sentence and "valid dictionary" not in sentence


@pytest.mark.parametrize(
    ("value", "kind"),
    [({}, "an object"), ([], "an array"), ("", "a string"), (1.5, "a number"), (True, "true"),
     (None, "null")],
)  # fmt: skip
def test_json_kind_names_a_json_value(value: Any, kind: str) -> None:
    assert json_kind(value) == kind
