"""The app a command line gets: built with only the command it names first, or for ``pop --help``
with each command's help and no options; the same help, parsing and errors as the whole app; and
what the quick commands leave unimported (issue 10 point 9, ``benchmarks/cli_latency.py``
measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from pop.cli.app import build_app
from tests.cli.loaded import LOADED
from tests.conftest import EXAMPLES, pop_env


def command_paths() -> list[list[str]]:
    """Every command and group below the root, walked from the whole app."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(sub, [*path, name])

    walk(get_command(build_app()), [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_the_app_built_for_a_command_prints_the_same_help_as_the_whole_app(
    path: list[str],
) -> None:
    whole = CliRunner().invoke(build_app(), [*path, "--help"], prog_name="pop")
    alone = CliRunner().invoke(build_app(path[0]), [*path, "--help"], prog_name="pop")
    assert whole.exit_code == alone.exit_code == 0
    assert alone.output == whole.output


WHOLE_APP = """
import os, sys
os.environ["POP_QUICK"] = "0"  # the typer app, not the fast front end (tests/cli/test_quick.py)
import pop.cli.app
build = pop.cli.app.build_app
pop.cli.app.build_app = lambda first=None: build(None)
from pop.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("columns", ["40", "80", "200"])
@pytest.mark.parametrize("args", [[], ["-h"], ["--help"], ["--help", "list"], ["-h", "--bogus"]])
def test_pop_help_lists_the_same_commands_as_the_whole_app_prints(
    args: list[str], columns: str, tmp_path: Path
) -> None:
    env = {**pop_env(tmp_path), "COLUMNS": columns}
    listing = subprocess.run(
        [sys.executable, "-m", "pop", *args], env=env, capture_output=True, text=True, check=False
    )
    whole = subprocess.run(
        [sys.executable, "-c", WHOLE_APP, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (listing.returncode, listing.stdout, listing.stderr) == (
        whole.returncode,
        whole.stdout,
        whole.stderr,
    )
    assert "--bogus" in args or "submit" in whole.stdout


@pytest.mark.parametrize("first", ["list", "template", "customer"])
def test_the_app_built_for_a_command_has_that_command_alone(first: str) -> None:
    assert list(get_command(build_app(first)).commands) == [first]  # type: ignore[attr-defined]


@pytest.mark.parametrize("first", [None, "lst", "--version"])
def test_no_command_or_an_unknown_word_gets_the_whole_app(first: str | None) -> None:
    whole = get_command(build_app())
    assert list(get_command(build_app(first)).commands) == list(whole.commands)  # type: ignore[attr-defined]


def test_a_misspelt_command_still_gets_its_suggestion(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pop", "lst"],
        env=pop_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 2
    assert "No such command 'lst'" in completed.stderr
    assert "list" in completed.stderr


# asyncio is left out: some pydantic-core versions import it themselves; pop.handlers.external
# is what would bring it from pop
HEAVY = {"rich", "click", "sqlite_utils", "av", "pop.engine.executor", "pop.handlers.external"}


def loaded_by(home: Path, *args: str) -> set[str]:
    """The top-level modules (and pop modules) a ``pop`` command line leaves loaded."""
    completed = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        env=pop_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(completed.stderr.splitlines()[-1])
    assert report["code"] in (0, None), completed.stderr
    names: list[str] = report["modules"]
    return {name.split(".")[0] for name in names} | {n for n in names if n.startswith("pop.")}


@pytest.fixture(scope="module")
def stored_agenda(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("home")
    completed = subprocess.run(
        [sys.executable, "-m", "pop", "submit", str(EXAMPLES / "hello.json")],
        env=pop_env(home),
        capture_output=True,
        text=True,
        check=True,
    )
    return home, completed.stdout.strip()


def test_pop_help_loads_no_models_store_or_renderer(tmp_path: Path) -> None:
    loaded = loaded_by(tmp_path, "--help")
    assert not loaded & (HEAVY | {"pydantic", "yaml", "sqlite3", "pop.models", "pop.api"})


@pytest.mark.parametrize("command", [["list"], ["logs", "ID"]])
def test_list_and_logs_load_neither_rich_nor_click_nor_the_registry(
    command: list[str], stored_agenda: tuple[Path, str]
) -> None:
    home, agenda_id = stored_agenda
    args = [agenda_id if word == "ID" else word for word in command]
    assert not loaded_by(home, *args) & (HEAVY | {"yaml", "pop.registry"})


@pytest.mark.parametrize("command", [["status", "ID"], ["submit", "AGENDA"]])
def test_status_and_submit_load_neither_rich_nor_click_nor_the_engine(
    command: list[str], stored_agenda: tuple[Path, str]
) -> None:
    home, agenda_id = stored_agenda
    words = {"ID": agenda_id, "AGENDA": str(EXAMPLES / "hello.json")}
    assert not loaded_by(home, *(words.get(word, word) for word in command)) & (
        HEAVY - {"pop.handlers.external"}
    )
