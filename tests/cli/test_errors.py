"""Bad input: one ``error:`` line naming the problem, exit 2, nothing written (DESIGN §4, §5, §12).

Every case runs the real ``pop`` against a store seeded with one submitted agenda, so "the store is
unchanged" compares a non-empty dump of every table.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES

VALID_AGENDA = {
    "title": "valid",
    "operations": [{"name": "only", "type": "sample", "payload": {"actions": []}}],
}
TYPO_REGISTRY = """\
handlers:
  sample:
    handler: pop.handlers.sample:run
    cpuMinRequestCont: "1.0"
"""


def sample_op(name: str, payload: Any = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "sample", "payload": payload or {"actions": []}, **extra}


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input: the agenda file's text, extra options, what the error must name."""

    agenda_text: str | None  # None: the agenda file does not exist
    names: tuple[str, ...]
    registry_text: str | None = None
    extra_names: Callable[[Path], list[str]] = field(default=lambda _: [])


def agenda_text(*operations: dict[str, Any]) -> str:
    return json.dumps({"title": "bad", "operations": list(operations)})


BAD_INPUTS = {
    "malformed JSON": BadInput(
        '{"title": "bad", "operations": [',
        ("malformed JSON",),
        extra_names=lambda path: [str(path)],
    ),
    "an unknown op type": BadInput(
        agenda_text({"name": "encode", "type": "transcodr", "payload": {}}),
        ("unknown type", "'transcodr'", "'encode'"),
    ),
    "duplicate names": BadInput(
        agenda_text(sample_op("thumbnail"), sample_op("Thumbnail")),
        ("same name", "'thumbnail'", "'Thumbnail'"),
    ),
    "a cycle": BadInput(
        agenda_text(
            sample_op("encode", {"actions": [], "resultPayload": {"in": "@<package.out>"}}),
            sample_op("package", {"actions": [], "resultPayload": {"in": "@<encode.out>"}}),
        ),
        ("cycle", "encode", "package"),
    ),
    "an undefined reference": BadInput(
        agenda_text(sample_op("publish", {"url": "@<upload.out::/url>"})),
        ("@<upload.out::/url>", "'publish'"),
    ),
    "a registry with a typo": BadInput(
        json.dumps(VALID_AGENDA),
        ("cpuMinRequestCont", "bad-registry.yaml"),
        registry_text=TYPO_REGISTRY,
    ),
    "a missing file": BadInput(None, ("not found",), extra_names=lambda path: [str(path)]),
    "no operations": BadInput(json.dumps({"title": "empty", "operations": []}), ("no operations",)),
}


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory, pop_cli: Any) -> Path:
    """A POP_HOME whose store holds one submitted agenda."""
    home = tmp_path_factory.mktemp("errors") / "pop_home"
    agenda_file = home.parent / "valid.json"
    agenda_file.write_text(json.dumps(VALID_AGENDA), encoding="utf-8")
    seeded = pop_cli.run(home, "submit", str(agenda_file))
    assert seeded.returncode == 0, seeded.stderr
    assert pop_cli.snapshot(home)["agendas"]
    return home


def assert_one_error_line(completed: subprocess.CompletedProcess[str], *names: str) -> str:
    """Exactly one ``error:`` line, first on stderr, naming every one of ``names``."""
    lines = completed.stderr.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error: "), completed.stderr
    assert [line for line in lines if line.startswith("error:")] == [lines[0]], completed.stderr
    assert "Traceback" not in completed.stderr
    for name in names:
        assert name in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]


@pytest.mark.parametrize("command", ["submit", "run-local"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_error_line_exit_2_and_an_unchanged_store(
    case: str, command: str, seeded_home: Path, pop_cli: Any, tmp_path: Path
) -> None:
    bad = BAD_INPUTS[case]
    agenda_file = tmp_path / "agenda.json"
    if bad.agenda_text is not None:
        agenda_file.write_text(bad.agenda_text, encoding="utf-8")
    options: list[str] = []
    if bad.registry_text is not None:
        registry_file = tmp_path / "bad-registry.yaml"
        registry_file.write_text(bad.registry_text, encoding="utf-8")
        options = ["--registry", str(registry_file)]
    before = pop_cli.snapshot(seeded_home)

    completed = pop_cli.run(seeded_home, command, str(agenda_file), *options)

    assert completed.returncode == 2, completed.stderr
    assert_one_error_line(completed, *bad.names, *bad.extra_names(agenda_file))
    assert completed.stdout == ""
    assert pop_cli.snapshot(seeded_home) == before


@pytest.mark.parametrize("command", ["submit", "run-local"])
def test_bad_input_on_a_fresh_home_creates_no_store(
    command: str, run_pop: Callable[..., Any], pop_home: Path, tmp_path: Path
) -> None:
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(BAD_INPUTS["a cycle"].agenda_text or "", encoding="utf-8")

    completed = run_pop(command, str(agenda_file))

    assert completed.returncode == 2
    assert not (pop_home / "pop.db").exists()


def test_every_problem_of_an_agenda_is_listed_in_its_one_error_line(
    run_pop: Callable[..., Any], tmp_path: Path
) -> None:
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(
        agenda_text(
            sample_op("a", {"x": "@<b.out>"}),
            sample_op("b", {"x": "@<a.out>"}),
            sample_op("A"),
            {"name": "c", "type": "smaple", "payload": {"x": "@<typo.outt>"}},
        ),
        encoding="utf-8",
    )

    completed = run_pop("submit", str(agenda_file))

    assert completed.returncode == 2
    line = assert_one_error_line(completed, "4 problems", "smaple", "@<typo.outt>", "cycle")
    assert "'A'" in line


def test_status_of_an_unknown_id_exits_4(seeded_home: Path, pop_cli: Any) -> None:
    completed = pop_cli.run(seeded_home, "status", "ffffffff-no-such-agenda")

    assert completed.returncode == 4
    assert_one_error_line(completed, "ffffffff-no-such-agenda")
    assert completed.stdout == ""


def test_registry_validate_lists_every_problem_and_exits_2(
    run_pop: Callable[..., Any], tmp_path: Path
) -> None:
    registry_file = tmp_path / "bad.yaml"
    registry_file.write_text(
        TYPO_REGISTRY
        + "  empty: {}\n"
        + "  both:\n    handler: pop.handlers.sample:run\n    command: ['true']\n",
        encoding="utf-8",
    )

    completed = run_pop("registry", "validate", str(registry_file))

    assert completed.returncode == 2
    lines = completed.stderr.splitlines()
    assert len(lines) == 3, completed.stderr
    assert all(line.startswith("error: ") for line in lines)
    assert "handlers.sample.cpuMinRequestCont" in lines[0]
    assert "handlers.empty" in lines[1]
    assert "handlers.both" in lines[2]


def test_list_with_an_unknown_state_exits_2(seeded_home: Path, pop_cli: Any) -> None:
    completed = pop_cli.run(seeded_home, "list", "--state", "BOGUS")

    assert completed.returncode == 2
    assert_one_error_line(completed, "BOGUS")
    assert completed.stdout == ""


@pytest.mark.parametrize(
    "args",
    [["list", "--no-such-option"], ["submit"], ["run-local", "x.json", "--concurrency", "zero"]],
    ids=["unknown option", "missing argument", "invalid value"],
)
def test_a_usage_error_gives_one_error_line_and_exit_2(
    args: list[str], seeded_home: Path, pop_cli: Any
) -> None:
    completed = pop_cli.run(seeded_home, *args)

    assert completed.returncode == 2
    assert_one_error_line(completed)


def test_an_unreachable_runtime_exits_3_and_run_local_json_still_prints_the_waiting_progress(
    run_pop: Any, tmp_path: Path
) -> None:
    nowhere = {"KUBECONFIG": str(tmp_path / "no-kubeconfig"), "KUBERNETES_SERVICE_HOST": ""}
    ran = run_pop(
        "run-local", str(EXAMPLES / "hello.json"), "--launch", "kubernetes", "--json", env=nowhere
    )
    assert ran.returncode == 3, ran.stderr
    error, hint = ran.stderr.splitlines()
    assert error.startswith("error: cannot reach Kubernetes: KUBECONFIG names no existing file")
    assert hint.startswith("hint: ")
    progress = json.loads(ran.stdout)
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "WAITING",
        "pending",
    )
    stored = run_pop("status", progress["agendaId"], "--json")
    assert json.loads(stored.stdout)["processingState"] == "WAITING"
