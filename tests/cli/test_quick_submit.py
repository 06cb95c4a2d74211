"""``pop submit`` through the fast front end (``pop.cli.quick``) against the typer app: the same
command line, run once as is and once with ``POP_QUICK=0``, each into its own fresh POP_HOME from
the same working directory, must end the same way: exit code, stderr, stdout (generated ids
aside) and every row of every table of the store (generated ids and times aside; the JSON
columns compared as the text stored, key order included). The fast path declines whatever it
is not sure of, so the broken, odd and multi-tenant inputs here check that it does
(issue 10 point 9).
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, pop_argv, pop_env, run_pop_at, store_snapshot

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
AGENDA_FILE = "agenda.json"


@dataclass
class Outcome:
    """One run of ``pop submit``: what it printed and the store it left, generated values
    replaced by placeholders."""

    code: int
    stdout: str
    stderr: str
    store: dict[str, Any] | None


@dataclass
class Normaliser:
    """Replaces the values a run generates: each distinct uuid by ``<id1>``, ``<id2>``, ... in
    order of first appearance (in ids, op progress ids ``<progressId>-<op>`` and JSON text
    alike), the epoch-ms times of the run (integers in its time window) by ``<time>``, and the
    run's POP_HOME by ``<home>``."""

    home: Path
    window: tuple[int, int]
    ids: dict[str, str] = field(default_factory=dict)

    def _id(self, match: re.Match[str]) -> str:
        return self.ids.setdefault(match.group(0), f"<id{len(self.ids) + 1}>")

    def is_time(self, value: Any) -> bool:
        low, high = self.window
        return type(value) is int and low <= value <= high

    def text(self, value: str) -> str:
        """A text column or printed output; JSON text keeps its bytes except the generated
        values: the times are found by parsing it (integers in the window, wherever they are),
        then each is replaced as a whole JSON number in the text as stored."""
        value = UUID.sub(self._id, value.replace(str(self.home), "<home>"))
        for number in sorted(self._json_times(value), reverse=True):
            value = re.sub(rf"(?<![\w.\-]){number}(?![\w.])", "<time>", value)
        return value

    def _json_times(self, value: str) -> set[int]:
        stripped = value.strip()
        if not stripped.startswith(("{", "[")):
            return set()
        try:
            parsed = json.loads(stripped)
        except ValueError:
            return set()
        found: set[int] = set()
        stack = [parsed]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
            elif self.is_time(item):
                found.add(item)
        return found

    def cell(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if self.is_time(value):
            return "<time>"
        return value

    def store(self, snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
        """The snapshot with generated values replaced, rows sorted again. store_snapshot sorts
        tables by name, so ids first appear in ``agenda_progress`` (one row per fresh store):
        the same placeholder for the same role on both runs."""
        if snapshot is None:
            return None
        normalised: dict[str, Any] = {}
        for table, rows in snapshot.items():
            if table == "user_version":
                normalised[table] = rows
                continue
            normalised[table] = sorted(
                (tuple(self.cell(value) for value in row) for row in rows), key=repr
            )
        return normalised


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Case:
    """A command line (``pop submit ARGS``) run in a directory holding ``files``; ``home_files``
    are written into each POP_HOME first and ``setup`` lines run there before."""

    args: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    home_files: dict[str, str] = field(default_factory=dict)
    setup: list[list[str]] = field(default_factory=list)


def start(
    home: Path, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], quick: bool
) -> subprocess.Popen[str]:
    extra = dict(env) if quick else {**env, "POP_QUICK": "0"}
    return subprocess.Popen(
        pop_argv("submit", *args),
        env=pop_env(home, extra),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# the homes a ``setup`` makes, by its lines: each built once, then copied into both homes
SEEDS: dict[tuple[tuple[str, ...], ...], Path] = {}


def prepare_home(home: Path, case: Case, cwd: Path, root: Path) -> None:
    key = tuple(tuple(line) for line in case.setup)
    if key and key not in SEEDS:
        seed = root / "seed"
        seed.mkdir()
        for line in case.setup:
            done = subprocess.run(
                pop_argv(*line),
                env=pop_env(seed, {"POP_QUICK": "0"}),
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, (line, done.stderr)
        SEEDS[key] = seed
    if key:
        shutil.copytree(SEEDS[key], home)
    else:
        home.mkdir(parents=True)
    for name, text in case.home_files.items():
        (home / name).write_text(text, encoding="utf-8")


def submit_both(case: Case, root: Path) -> tuple[Outcome, Outcome, dict[str, Any]]:
    """``pop submit`` of ``case`` through the fast front end and through the typer app
    (``POP_QUICK=0``), side by side, each into a fresh POP_HOME under ``root``, both from
    ``root/cwd``; both outcomes normalised, and what each store held before (normalised)."""
    cwd = root / "cwd"
    cwd.mkdir()
    for name, content in case.files.items():
        path = cwd / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    started = now_ms()
    homes = {"quick": root / "quick" / "home", "typer": root / "typer" / "home"}
    for home in homes.values():
        prepare_home(home, case, cwd, root)
    before = {name: store_snapshot(home) for name, home in homes.items()}
    processes = {
        name: start(home, case.args, cwd=cwd, env=case.env, quick=name == "quick")
        for name, home in homes.items()
    }
    printed = {
        name: process.communicate(input=case.stdin or "", timeout=120)
        for name, process in processes.items()
    }
    window = (started, now_ms())
    outcomes: dict[str, Outcome] = {}
    befores: dict[str, Any] = {}
    for name, home in homes.items():
        normaliser = Normaliser(home, window)
        stored = normaliser.store(store_snapshot(home))
        stdout, stderr = printed[name]
        outcomes[name] = Outcome(
            processes[name].returncode,
            normaliser.text(stdout),
            normaliser.text(stderr),
            stored,
        )
        befores[name] = Normaliser(home, window).store(before[name])
    return outcomes["quick"], outcomes["typer"], befores


def assert_same_outcome(case: Case, root: Path) -> Outcome:
    quick, typer, before = submit_both(case, root)
    if "--debug" not in case.args:  # the typer path itself never shows a traceback
        assert "Traceback" not in typer.stderr, typer.stderr
    assert (quick.code, quick.stderr, quick.stdout) == (typer.code, typer.stderr, typer.stdout)
    if quick.store != typer.store and quick.store and typer.store:
        for table in typer.store:  # name the first table that differs: far easier to read
            assert quick.store.get(table) == typer.store[table], table
    assert quick.store == typer.store
    if typer.code != 0:  # an error changes nothing
        assert typer.store == before["typer"]
        assert quick.store == before["quick"]
    return typer


# -- the cases ----------------------------------------------------------------------------------


def agenda(document: Any, *args: str, name: str = AGENDA_FILE, **options: Any) -> Case:
    """A case submitting ``document`` (JSON-dumped unless text) as ``name`` with ``args``."""
    text = document if isinstance(document, str | bytes) else json.dumps(document, indent=2)
    files = {name: text, **options.pop("files", {})}
    return Case(args=[name, *args], files=files, **options)


def ops(*operations: Any, **top: Any) -> dict[str, Any]:
    return {**top, "operations": list(operations)}


def noop(name: str, *, depends: Any = None, payload: Any = None, **more: Any) -> dict[str, Any]:
    operation: dict[str, Any] = {"name": name, "type": "noop", "payload": payload or {}}
    if depends is not None:
        operation["params"] = {"dependsOn": depends}
    operation.update(more)
    return operation


TWO_NOOP = ops(noop("first"), noop("second", depends="first"), title="cli latency")
CUSTOM_REGISTRY = """\
handlers:
  custom:
    command: ["true"]
  noop:
    handler: pop.handlers.sample:run
"""
WITH_CUSTOM = ops({"name": "one", "type": "custom", "payload": {}}, noop("two", depends="one"))
ODD_NOOP = ops(noop("first", payload={"x": 1}), noop("second", payload={"x": "y"}))
FULL = ops(
    noop("first", payload={"out": {"x": [1, 2]}}),
    noop(
        "second",
        depends=["first"],
        payload={"x": "@<first.out::/out/x/0>", "all": "@<first.out>", "id": "@<pop.agendaId>"},
    ),
    {"name": "third", "type": "logMessages", "payload": {"logMessages": ["@<second.out::/x>"]}},
    title="everything given",
    cid="my-correlation",
    customerId="acme",
    linkId="batch-7",
    params={
        "priority": 3,
        "maximumAttempts": "2",
        "externalId": "ext-1",
        "doNotRun": True,
        "submitDir": "/somewhere/else",
    },
)

ACME = ["customer", "add", "--id", "acme", "--title", "Acme"]
TENANCY = [
    ["pool", "add", "--id", "p1", "--title", "P"],
    [
        "insight",
        "add",
        "--id",
        "i1",
        "--pool",
        "p1",
        "--title",
        "I",
        "--mapper",
        "operationType=noop",
    ],
    [*ACME, "--pool", "p1"],
]

CASES: dict[str, Case] = {
    # valid: the shapes the fast path is for, and the examples (``sample`` declares a payload
    # model: those go the typer path, still the same outcome)
    "hello example": Case(args=[str(EXAMPLES / "hello.json")]),
    "failure example": Case(args=[str(EXAMPLES / "failure.json"), "--json"]),
    # handlers with payload models: path fields resolved against the directory, models checked
    "media package example": Case(args=[str(EXAMPLES / "media" / "package.json")]),
    "analysis inputs, relative and not": agenda(
        ops(
            {
                "name": "probe",
                "type": "analysis",
                "payload": {"inputs": ["a.mp4", "sub/b.mp4", "/abs/c.mp4", "http://h/d.mp4"]},
            }
        )
    ),
    "transcode relative input, submitDir given": agenda(
        ops(
            {
                "name": "t",
                "type": "transcode",
                "payload": {"input": "clips/one.mp4", "renditions": [{"name": "360p"}]},
            },
            params={"submitDir": "/data/in"},
        )
    ),
    "transcode duplicate renditions": agenda(
        ops(
            {
                "name": "t",
                "type": "transcode",
                "payload": {"input": "x.mp4", "renditions": [{"name": "a"}, {"name": "a"}]},
            }
        )
    ),
    "thumbnail negative time": agenda(
        ops({"name": "t", "type": "thumbnail", "payload": {"input": "x.mp4", "times": [-1]}})
    ),
    "logMessages": agenda(
        ops({"name": "l", "type": "logMessages", "payload": {"logMessages": ["a"]}})
    ),
    "logMessages not a list": agenda(
        ops({"name": "l", "type": "logMessages", "payload": {"logMessages": "a"}})
    ),
    "payload model with a reference": agenda(
        ops(
            noop("src"),
            {"name": "t", "type": "thumbnail", "payload": {"input": "@<src.out::/file>"}},
        )
    ),
    "two noop ops": agenda(TWO_NOOP),
    "two noop ops --json": agenda(TWO_NOOP, "--json"),
    "references": agenda(
        ops(
            noop("first"),
            noop("second", payload={"x": "@<first.out::/x>", "y": ["@<first.out>"]}),
            noop("third", payload="@<second.out::/a/b>", depends="first, second"),
        )
    ),
    "every field": agenda(FULL),
    "every field and options": agenda(
        FULL, "--customer", "other", "--link-id", "L2", "--priority", "9", "--json"
    ),
    "--customer": agenda(TWO_NOOP, "--customer", "acme"),
    "--customer=": agenda(TWO_NOOP, "--customer=acme", "--json"),
    "--link-id": agenda(TWO_NOOP, "--link-id", "L1", "--json"),
    "--priority 5": agenda(TWO_NOOP, "--priority", "5", "--json"),
    "--priority=-2": agenda(TWO_NOOP, "--priority=-2", "--json"),
    "options first": Case(
        args=["--json", "--priority", "5", AGENDA_FILE], files=agenda(TWO_NOOP).files
    ),
    "priority in params and option": agenda(
        ops(noop("a"), params={"priority": 2}), "--priority", "7", "--json"
    ),
    "doNotRun": agenda(ops(noop("a"), params={"doNotRun": True})),
    "submitDir given": agenda(ops(noop("a"), params={"submitDir": "elsewhere"})),
    "maximumAttempts as number": agenda(ops(noop("a"), params={"maximumAttempts": 50})),
    "maximumAttempts not a number": agenda(ops(noop("a"), params={"maximumAttempts": "many"})),
    "unicode and numbers": agenda(
        ops(
            noop("étape", payload={"t": "héllo ✓ \u2028", "f": 1.0, "e": 1e300}),
            noop("b", payload={"big": 2**70, "neg": -0.0, "nested": {"z": 1, "a": 2}}),
            title="naïve ☃",
        )
    ),
    "generated cid and given id": agenda(ops(noop("a"), id="my-own-id")),
    "given progressId": agenda(ops(noop("a"), progressId="p-1")),
    "given agendaInsight": agenda(ops(noop("a"), agendaInsight={"insightId": "elsewhere"})),
    "given times": agenda(ops(noop("a"), addedTime=5, updatedTime=6)),
    "addedTime true": agenda(ops(noop("a"), addedTime=True)),
    "operation id and extra params": agenda(
        ops(noop("a", id="op-1", params={"dependsOn": [], "note": "x"}))
    ),
    "logMessages op": agenda(
        ops({"name": "note", "type": "logMessages", "payload": {"logMessages": ["hi"]}})
    ),
    "no payload": agenda(ops({"name": "a", "type": "noop"})),
    "dependsOn list and blanks": agenda(
        ops(noop("a"), noop("b"), noop("c", depends=["a", " b ", ""]))
    ),
    "duplicate JSON keys": agenda(
        '{"operations": [], "operations": [{"name": "a", "type": "noop"}]}'
    ),
    "BOM": agenda(b"\xef\xbb\xbf" + json.dumps(TWO_NOOP).encode()),
    "NaN in payload": agenda('{"operations": [{"name": "a", "type": "noop", "payload": NaN}]}'),
    "file in a folder": agenda(TWO_NOOP, name="sub/two.json"),
    "stdin": Case(args=["-"], stdin=json.dumps(TWO_NOOP)),
    "stdin broken": Case(args=["-"], stdin="{"),
    "yaml": agenda("operations:\n  - {name: a, type: noop}\n", name="agenda.yaml"),
    # a user registry in effect: it may add or replace types
    "--registry": agenda(
        WITH_CUSTOM, "--registry", "reg.yaml", files={"reg.yaml": CUSTOM_REGISTRY}
    ),
    "--registry replaces noop": agenda(
        ODD_NOOP, "--registry", "reg.yaml", files={"reg.yaml": CUSTOM_REGISTRY}
    ),
    "POP_REGISTRY": agenda(
        WITH_CUSTOM, files={"reg.yaml": CUSTOM_REGISTRY}, env={"POP_REGISTRY": "reg.yaml"}
    ),
    "./registry.yaml": agenda(ODD_NOOP, files={"registry.yaml": CUSTOM_REGISTRY}),
    "POP_HOME/registry.yaml": agenda(WITH_CUSTOM, home_files={"registry.yaml": CUSTOM_REGISTRY}),
    # a store with customers: the insight mapping decides
    "store with a customer, no insight for it": agenda(
        TWO_NOOP, "--customer", "acme", "--json", setup=[ACME]
    ),
    "store with a customer, another customer": agenda(TWO_NOOP, "--customer", "zed", setup=[ACME]),
    "store with a pool and insight, no customer": agenda(TWO_NOOP, "--json", setup=TENANCY[:2]),
    "multi-tenant store": agenda(TWO_NOOP, "--customer", "acme", "--json", setup=TENANCY),
    "multi-tenant store, customer in the agenda": agenda(
        ops(noop("a"), customerId="acme"), "--json", setup=TENANCY
    ),
    "multi-tenant store, default customer": agenda(TWO_NOOP, "--json", setup=TENANCY),
    "multi-tenant store, type not mapped": agenda(
        ops({"name": "note", "type": "logMessages", "payload": {"logMessages": []}}),
        "--customer",
        "acme",
        setup=TENANCY,
    ),
    "a server": agenda(TWO_NOOP, env={"POP_SERVER": "http://127.0.0.1:9"}),
    # invalid agendas
    "duplicate names": agenda(ops(noop("a"), noop("a"))),
    "duplicate names in case": agenda(ops(noop("a"), noop("A"))),
    "unknown type": agenda(ops({"name": "a", "type": "nope"})),
    "missing type": agenda(ops({"name": "a"})),
    "missing name": agenda(ops({"type": "noop"})),
    "name not a string": agenda(ops({"name": 5, "type": "noop"})),
    "type not a string": agenda(ops({"name": "a", "type": ["noop"]})),
    "dependsOn a missing op": agenda(ops(noop("a", depends="b"))),
    "dependsOn not a string": agenda(ops(noop("a"), noop("b", depends=5))),
    "a cycle": agenda(ops(noop("a", depends="b"), noop("b", depends="a"))),
    "a cycle through references": agenda(
        ops(noop("a", payload={"x": "@<b.out>"}), noop("b", payload={"x": "@<a.out>"}))
    ),
    "self dependency": agenda(ops(noop("a", depends="a"))),
    "reference to a missing op": agenda(ops(noop("a", payload={"x": "@<b.out::/x>"}))),
    "malformed reference": agenda(ops(noop("a"), noop("b", payload={"x": "@<a.out::x"}))),
    "@<pop.payload>": agenda(ops(noop("a", payload={"x": "@<pop.payload>"}))),
    "empty operations": agenda(ops()),
    "no operations key": agenda({"title": "nothing"}),
    "operations not a list": agenda({"operations": {"a": {"type": "noop"}}}),
    "an operation not an object": agenda(ops(noop("a"), "b")),
    "title 5": agenda(ops(noop("a"), title=5)),
    "params a list": agenda(ops(noop("a"), params=[])),
    "addedTime text": agenda(ops(noop("a"), addedTime="x")),
    "addedTime 1.5": agenda(ops(noop("a"), addedTime=1.5)),
    "addedTime 2.0": agenda(ops(noop("a"), addedTime=2.0)),
    "customerId a list": agenda(ops(noop("a"), customerId=["x"])),
    "id 5": agenda(ops(noop("a"), id=5)),
    "agendaInsight a string": agenda(ops(noop("a"), agendaInsight="x")),
    "op params a list": agenda(ops(noop("a", params=["x"]))),
    "customer_id": agenda(ops(noop("a"), customer_id="snake")),
    "link_id": agenda(ops(noop("a"), link_id="snake", progress_id="p")),
    "both customerId and customer_id": agenda(
        ops(noop("a"), customerId="camel", customer_id="snake")
    ),
    "unknown top-level key": agenda(ops(noop("a"), colour="blue")),
    "unknown op key": agenda(ops(noop("a", colour="blue"))),
    "null name": agenda(ops({"name": None, "type": "noop"})),
    "null type": agenda(ops({"name": "a", "type": None})),
    "null params": agenda(ops(noop("a"), params=None)),
    "null op params": agenda(ops({"name": "a", "type": "noop", "params": None})),
    "null title": agenda(ops(noop("a"), title=None)),
    "null payload": agenda(ops({"name": "a", "type": "noop", "payload": None})),
    "payload a string": agenda(ops({"name": "a", "type": "noop", "payload": "x"})),
    "sample payload wrong": agenda(ops({"name": "a", "type": "sample", "payload": {"x": 1}})),
    "not JSON": agenda("this is not json"),
    "empty file": agenda(""),
    "not UTF-8": agenda(b'{"title": "\xff", "operations": []}'),
    "a JSON array": agenda([ops(noop("a"))]),
    "missing file": Case(args=["missing.json"]),
    "a directory": Case(args=["folder"], files={"folder/inner.json": "{}"}),
    "empty file name": Case(args=[""]),
    # what JSON and Python let through: text, numbers and names the stored bytes must keep
    "lone surrogate in title": agenda(
        '{"title": "\\ud800", "operations": [{"name": "a", "type": "noop"}]}'
    ),
    "NUL in title": agenda('{"title": "a\\u0000b", "operations": [{"name": "a", "type": "noop"}]}'),
    "escapes": agenda(
        '{"title": "\\u00e9\\/", "operations": '
        '[{"name": "a", "type": "noop", "payload": {"k\\u00e9": "\\u2028"}}]}'
    ),
    "number formats": agenda(
        '{"operations": [{"name": "a", "type": "noop", '
        '"payload": {"x": -0.0, "y": 1E5, "z": 1.50, "w": 1e999, "v": -0}}]}'
    ),
    "name with spaces": agenda(ops(noop(" a"), noop("b", depends="a"))),
    "name with a dot": agenda(ops(noop("a.b"), noop("c", payload={"x": "@<a.b.out>"}))),
    "type in capitals": agenda(ops({"name": "a", "type": "NOOP"})),
    "maximumAttempts 1e3": agenda(ops(noop("a"), params={"maximumAttempts": "1e3"})),
    "maximumAttempts 2.7": agenda(ops(noop("a"), params={"maximumAttempts": 2.7})),
    "maximumAttempts nan": agenda(ops(noop("a"), params={"maximumAttempts": "nan"})),
    "priority param text": agenda(ops(noop("a"), params={"priority": "5"}), "--json"),
    "priority param 2.5": agenda(ops(noop("a"), params={"priority": 2.5}), "--json"),
    "customerId and cid empty": agenda(ops(noop("a"), customerId="", cid=""), "--json"),
    "logMessages payload wrong": agenda(
        ops({"name": "a", "type": "logMessages", "payload": {"logMessages": 5}})
    ),
    "trailing data": agenda('{"operations": [{"name": "a", "type": "noop"}]} x'),
    # command lines the typer app must judge
    "--priority 1_000": agenda(TWO_NOOP, "--priority", "1_000", "--json"),
    "--priority full-width 5": agenda(TWO_NOOP, "--priority", "\uff15", "--json"),
    "--customer= empty": agenda(TWO_NOOP, "--customer=", "--json"),
    "--link-id empty": agenda(TWO_NOOP, "--link-id", "", "--json"),
    "no file": Case(args=[]),
    "two files": agenda(TWO_NOOP, "other.json"),
    "--priority x": agenda(TWO_NOOP, "--priority", "x"),
    "--priority 1.5": agenda(TWO_NOOP, "--priority", "1.5"),
    "--priority twice": agenda(TWO_NOOP, "--priority", "1", "--priority", "2"),
    "--customer twice": agenda(TWO_NOOP, "--customer", "a", "--customer", "b"),
    "--customer empty": agenda(TWO_NOOP, "--customer", ""),
    "--json twice": agenda(TWO_NOOP, "--json", "--json"),
    "--customer without value": agenda(TWO_NOOP, "--customer"),
    "unknown option": agenda(TWO_NOOP, "--colour", "blue"),
    "-h": agenda(TWO_NOOP, "-h"),
    "--": Case(args=["--", AGENDA_FILE], files=agenda(TWO_NOOP).files),
    "--debug": agenda(ops(noop("a", depends="b")), "--debug"),
}


# inputs on which the typer path once ended in a traceback (exit 1): now refused with one line
# (exit 2, the store unchanged), or for maximumAttempts "inf" read as the default
REFUSED_INPUTS: dict[str, Case] = {
    "--priority 2**70": agenda(TWO_NOOP, "--priority", str(2**70)),
    "priority param 2**70": agenda(ops(noop("a"), params={"priority": 2**70})),
    "maximumAttempts inf": agenda(ops(noop("a"), params={"maximumAttempts": "inf"})),
    "lone surrogate in an op name": agenda('{"operations": [{"name": "\\ud800", "type": "noop"}]}'),
    "payload nested 5000 deep": agenda(
        '{"operations": [{"name": "a", "type": "noop", "payload": %s}]}' % ("[" * 5000 + "]" * 5000)
    ),
}


@pytest.mark.parametrize(
    "name",
    [
        *CASES,
        *REFUSED_INPUTS,
    ],
)
def test_submit_ends_the_same_way_through_both_front_ends(name: str, tmp_path: Path) -> None:
    case = CASES[name] if name in CASES else REFUSED_INPUTS[name]
    outcome = assert_same_outcome(case, tmp_path)
    if name in REFUSED_INPUTS and name != "maximumAttempts inf":
        assert outcome.code == 2
        assert outcome.stderr.startswith("error: "), outcome.stderr


def test_the_valid_cases_do_store_their_agenda(tmp_path: Path) -> None:
    """The comparison above means something: a plain agenda is stored and queued."""
    typer = assert_same_outcome(CASES["two noop ops --json"], tmp_path)
    assert typer.code == 0 and typer.store is not None
    assert json.loads(typer.stdout)["agendaId"] == "<id2>"
    assert len(typer.store["agendas"]) == len(typer.store["ready_queue"]) == 1
    assert [row[2] for row in typer.store["operation_progress"]] == ["first", "second"]


# -- generated agendas --------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d", "A", ""])
TYPES = st.sampled_from(["noop"] * 20 + ["logMessages", "sample", "nope", "", None])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), st.text(max_size=4)
)
WRONG = st.one_of(
    st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)
)
EXTRA_KEYS = st.sampled_from(["colour", "customer_id", "link_id", "progressId", "id"])
TOP_LEVEL = ["title", "params", "cid", "customerId", "linkId", "addedTime", "operations"]


def references(names: list[str]) -> st.SearchStrategy[str]:
    """``@<name.out...>`` tokens, mostly to ``names`` (earlier ops: the DAG is often valid)."""
    others = st.sampled_from(["@<pop.agendaId>"] * 6 + ["@<z.out>", "@<pop.payload>", "@<a.out::x"])
    if not names:
        return others
    return st.one_of(
        st.sampled_from(names).map(lambda name: f"@<{name}.out>"),
        st.sampled_from(names).map(lambda name: f"@<{name}.out::/x>"),
        others,
    )


def payloads(names: list[str]) -> st.SearchStrategy[Any]:
    leaf = st.one_of(SCALARS, references(names), references(names).map(lambda t: f"x {t} y"))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
        ),
        max_leaves=5,
    )


@st.composite
def operation(draw: st.DrawFn, name: str, earlier: list[str]) -> dict[str, Any]:
    """An op, mostly valid: its dependencies and references point at earlier ops."""
    operation: dict[str, Any] = {"name": name, "type": draw(TYPES)}
    if operation["type"] == "logMessages":
        operation["payload"] = {"logMessages": draw(st.lists(st.text(max_size=5), max_size=2))}
    elif draw(st.integers(0, 3)):
        operation["payload"] = draw(
            st.dictionaries(st.sampled_from("xyz"), payloads(earlier), max_size=3)
        )
    if earlier and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2))
        depends: Any = chosen if draw(st.booleans()) else ", ".join(chosen)
        operation["params"] = {"dependsOn": depends}
    return operation


MUTATIONS = st.sampled_from(
    [
        "op not an object",
        "op without name",
        "op without type",
        "op field null",
        "op field wrong type",
        "op extra key",
        "dependsOn anything",
        "top-level wrong type",
        "top-level null",
        "top-level extra key",
        "operations wrong",
        "a JSON array",
    ]
)


def mutate(draw: st.DrawFn, document: dict[str, Any], mutation: str) -> Any:
    """``document`` broken in one way (or, for some draws, left valid by the same step)."""
    operation_list = document["operations"]
    target = draw(st.integers(0, len(operation_list) - 1))
    chosen = operation_list[target]
    if mutation.startswith(("op ", "dependsOn")) and not isinstance(chosen, dict):
        return document  # broken already
    if mutation == "op not an object":
        operation_list[target] = draw(WRONG)
    elif mutation == "op without name":
        chosen.pop("name", None)
    elif mutation == "op without type":
        chosen.pop("type", None)
    elif mutation == "op field null":
        chosen[draw(st.sampled_from(["name", "type", "params", "payload"]))] = None
    elif mutation == "op field wrong type":
        chosen[draw(st.sampled_from(["name", "type", "params", "id"]))] = draw(WRONG)
    elif mutation == "op extra key":
        chosen[draw(EXTRA_KEYS)] = draw(SCALARS)
    elif mutation == "dependsOn anything":
        chosen["params"] = {"dependsOn": draw(st.one_of(NAMES, st.lists(NAMES), WRONG))}
    elif mutation in ("top-level wrong type", "top-level null"):
        key = draw(st.sampled_from(TOP_LEVEL))
        document[key] = draw(WRONG) if mutation == "top-level wrong type" else None
    elif mutation == "top-level extra key":
        document[draw(EXTRA_KEYS)] = draw(SCALARS)
    elif mutation == "operations wrong":
        document["operations"] = draw(WRONG)
    else:
        return [document]
    return document


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """Agenda-like documents: op names from a small alphabet (so duplicates, also in case, and
    references collide), mostly-valid structure with zero to two things broken."""
    if draw(st.integers(0, 2)):
        names = draw(st.lists(st.sampled_from("abcd"), min_size=1, max_size=4, unique=True))
    else:  # duplicates, also in case, and empty names
        names = draw(st.lists(NAMES, min_size=1, max_size=4))
    operation_list = [
        operation(name, [other for other in names[:index] if other != name])
        for index, name in enumerate(names)
    ]
    document: dict[str, Any] = {"operations": [draw(item) for item in operation_list]}
    for key, values in (
        ("title", st.text(max_size=5)),
        ("params", st.fixed_dictionaries({}, optional={"priority": SCALARS, "doNotRun": SCALARS})),
        ("cid", st.text(max_size=3)),
        ("customerId", st.sampled_from(["acme", "default"])),
        ("linkId", st.text(max_size=3)),
        ("addedTime", st.integers(0, 10)),
    ):
        if draw(st.integers(0, 3)) == 0:
            document[key] = draw(values)
    result: Any = document
    for mutation in draw(st.lists(MUTATIONS, max_size=draw(st.sampled_from([0, 1, 1, 2])))):
        if isinstance(result, dict) and isinstance(result.get("operations"), list):
            result = mutate(draw, result, mutation) if result["operations"] else result
    return result


OPTIONS = st.lists(
    st.sampled_from([("--json",), ("--priority", "4"), ("--customer", "acme"), ("--link-id", "L")]),
    max_size=2,
    unique=True,
)


@settings(max_examples=25, deadline=None)
@given(document=documents(), options=OPTIONS)
def test_generated_agendas_end_the_same_way_through_both_front_ends(
    tmp_path_factory: pytest.TempPathFactory, document: Any, options: list[tuple[str, ...]]
) -> None:
    args = [word for option in options for word in option]
    case = agenda(document, *args)
    assert_same_outcome(case, tmp_path_factory.mktemp("generated"))


# -- the fast path engages ----------------------------------------------------------------------

BARE_MAIN = "import sys; from pop.cli import main; main(sys.argv[1:])"


def test_a_plain_submit_runs_without_site_packages(tmp_path: Path) -> None:
    """``python -S``: no site-packages, so neither pydantic nor typer can even be imported; a
    plain agenda of noop ops is still validated, stored and queued, into a store made by an
    earlier command (a new store's schema is built with sqlite-utils, which -S cannot load)."""
    (tmp_path / "two_noop.json").write_text(json.dumps(TWO_NOOP), encoding="utf-8")
    home = tmp_path / "home"
    assert run_pop_at(home, "list").returncode == 0
    done = subprocess.run(
        [sys.executable, "-S", "-c", BARE_MAIN, "submit", "two_noop.json"],
        env=pop_env(home),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    try:
        stored = connection.execute("SELECT id FROM agendas").fetchall()
        queued = connection.execute("SELECT agenda_id FROM ready_queue").fetchall()
        operation_rows = connection.execute(
            "SELECT operation FROM operation_progress ORDER BY seq"
        ).fetchall()
    finally:
        connection.close()
    assert stored == queued == [(done.stdout.strip(),)]
    assert operation_rows == [("first",), ("second",)]
