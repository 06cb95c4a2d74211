"""The handler decorator and handler references."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from pop.errors import InputError
from pop.handlers import HandlerContext, handler, load_handler, payload_model_of, sample
from pop.handlers import log as log_handlers


class Payload(BaseModel):
    name: str


def test_the_decorator_attaches_the_payload_model() -> None:
    @handler(payload_model=Payload)
    def run(ctx: HandlerContext) -> Any:
        return None

    assert payload_model_of(run) is Payload


def test_a_plain_function_has_no_payload_model() -> None:
    def run(ctx: HandlerContext) -> Any:
        return None

    assert payload_model_of(run) is None
    assert payload_model_of(handler()(run)) is None


def test_the_decorator_rejects_something_that_is_not_a_model() -> None:
    with pytest.raises(TypeError):
        handler(payload_model=dict)  # type: ignore[arg-type]


def test_a_reference_resolves_to_the_function() -> None:
    assert load_handler("pop.handlers.sample:run") is sample.run
    assert load_handler("pop.handlers.log:noop") is log_handlers.noop


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("pop.handlers.sample", "expected 'module.path:function'"),
        ("no.such.module:run", "Cannot import the module of handler 'no.such.module:run'"),
        ("pop.handlers.sample:missing", "Handler 'pop.handlers.sample:missing' not found"),
        ("pop.handlers.sample:JOB_ID", "is not callable"),
    ],
)
def test_a_bad_reference_is_an_input_error_naming_it(ref: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_handler(ref)
