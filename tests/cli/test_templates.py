"""``pop template add|list|show|delete|run`` through the real CLI and a real store (issue 3).

A template with static parameters and ``@<pop.payload::/path?default>`` tokens, run with a payload,
produces the expected agenda (``--dry-run``) and, submitted, runs to success. Bad input gives one
``error:`` line, exit 2 (or 4 for an unknown template) and leaves the store unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_errors import assert_one_error_line

TEMPLATE: dict[str, Any] = {
    "id": "tpl-greetings",
    "title": "greetings",
    "staticParameters": {"greeting": "hello", "marks": {"loud": "!"}},
    "agenda": {
        "title": "greet @<pop.payload::/name>",
        "customerId": "@<pop.payload::/customer?acme>",
        "params": {"externalId": "@<pop.payload::/requestId>"},
        "operations": [
            {
                "name": "greet",
                "type": "sample",
                "payload": {
                    "actions": [
                        {
                            "action": "log",
                            "paramsMap": {"logMessage": "@<greeting> @<pop.payload::/name>"},
                        }
                    ],
                    "resultPayload": {
                        "text": "@<greeting>, @<pop.payload::/name>@<marks::/loud>",
                        "count": "@<pop.payload::/count?1>",
                        "audience": "@<pop.payload::/audience?>",
                    },
                },
            },
            {
                "name": "combine",
                "type": "sample",
                "payload": {
                    "actions": [],
                    "resultPayload": {
                        "said": "@<greet.out::/text>",
                        "count": "@<greet.out::/count>",
                        "request": "@<pop.transformRequest>",
                    },
                },
            },
        ],
    },
}
PAYLOAD = {"name": "world", "requestId": "r-1", "count": 2}
EXPECTED_AGENDA = {
    "title": "greet world",
    "customerId": "acme",
    "params": {"externalId": "r-1"},
    "operations": [
        {
            "name": "greet",
            "type": "sample",
            "payload": {
                "actions": [{"action": "log", "paramsMap": {"logMessage": "hello world"}}],
                "resultPayload": {"text": "hello, world!", "count": 2, "audience": None},
            },
        },
        {
            "name": "combine",
            "type": "sample",
            "payload": {
                "actions": [],
                "resultPayload": {
                    "said": "@<greet.out::/text>",
                    "count": "@<greet.out::/count>",
                    "request": PAYLOAD,
                },
            },
        },
    ],
}

RunPop = Callable[..., Any]


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture
def stored_template(run_pop: RunPop, tmp_path: Path) -> str:
    """The id of TEMPLATE, added to this test's store."""
    added = run_pop("template", "add", str(write_json(tmp_path / "template.json", TEMPLATE)))
    assert added.returncode == 0, added.stderr
    return str(added.stdout.strip())


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "payload.json", PAYLOAD)


def test_a_template_run_with_a_payload_produces_the_expected_agenda_and_stores_nothing(
    run_pop: RunPop,
    stored_template: str,
    payload_file: Path,
    pop_home: Path,
    store_snapshot: Callable[[Path], Any],
) -> None:
    before = store_snapshot(pop_home)

    completed = run_pop(
        "template", "run", stored_template, "--payload", str(payload_file), "--dry-run"
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == expected_agenda(pop_home.parent)
    assert store_snapshot(pop_home) == before


def test_payload_json_text_gives_the_same_agenda_as_a_payload_file(
    run_pop: RunPop, stored_template: str, pop_home: Path
) -> None:
    completed = run_pop(
        "template", "run", stored_template, "--payload-json", json.dumps(PAYLOAD), "--dry-run"
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == expected_agenda(pop_home.parent)


def expected_agenda(submitted_in: Path) -> dict[str, Any]:
    """EXPECTED_AGENDA as submitted from ``submitted_in`` (recorded as ``params.submitDir``)."""
    expected = json.loads(json.dumps(EXPECTED_AGENDA))
    expected["params"]["submitDir"] = str(submitted_in)
    return dict(expected)


def test_a_submitted_template_agenda_runs_to_success(
    run_pop: RunPop, stored_template: str, payload_file: Path
) -> None:
    submitted = run_pop(
        "template",
        "run",
        stored_template,
        "--payload",
        str(payload_file),
        "--link-id",
        "L1",
        "--json",
    )
    assert submitted.returncode == 0, submitted.stderr
    submission = json.loads(submitted.stdout)
    assert set(submission) == {
        "agendaId",
        "progressId",
        "customerId",
        "linkId",
        "insightId",
        "queued",
    }
    assert submission["customerId"] == "acme"
    assert submission["linkId"] == "L1"
    assert submission["queued"] is True

    ran = run_pop("run-local", "--resume", submission["agendaId"], "--json")

    assert ran.returncode == 0, ran.stderr
    progress = json.loads(ran.stdout)
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )
    assert progress["title"] == "greet world"
    assert progress["externalId"] == "r-1"
    outputs = {op["operation"]: op["resultPayload"] for op in progress["operationProgress"]}
    assert outputs["combine"] == {"said": "hello, world!", "count": 2, "request": PAYLOAD}


def test_template_run_without_json_prints_the_agenda_id(
    run_pop: RunPop, stored_template: str, payload_file: Path
) -> None:
    completed = run_pop("template", "run", "greetings", "--payload", str(payload_file))

    assert completed.returncode == 0, completed.stderr
    agenda_id = completed.stdout.strip()
    shown = run_pop("status", agenda_id, "--json")
    assert json.loads(shown.stdout)["agendaId"] == agenda_id


def test_template_add_prints_the_id_it_keeps_when_given(stored_template: str) -> None:
    assert stored_template == "tpl-greetings"


def test_template_add_makes_an_id_when_none_is_given_and_json_prints_the_stored_template(
    run_pop: RunPop, tmp_path: Path
) -> None:
    document = {key: value for key, value in TEMPLATE.items() if key != "id"}
    document["ownerEmail"] = "media-team@example.com"

    completed = run_pop("template", "add", str(write_json(tmp_path / "t.json", document)), "--json")

    assert completed.returncode == 0, completed.stderr
    stored = json.loads(completed.stdout)
    assert len(stored["id"]) == 36
    assert stored["addedTime"] == stored["updatedTime"] > 0
    assert stored["ownerEmail"] == "media-team@example.com"
    assert stored["agenda"] == TEMPLATE["agenda"]
    shown = run_pop("template", "show", stored["id"], "--json")
    assert json.loads(shown.stdout) == stored


def test_template_list_shows_every_template(run_pop: RunPop, stored_template: str) -> None:
    as_json = run_pop("template", "list", "--json")
    as_table = run_pop("template", "list")

    assert [item["id"] for item in json.loads(as_json.stdout)] == [stored_template]
    assert as_table.returncode == 0, as_table.stderr
    assert stored_template in as_table.stdout
    assert "greetings" in as_table.stdout


@pytest.mark.parametrize("given", ["tpl-greetings", "tpl-g", "greetings"])
def test_template_show_finds_a_template_by_id_prefix_or_title(
    run_pop: RunPop, stored_template: str, given: str
) -> None:
    completed = run_pop("template", "show", given, "--json")

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["id"] == stored_template


def test_template_show_without_json_lists_parameters_and_operations(
    run_pop: RunPop, stored_template: str
) -> None:
    completed = run_pop("template", "show", stored_template)

    assert completed.returncode == 0, completed.stderr
    for text in ("greetings", "marks", "greet", "combine", "pop.payload", "greet.out"):
        assert text in completed.stdout


def test_template_delete_removes_the_template(run_pop: RunPop, stored_template: str) -> None:
    deleted = run_pop("template", "delete", stored_template, "--json")

    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["id"] == stored_template
    assert json.loads(run_pop("template", "list", "--json").stdout) == []
    assert run_pop("template", "show", stored_template).returncode == 4


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def seeded(
    run_pop: RunPop,
    stored_template: str,
    payload_file: Path,
    pop_home: Path,
    store_snapshot: Callable[[Path], Any],
) -> Any:
    """A store with the template and one agenda made from it; returns its snapshot."""
    submitted = run_pop("template", "run", stored_template, "--payload", str(payload_file))
    assert submitted.returncode == 0, submitted.stderr
    snapshot = store_snapshot(pop_home)
    assert snapshot["templates"] and snapshot["agendas"]
    return snapshot


def assert_rejected(
    completed: Any, code: int, pop_home: Path, before: Any, snapshot: Any, *names: str
) -> None:
    assert completed.returncode == code, completed.stderr
    assert_one_error_line(completed, *names)
    assert completed.stdout == ""
    assert snapshot(pop_home) == before


@pytest.mark.parametrize(
    "args",
    [
        ["run", "no-such-template", "--payload-json", "{}"],
        ["run", "no-such-template", "--payload-json", "{}", "--dry-run"],
        ["show", "no-such-template"],
        ["delete", "no-such-template"],
    ],
    ids=["run", "dry run", "show", "delete"],
)
def test_an_unknown_template_id_exits_4(
    args: list[str], run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any
) -> None:
    completed = run_pop("template", *args)

    assert_rejected(
        completed, 4, pop_home, seeded, store_snapshot, "no template with id no-such-template"
    )


def test_a_malformed_payload_file_exits_2_naming_the_file(
    run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any, tmp_path: Path
) -> None:
    payload = tmp_path / "broken-payload.json"
    payload.write_text('{"name": "world",', encoding="utf-8")

    completed = run_pop("template", "run", "tpl-greetings", "--payload", str(payload))

    assert_rejected(completed, 2, pop_home, seeded, store_snapshot, str(payload), "malformed JSON")


def test_malformed_payload_json_text_exits_2_naming_the_option(
    run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any
) -> None:
    completed = run_pop("template", "run", "tpl-greetings", "--payload-json", "{name: world}")

    assert_rejected(
        completed, 2, pop_home, seeded, store_snapshot, "--payload-json", "malformed JSON"
    )


@pytest.mark.parametrize(
    "options",
    [[], ["--payload-json", "{}", "--payload", "payload.json"]],
    ids=["neither", "both"],
)
def test_template_run_needs_exactly_one_payload_option(
    options: list[str], run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any
) -> None:
    completed = run_pop("template", "run", "tpl-greetings", *options)

    assert_rejected(completed, 2, pop_home, seeded, store_snapshot, "--payload", "--payload-json")


@pytest.mark.parametrize("name", ["pop.payload", "pop.transformRequest"])
def test_a_template_defining_a_payload_parameter_is_rejected_naming_it(
    name: str, run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any, tmp_path: Path
) -> None:
    document = {**TEMPLATE, "id": "tpl-dup", "staticParameters": {name: {"mine": 1}}}
    template_file = write_json(tmp_path / "dup.json", document)

    completed = run_pop("template", "add", str(template_file))

    assert_rejected(
        completed,
        2,
        pop_home,
        seeded,
        store_snapshot,
        f"'{name}'",
        "defined twice",
        str(template_file),
    )


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "submit"])
def test_a_payload_that_leaves_a_token_without_default_exits_2_naming_the_token(
    dry_run: bool, run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any
) -> None:
    payload = json.dumps(
        {"requestId": "r-2"}
    )  # no "name", and @<pop.payload::/name> has no default

    completed = run_pop(
        "template",
        "run",
        "tpl-greetings",
        "--payload-json",
        payload,
        *(["--dry-run"] if dry_run else []),
    )

    assert_rejected(
        completed, 2, pop_home, seeded, store_snapshot, "@<pop.payload::/name>", "'greet'"
    )


def test_adding_a_template_whose_id_is_taken_exits_2(
    run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Any, tmp_path: Path
) -> None:
    completed = run_pop("template", "add", str(write_json(tmp_path / "again.json", TEMPLATE)))

    assert_rejected(
        completed, 2, pop_home, seeded, store_snapshot, "tpl-greetings", "already exists"
    )


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ('{"title": "x", "agenda": {', ("malformed JSON",)),
        ('{"title": "x"}', ("'agenda'",)),
        ('{"title": "x", "agenda": {"operations": []}}', ("no operations",)),
    ],
    ids=["malformed JSON", "no agenda", "no operations"],
)
def test_adding_a_template_that_cannot_be_run_exits_2(
    document: str,
    names: tuple[str, ...],
    run_pop: RunPop,
    seeded: Any,
    pop_home: Path,
    store_snapshot: Any,
    tmp_path: Path,
) -> None:
    template_file = tmp_path / "bad-template.json"
    template_file.write_text(document, encoding="utf-8")

    completed = run_pop("template", "add", str(template_file))

    assert_rejected(completed, 2, pop_home, seeded, store_snapshot, str(template_file), *names)
