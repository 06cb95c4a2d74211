"""The documentation keeps up with the code: every command is in docs/cli.md, every command's
help works, and every example under examples/ is mentioned in some doc.

Commands are discovered from the typer app itself, so a new command fails this test until it is
documented.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from pop.cli.app import build_app

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
CLI_DOC = DOCS_DIR / "cli.md"
EXAMPLES_DIR = REPO_ROOT / "examples"


def command_paths(command: object, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand below ``command`` (a click group), as name paths."""
    subcommands = getattr(command, "commands", {}) or {}
    for name in sorted(subcommands):
        subcommand = subcommands[name]
        if getattr(subcommand, "hidden", False):
            continue
        path = (*prefix, name)
        yield path
        yield from command_paths(subcommand, path)


COMMAND_PATHS = list(command_paths(typer.main.get_command(build_app())))
COMMAND_IDS = [" ".join(path) for path in COMMAND_PATHS]


def all_docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS_DIR.rglob("*.md")))


def example_files() -> list[Path]:
    return sorted(path for path in EXAMPLES_DIR.rglob("*") if path.is_file())


def test_the_app_has_commands_to_document() -> None:
    assert {"submit", "run-local", "status"} <= {path[0] for path in COMMAND_PATHS}


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=COMMAND_IDS)
def test_every_command_is_documented_in_cli_md(path: tuple[str, ...]) -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    assert f"pop {' '.join(path)}" in text, f"docs/cli.md does not mention `pop {' '.join(path)}`"


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=COMMAND_IDS)
def test_every_command_help_exits_zero(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(build_app(), [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_the_top_level_help_exits_zero() -> None:
    result = CliRunner().invoke(build_app(), ["--help"])
    assert result.exit_code == 0, result.output


def test_the_examples_folder_is_not_empty() -> None:
    assert example_files()


@pytest.mark.parametrize(
    "example",
    example_files(),
    ids=[path.relative_to(EXAMPLES_DIR).as_posix() for path in example_files()],
)
def test_every_example_is_mentioned_in_some_doc(example: Path) -> None:
    relative = example.relative_to(REPO_ROOT).as_posix()
    assert relative in all_docs_text(), f"no file under docs/ mentions {relative}"
