"""The documentation keeps up with the code: every command is in docs/cli.md, every command's
help works, every example under examples/ is mentioned in some doc, no doc calls a shipped
command, option, runtime or field "planned" / "not built yet" / "not yet applied", the module
map and table list of docs/architecture.md match pop/ and the store, and `.importlinter` names
the document that describes its layers.

Commands are discovered from the typer app itself, so a new command fails this test until it is
documented.
"""

from __future__ import annotations

import asyncio
import configparser
import functools
import re
import sqlite3
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
import typer.main
from typer.testing import CliRunner

import pop.models
from pop.cli.app import build_app
from pop.errors import RuntimeUnavailableError
from pop.registry import Registry
from pop.runtimes import RUNTIME_NAMES, create_launcher
from pop.store.schema import migrate

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
CLI_DOC = DOCS_DIR / "cli.md"
ARCHITECTURE_DOC = DOCS_DIR / "architecture.md"
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


# -- no doc calls a shipped thing "planned" ------------------------------------------------------
#
# A claim is a phrase such as "planned", "not built yet" or "not yet applied". Its subjects are the
# things named in the smallest scope around it that names any: the parenthesis it sits in, then
# the enclosing parentheses, then its clause (split at ";") and sentence, and in a table row
# finally the row's first cell. A subject is a `code span` that is a command (`pop reap data`),
# an option (`--launch docker`), a runtime, a registry field, a model field, an agenda or op
# param, a store table or a module path, or a prose name of a command ("executor daemon"). The
# claim is wrong when one of its subjects is shipped.

NOT_BUILT = re.compile(
    r"\bplanned\b|\bnot built\b|\bnot (?:\w+ )?yet\b|\bdoes not implement\b|\bnot implemented\b"
    r"|\bwill follow\b|\bcoming soon\b|\bnot available in this version\b",
    re.IGNORECASE,
)
# prose names of shipped features -> the command that ships them
PROSE_NAMES = {
    r"\bexecutor daemon\b": ("executor",),
    r"\breclaimer\b": ("reclaim",),
    r"\bretrier\b": ("retry",),
    r"\bdata reaper\b": ("reap", "data"),
    r"\bprogress summary\b": ("progress", "summary"),
    r"\binsight mapping\b|\bqueue selection\b|\bscheduling\b": ("insight",),
    r"\btemplate features?\b": ("template",),
}
# registry fields the local runtime and the engine apply today (the others are POP's PodConfig
# fields for the container runtimes, accepted and shown only)
SHIPPED_REGISTRY_FIELDS = frozenset(
    {
        "handler",
        "command",
        "resident",
        "protocol",
        "cpuMinRequestCount",
        "timeoutSeconds",
        "silenceTimeoutSeconds",
        "podStdoutTimeout",
        "retries",
        "external",
        "envVars",
        "labels",
    }
)
# agenda and op params with a meaning (see docs/concepts.md)
SHIPPED_PARAMS = frozenset(
    {
        "dependsOn",
        "timeoutSeconds",
        "silenceTimeoutSeconds",
        "retries",
        "generatedOperationParent",
        "agenda.operation.generator",
        "operationsJsonPointer",
        "logOnly",
        "doNotRun",
        "maximumAttempts",
        "defaultInsight",
        "externalId",
        "priority",
        "workDir",
    }
)


@dataclass(frozen=True)
class Subject:
    """A thing a doc names, and whether pop ships it."""

    kind: str
    name: str
    shipped: bool


@dataclass(frozen=True)
class Shipped:
    """What this pop has: the command tree, options, runtimes, fields, params, tables."""

    root: Any
    options: frozenset[str]
    available_runtimes: frozenset[str]
    registry_fields: frozenset[str]
    model_fields: frozenset[str]
    tables: frozenset[str]


def store_tables() -> frozenset[str]:
    connection = sqlite3.connect(":memory:")
    try:
        migrate(connection)
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    finally:
        connection.close()
    return frozenset(name for (name,) in rows)


def runtime_is_available(name: str) -> bool:
    try:
        launcher = create_launcher(name)
    except RuntimeUnavailableError:
        return False
    asyncio.run(launcher.close())
    return True


def command_options(command: Any) -> Iterator[str]:
    for param in getattr(command, "params", []):
        for option in [*param.opts, *param.secondary_opts]:
            if option.startswith("-"):
                yield option
    for subcommand in (getattr(command, "commands", None) or {}).values():
        yield from command_options(subcommand)


@functools.cache
def shipped() -> Shipped:
    root = typer.main.get_command(build_app())
    sample = Registry.from_documents([("doc test", {"handlers": {"x": {"command": ["true"]}}})])
    models = [
        value
        for value in (getattr(pop.models, name) for name in pop.models.__all__)
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
    ]
    return Shipped(
        root=root,
        options=frozenset(command_options(root)),
        available_runtimes=frozenset(name for name in RUNTIME_NAMES if runtime_is_available(name)),
        registry_fields=frozenset(sample.to_document()["handlers"]["x"]),
        model_fields=frozenset(
            field.alias or name for model in models for name, field in model.model_fields.items()
        ),
        tables=store_tables(),
    )


def option_subject(words: list[str], known: frozenset[str] | set[str]) -> Subject:
    """`--launch docker|kubernetes`: shipped when the option exists and, for a runtime value,
    when one of the runtimes is available."""
    option = words[0].split("=", 1)[0]
    value = words[0].split("=", 1)[1] if "=" in words[0] else (words[1] if len(words) > 1 else "")
    label = " ".join(words)
    if option not in known:
        return Subject("option", label, False)
    runtimes = value.split("|")
    if value and all(runtime in RUNTIME_NAMES for runtime in runtimes):
        available = shipped().available_runtimes
        return Subject("runtime", label, any(r in available for r in runtimes))
    return Subject("option", label, True)


def command_subject(words: list[str]) -> Subject | None:
    """`pop reap data --dry-run`: shipped when every subcommand (and the option) exists."""
    node = shipped().root
    path: list[str] = []
    label = "pop " + " ".join(words)
    for index, word in enumerate(words):
        if word.startswith("-"):
            return option_subject(words[index:], set(command_options(node)))
        subcommands = getattr(node, "commands", None)
        if subcommands is None:
            break  # a leaf command: the rest are its arguments
        names = word.split("|")
        if not all(name in subcommands for name in names):
            return Subject("command", label, False)
        node = subcommands[names[0]]
        path.append(word)
    return Subject("command", label, True) if path else None


def classify(token: str) -> Subject | None:
    """What a `code span` names, if it is something this checker knows about."""
    token = token.strip().rstrip(":.,")
    if token.startswith("$ "):
        token = token[2:]
    known = shipped()
    if token.startswith("pop "):
        return command_subject(token.split()[1:])
    if token.startswith("-"):
        return option_subject(token.split(), known.options)
    if token in RUNTIME_NAMES:
        return Subject("runtime", token, token in known.available_runtimes)
    if token.startswith("pop/"):
        return Subject("module", token, (REPO_ROOT / token.split()[0]).exists())
    if token in known.tables:
        return Subject("table", token, True)
    for name in dict.fromkeys([token, token.rsplit(".", 1)[-1]]):
        if name in known.model_fields or name in SHIPPED_PARAMS:
            return Subject("field", token, True)
        if name in known.registry_fields:
            return Subject("registry field", token, name in SHIPPED_REGISTRY_FIELDS)
    if token in (getattr(known.root, "commands", None) or {}):
        return Subject("command", token, True)
    return None


CODE_SPAN = re.compile(r"`([^`]+)`")


def masked(text: str) -> str:
    """``text`` with every code span's content blanked (same length), so that phrases, brackets
    and separators inside code are not seen."""
    return CODE_SPAN.sub(lambda match: "`" + " " * len(match.group(1)) + "`", text)


def subjects_in(text: str) -> list[Subject]:
    found = [subject for token in CODE_SPAN.findall(text) if (subject := classify(token))]
    plain = masked(text)
    for pattern, command in PROSE_NAMES.items():
        if re.search(pattern, plain, re.IGNORECASE):
            found.append(Subject("command", "pop " + " ".join(command), True))
    return found


def piece_at(text: str, position: int, separators: str) -> tuple[int, int]:
    """The span of the piece of ``text`` around ``position``, split at ``separators`` outside
    brackets and code."""
    plain, depth, start = masked(text), 0, 0
    for index, char in enumerate(plain):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and char in separators:
            sentence_end = char in ".!?" and (index + 1 == len(plain) or plain[index + 1] == " ")
            if char == ";" or sentence_end:
                if index >= position:
                    return start, index
                start = index + 1
    return start, len(text)


def scopes(text: str, position: int) -> Iterator[str]:
    """The scopes around ``position``, innermost first: each enclosing parenthesis (its clause
    there), then the clause and sentence of the whole text."""
    plain, opened, spans = masked(text), [], []
    for index, char in enumerate(plain):
        if char == "(":
            opened.append(index)
        elif char == ")" and opened:
            start = opened.pop()
            if start < position < index:
                spans.append((start + 1, index))
    examined: tuple[int, int] | None = None
    for start, end in [*sorted(spans, key=lambda span: -span[0]), (0, len(text))]:
        inner = text[start:end]
        if examined:  # the parenthesis looked at already named nothing: leave it out
            inner = (
                inner[: examined[0] - start]
                + " " * (examined[1] - examined[0])
                + inner[examined[1] - start :]
            )
        piece_start, piece_end = piece_at(inner, position - start, ";.!?")
        yield inner[piece_start:piece_end]
        examined = (start, end)


@dataclass(frozen=True)
class Unit:
    """A piece of markdown a claim is read in: a paragraph or list item, a table row, a
    heading or one line of a code block."""

    line: int
    kind: str
    text: str


def units(markdown: str) -> Iterator[Unit]:
    paragraph: list[str] = []
    first = 0
    in_code = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        stripped = line.strip()
        starts_item = re.match(r"([-*]|\d+\.) ", stripped) is not None
        if paragraph and (
            not stripped or in_code or stripped.startswith(("```", "#", "|")) or starts_item
        ):
            yield Unit(first, "prose", " ".join(paragraph))
            paragraph = []
        if stripped.startswith("```"):
            in_code = not in_code
        elif in_code:
            yield Unit(number, "code", line)
        elif stripped.startswith("#"):
            yield Unit(number, "heading", stripped.lstrip("#").strip())
        elif stripped.startswith("|"):
            yield Unit(number, "row", stripped)
        elif stripped:
            if not paragraph:
                first = number
            paragraph.append(stripped)
    if paragraph:
        yield Unit(first, "prose", " ".join(paragraph))


def row_cells(row: str) -> list[tuple[int, str]]:
    """The cells of a table row with their offsets, split at `|` outside code."""
    plain, cells, start = masked(row), [], 0
    for index, char in enumerate(plain):
        if char == "|":
            if index > start:
                cells.append((start, row[start:index]))
            start = index + 1
    return [(offset, cell) for offset, cell in cells if cell.strip()]


def claim_subjects(unit: Unit, position: int) -> list[Subject]:
    if unit.kind == "code":
        key = re.match(r"\s*(?:\$ )?([\w.-]+(?: [\w|.-]+)*?)\s*:", unit.text)
        command = re.match(r"\s*(?:\$ )?(pop(?: [\w|-]+)+)", unit.text)
        subject = classify(command.group(1)) if command else None
        if subject is None and key:
            subject = classify(key.group(1))
        return [subject] if subject else []
    if unit.kind == "heading":
        name = NOT_BUILT.sub("", unit.text).strip(" ()`:")
        subject = classify(name)
        return [subject] if subject else subjects_in(unit.text)
    text, offset = unit.text, 0
    if unit.kind == "row":
        cells = row_cells(unit.text)
        offset, text = next((o, c) for o, c in cells if o <= position <= o + len(c))
    for scope in scopes(text, position - offset):
        found = subjects_in(scope)
        if found:
            return found
    if unit.kind == "row":
        return subjects_in(row_cells(unit.text)[0][1])
    return []


def wrong_claims(markdown: str, source: str = "<doc>") -> list[str]:
    """Every place in ``markdown`` that calls a shipped thing planned or not built."""
    wrong = []
    for unit in units(markdown):
        for match in NOT_BUILT.finditer(masked(unit.text)):
            for subject in claim_subjects(unit, match.start()):
                if subject.shipped:
                    wrong.append(
                        f"{source}:{unit.line}: calls the shipped {subject.kind} "
                        f"`{subject.name}` {match.group(0)!r}: {unit.text.strip()[:160]}"
                    )
    return list(dict.fromkeys(wrong))


DOCS_WITH_CLAIMS = [*sorted(DOCS_DIR.glob("*.md")), REPO_ROOT / "README.md"]


@pytest.mark.parametrize(
    "doc", DOCS_WITH_CLAIMS, ids=[p.relative_to(REPO_ROOT).as_posix() for p in DOCS_WITH_CLAIMS]
)
def test_no_doc_calls_a_shipped_command_or_field_not_built(doc: Path) -> None:
    source = doc.relative_to(REPO_ROOT).as_posix()
    wrong = wrong_claims(doc.read_text(encoding="utf-8"), source)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "markdown",
    [
        "Note: the executor daemon that takes queued agendas is not built yet; run it with X.",
        "`pop executor` is planned.",
        "Planned and not yet available: `pop reap data`, `pop image build`.",
        "`pop status --watch` is not built yet.",
        "| `--launch R` | `local` is planned |",
        "| `retries` | (planned) `{limit, backoffSeconds}`; default no retries |",
        "| `external` | (planned) per binary (`ffmpeg: {...}`); not yet applied by the ctx |",
        "| `templates`, `insights` | `id` | created for the template features; not used yet |",
        "| `pop/scheduling/` | (planned) insight mapping and queue selection |",
        "Words this version does not implement yet: the *reclaimer and retrier* services.",
        "## pop batch (planned)",
        "```yaml\nhandlers:\n  x:\n    silenceTimeoutSeconds: 60   # planned\n```",
        "The field `linkId` is not yet applied.",
    ],
)
def test_the_claim_check_flags_a_shipped_thing_called_not_built(markdown: str) -> None:
    assert wrong_claims(markdown)


@pytest.mark.parametrize(
    "markdown",
    [
        "Not built yet: `pop dashboard`, `pop timeline`.",
        "| `--launch R` | for handlers: `local` (default), `docker`; `kubernetes` is planned |",
        "| `kubernetes` | planned; `--launch kubernetes` exits 3 |",
        "## kubernetes (planned)",
        '| `cpuMaxRequestCount` | CPU limit (containers, planned); default `"1.0"` |',
        "| `MY_POD_NAME` | the pod's name (kubernetes, planned) |",
        "Pointers are not checked at submission (the value is not known yet).",
        "Handlers get `POP_EXTERNAL` (its `image` is for docker, not built yet) and `--cpus`.",
        "| `memoryRequestCount` | request (`1G`; docker, not built yet; not on `local`) |",
        "`pop timeline` is planned; `pop reap data` and `pop reap containers` run today.",
        "```yaml\nworkVolume:   # optional, kubernetes (planned)\n```",
    ],
)
def test_the_claim_check_leaves_true_claims_alone(markdown: str) -> None:
    assert wrong_claims(markdown) == []


def test_the_names_the_claim_check_treats_as_shipped_are_real() -> None:
    known = shipped()
    assert known.registry_fields >= SHIPPED_REGISTRY_FIELDS
    sources = "\n".join(path.read_text(encoding="utf-8") for path in REPO_ROOT.glob("pop/**/*.py"))
    assert [name for name in SHIPPED_PARAMS if f'"{name}"' not in sources] == []
    assert {"local", "fake"} <= known.available_runtimes
    for words in PROSE_NAMES.values():
        subject = command_subject(list(words))
        assert subject is not None and subject.shipped, words


def test_the_package_description_claims_no_runtime_that_is_not_built() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    description = project["description"].lower()
    for runtime in ("docker", "kubernetes"):
        if runtime not in shipped().available_runtimes:
            assert runtime not in description or NOT_BUILT.search(description), description


# -- docs/architecture.md matches pop/, the store and .importlinter ------------------------------


def section(markdown: str, title: str) -> str:
    """The text of the ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no '## {title}' section"
    return match.group(1)


def first_cells(section_text: str) -> list[str]:
    """The code spans in the first cell of every table row (header and separator excluded)."""
    names = []
    for line in section_text.splitlines():
        cells = row_cells(line.strip()) if line.startswith("|") else []
        if cells and not set(cells[0][1].strip()) <= set("-:"):
            names.extend(CODE_SPAN.findall(cells[0][1]))
    return names


def module_map() -> list[str]:
    text = section(ARCHITECTURE_DOC.read_text(encoding="utf-8"), "Module map")
    return [name for name in first_cells(text) if name.startswith("pop/")]


def test_every_path_in_the_module_map_exists() -> None:
    assert module_map()
    assert [path for path in module_map() if not (REPO_ROOT / path).exists()] == []


def test_every_module_under_pop_is_in_the_module_map() -> None:
    listed = module_map()
    missing = []
    for module in sorted(REPO_ROOT.glob("pop/**/*.py")):
        path = module.relative_to(REPO_ROOT).as_posix()
        folders = [name for name in listed if name.endswith("/") and path.startswith(name)]
        package = path.removesuffix("__init__.py") if module.name == "__init__.py" else None
        inside = package is not None and any(name.startswith(package) for name in listed)
        if path not in listed and not folders and not inside:
            missing.append(path)
    assert missing == [], (
        f"docs/architecture.md's module map has no row for {missing} "
        "(add a row naming the module or its folder)"
    )


def test_the_architecture_table_list_is_the_stores_tables() -> None:
    text = section(ARCHITECTURE_DOC.read_text(encoding="utf-8"), "The store")
    assert set(first_cells(text)) == store_tables()


def importlinter() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / ".importlinter", encoding="utf-8")
    return config


def test_the_layers_in_architecture_md_are_the_importlinter_layers() -> None:
    text = section(ARCHITECTURE_DOC.read_text(encoding="utf-8"), "Layers")
    line = next(line for line in text.splitlines() if "→" in line)
    documented = [{name.strip() for name in layer.split("|")} for layer in line.split("→")]
    contract = importlinter()["importlinter:contract:layers"]["layers"]
    enforced = [
        {name.strip().removeprefix("pop.") for name in layer.split("|")}
        for layer in contract.split("\n")
        if layer.strip()
    ]
    assert documented == enforced


def test_importlinter_contracts_cite_documents_the_repo_has() -> None:
    cited = []
    for name in importlinter().sections():
        title = importlinter()[name].get("name", "")
        for doc, heading in re.findall(r'([\w./-]+\.md)(?:, "([^"]+)")?', title):
            cited.append(doc)
            assert (REPO_ROOT / doc).is_file(), f"{name} cites {doc}, which the repo lacks"
            if heading:
                section((REPO_ROOT / doc).read_text(encoding="utf-8"), heading)
    assert cited, "the layers contract should name the document that describes the layers"
