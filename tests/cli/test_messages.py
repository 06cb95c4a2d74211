"""Error messages that tell the truth (issue 10 point 8): no empty id in any message, no
pydantic wording ("Input should be a valid dictionary ..."), a payload that is not a JSON object
says so, and ``--debug`` keeps the error's exit code. Every bad input is one ``error:`` line and
at most one ``hint:`` line on stderr, exit 2, and leaves the store as it was (DESIGN §11)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pop.engine.generated import expand_generated
from pop.errors import PopError
from pop.models import Agenda, Operation

RunPop = Callable[..., subprocess.CompletedProcess[str]]
Snapshot = Callable[[Path], Any]

SAMPLE_OP = {"name": "a", "type": "sample", "payload": {}}


@pytest.fixture
def files(tmp_path: Path) -> Callable[[str, Any], str]:
    """``files(name, document)``: write a JSON file under tmp_path; its path."""

    def write(name: str, document: Any) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(document), encoding="utf-8")
        return str(path)

    return write


@pytest.fixture
def seeded(run_pop: RunPop, files: Callable[[str, Any], str]) -> dict[str, str]:
    """A pool, a customer, an insight and two templates: one hands its payload to a sample op,
    one looks up ``/value`` in it."""
    for args in (
        ["pool", "add", "--id", "media", "--title", "Media"],
        ["customer", "add", "--id", "acme", "--title", "Acme", "--pool", "media"],
        ["insight", "add", "--id", "all", "--title", "All", "--pool", "media",
         "--mapper", "operationType=sample", "--mapper", "operationType=logMessages"],
    ):  # fmt: skip
        completed = run_pop(*args)
        assert completed.returncode == 0, completed.stderr
    whole = files(
        "whole.json",
        {"title": "whole", "agenda": {"operations": [{**SAMPLE_OP, "payload": "@<pop.payload>"}]}},
    )
    pointer = files(
        "pointer.json",
        {
            "title": "pointer",
            "agenda": {
                "operations": [
                    {
                        "name": "say",
                        "type": "logMessages",
                        "payload": {"logMessages": ["@<pop.payload::/value>"]},
                    }
                ]
            },
        },
    )
    for path in (whole, pointer):
        assert run_pop("template", "add", path).returncode == 0
    return {"agenda": files("agenda.json", {"title": "ok", "operations": [SAMPLE_OP]})}


def assert_one_error(completed: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The error line of a rejected command: exit ``code``, nothing on stdout, ``error:`` and
    at most one ``hint:`` on stderr."""
    assert completed.returncode == code, completed.stdout + completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert 1 <= len(lines) <= 2, lines
    assert lines[0].startswith("error: ")
    assert all(line.startswith("hint: ") for line in lines[1:]), lines
    return lines[0]


def assert_no_empty_id(line: str) -> None:
    text = line.removeprefix("error: ")
    assert "  " not in text and " :" not in text and "''" not in text, line
    assert not re.search(r"\bid\s*$|\bid [.:;,]", text), line


def assert_no_library_wording(text: str) -> None:
    for wording in ("Input should", "valid dictionary", "instance of", "Field required"):
        assert wording not in text, text


EMPTY_IDS = [
    (["insight", "add", "--title", "T", "--pool", "media", "--algorithm", "bogus"],
     "the new insight has an unknown scheduling algorithm 'bogus'"),
    (["insight", "add", "--title", "T", "--pool", "media", "--queue-size", "0"],
     "the new insight has queue size 0; it must be at least 1"),
    (["insight", "add", "--title", "T", "--pool", "media", "--mapper", "colour=red"],
     "the new insight has an unknown mapper 'colour'"),
    (["insight", "add", "--title", "T", "--pool", "media", "--mapper", "paramMap=quality"],
     "the new insight has a paramMap value 'quality' that is not key=value"),
    (["insight", "add", "--pool", "media"], "the new insight has no title"),
    (["insight", "add", "--title", "T"], "the new insight needs a pool"),
    (["insight", "add", "--id", "", "--title", "T", "--pool", "media"], "the insight id is empty"),
    (["insight", "add", "--title", "T", "--pool", "media", "--allow", ""],
     "the new insight: an allowed customer id is empty"),
    (["pool", "add", "--id", " "], "the pool id is empty"),
    (["customer", "add", "--id", "", "--title", "T"], "the customer id is empty"),
    (["customer", "add", "--id", "c2", "--title", "T", "--pool", ""],
     "customer c2: the pool id is empty"),
    (["customer", "show", ""], "the customer id is empty"),
    (["customer", "update", " ", "--title", "x"], "the customer id is empty"),
    (["customer", "delete", ""], "the customer id is empty"),
    (["pool", "show", ""], "the pool id is empty"),
    (["pool", "delete", ""], "the pool id is empty"),
    (["pool", "update", "", "--title", "x"], "the pool id is empty"),
    (["insight", "show", ""], "the insight id is empty"),
    (["insight", "update", "", "--title", "x"], "the insight id is empty"),
    (["insight", "delete", " "], "the insight id is empty"),
    (["template", "show", ""], "the template id is empty"),
    (["template", "delete", ""], "the template id is empty"),
    (["template", "run", "", "--payload-json", "{}"], "the template id is empty"),
    (["submit", "AGENDA", "--customer", " "], "the agenda's customer id is blank"),
    (["submit", ""], "the agenda file name is empty"),
    (["template", "add", ""], "the template file name is empty"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"), EMPTY_IDS, ids=[" ".join(args) for args, _ in EMPTY_IDS]
)
def test_no_message_names_an_empty_id(
    args: list[str],
    message: str,
    run_pop: RunPop,
    seeded: dict[str, str],
    pop_home: Path,
    store_snapshot: Snapshot,
) -> None:
    before = store_snapshot(pop_home)

    line = assert_one_error(run_pop(*[seeded["agenda"] if a == "AGENDA" else a for a in args]))

    assert line == f"error: {message}"
    assert_no_empty_id(line)
    assert store_snapshot(pop_home) == before


def test_an_update_that_empties_the_id_says_so(
    run_pop: RunPop,
    seeded: dict[str, str],
    files: Callable[[str, Any], str],
    pop_home: Path,
    store_snapshot: Snapshot,
) -> None:
    before = store_snapshot(pop_home)

    line = assert_one_error(
        run_pop("customer", "update", "acme", "--file", files("id.json", {"id": ""}))
    )

    assert line == "error: the id of customer acme cannot change to an empty one"
    assert store_snapshot(pop_home) == before


NOT_AN_OBJECT = [("array", [1, 2]), ("string", "hello"), ("number", 5)]


@pytest.mark.parametrize(("kind", "payload"), NOT_AN_OBJECT, ids=[k for k, _ in NOT_AN_OBJECT])
def test_a_typed_ops_payload_that_is_not_an_object_says_so_at_submit(
    kind: str,
    payload: Any,
    run_pop: RunPop,
    files: Callable[[str, Any], str],
    pop_home: Path,
    store_snapshot: Snapshot,
) -> None:
    agenda = files("agenda.json", {"title": "t", "operations": [{**SAMPLE_OP, "payload": payload}]})
    before = store_snapshot(pop_home)

    for command in ("submit", "run-local"):
        line = assert_one_error(run_pop(command, agenda))
        assert line == (
            "error: invalid agenda (1 problem): operation 'a' has an invalid sample payload: "
            f"the payload must be a JSON object, not a{'n' if kind == 'array' else ''} {kind}"
        )
        assert store_snapshot(pop_home) == before


@pytest.mark.parametrize(("kind", "payload"), NOT_AN_OBJECT, ids=[k for k, _ in NOT_AN_OBJECT])
def test_template_run_with_a_payload_that_is_not_an_object_says_so(
    kind: str,
    payload: Any,
    run_pop: RunPop,
    seeded: dict[str, str],
    pop_home: Path,
    store_snapshot: Snapshot,
) -> None:
    before = store_snapshot(pop_home)
    article = "an" if kind == "array" else "a"

    whole = assert_one_error(
        run_pop("template", "run", "whole", "--payload-json", json.dumps(payload))
    )
    pointer = assert_one_error(
        run_pop("template", "run", "pointer", "--payload-json", json.dumps(payload))
    )

    assert whole.endswith(f"the payload must be a JSON object, not {article} {kind}")
    assert pointer.startswith(
        f"error: template 'pointer' cannot be filled from this payload ({article} {kind}, "
        "not a JSON object): "
    )
    assert store_snapshot(pop_home) == before


def test_handler_run_with_a_payload_that_is_not_an_object_fails_saying_so(
    run_pop: RunPop, files: Callable[[str, Any], str]
) -> None:
    completed = run_pop("handler", "run", "sample", "-payloadFile", files("p.json", [1, 2]))

    assert completed.returncode == 2
    progress = json.loads(completed.stdout.splitlines()[-2].removeprefix("Progress: "))
    [event] = progress["diagnosticEvents"]
    assert event["message"] == (
        "Failed to translate payload to SamplePayload: the payload must be a JSON object, "
        "not an array"
    )


@pytest.mark.parametrize(
    ("command", "document", "message"),
    [
        (["submit"], {"title": "t", "operations": [{**SAMPLE_OP, "params": 5}]},
         "operations.0.params must be a JSON object, not a number"),
        (["submit"], {"title": "t", "operations": "x"},
         "operations must be a JSON array, not a string"),
        (["submit"], {"title": "t", "operations": [{**SAMPLE_OP, "payload": {"actions": "x"}}]},
         "operation 'a' has an invalid sample payload: actions must be a JSON array, "
         "not a string"),
        (["submit"], [SAMPLE_OP], "an agenda must be a JSON object, not an array"),
        (["template", "add"], {"title": "t", "agenda": {"operations": "x"}},
         "agenda.operations must be a JSON array, not a string"),
        (["template", "add"], "x", "a template must be a JSON object, not a string"),
        (["customer", "add", "--file"], {"id": "c2", "title": 5},
         "customer c2: title must be a string, not a number"),
        (["insight", "add", "--file"], {"title": "T", "queueSize": [1]},
         "the new insight: queueSize must be a whole number, not an array"),
        (["pool", "add", "--file"], [1], "must be a JSON object, not an array"),
    ],
    ids=["op params", "operations", "typed payload field", "agenda array", "template operations",
         "template string", "customer title", "insight queue size", "pool array"],
)  # fmt: skip
def test_validation_problems_are_said_in_pops_words(
    command: list[str],
    document: Any,
    message: str,
    run_pop: RunPop,
    files: Callable[[str, Any], str],
    pop_home: Path,
    store_snapshot: Snapshot,
) -> None:
    assert run_pop("list").returncode == 0  # a store to compare with
    before = store_snapshot(pop_home)

    line = assert_one_error(run_pop(*command, files("doc.json", document)))

    assert line.endswith(message), line
    assert_no_library_wording(line)
    assert store_snapshot(pop_home) == before


def test_a_generated_operation_that_is_not_an_object_says_so() -> None:
    generator = Operation.model_validate(
        {
            "name": "gen",
            "type": "sample",
            "params": {"agenda.operation.generator": {"operationsJsonPointer": "/ops"}},
        }
    )
    agenda = Agenda.model_validate({"title": "t", "operations": [generator.to_wire()]})

    with pytest.raises(PopError) as raised:
        expand_generated(agenda, generator, {"ops": [5]})

    assert raised.value.message == (
        "operation 'gen' generated an invalid operation: it must be a JSON object, not a number"
    )


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["--debug", "status", "nope"], None, 4),
        (["submit", "AGENDA", "--debug"], None, 2),
        (["customer", "show", "nope"], {"POP_DEBUG": "1"}, 4),
    ],
    ids=["--debug not found", "--debug bad input", "POP_DEBUG not found"],
)
def test_debug_prints_the_traceback_and_keeps_the_exit_code(
    args: list[str],
    env: dict[str, str] | None,
    code: int,
    run_pop: RunPop,
    files: Callable[[str, Any], str],
) -> None:
    bad = files("bad.json", {"title": "t", "operations": "x"})

    completed = run_pop(*[bad if arg == "AGENDA" else arg for arg in args], env=env)

    assert completed.returncode == code
    assert completed.stderr.startswith("Traceback (most recent call last):")
    lines = completed.stderr.splitlines()
    error = [line for line in lines if line.startswith("error: ")]
    assert len(error) == 1 and lines.index(error[0]) >= len(lines) - 2
