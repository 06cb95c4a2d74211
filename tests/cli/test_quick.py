"""The fast front end (``pop.cli.quick``): ``pop --help``, ``status``, ``list`` and ``logs``
answered before typer, rich or pydantic is imported (issue 10 point 9;
``benchmarks/cli_latency.py`` measures the time). Each line it answers prints what the typer app
prints for it (``POP_QUICK=0``), it declines every line it does not fully understand, and the
store's wire JSON it shows reads the same as the models the library builds from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pop.cli import render
from pop.cli.listing import LISTING
from pop.cli.listing import render as render_listing
from pop.models import AgendaProgress
from pop.models.causes import agenda_cause
from pop.models.views import AgendaProgressView
from pop.store import views
from pop.store.db import Database
from tests.cli.loaded import LOADED
from tests.conftest import EXAMPLES, pop_argv, pop_env, run_pop_at


def test_the_stored_listing_is_what_the_typer_app_prints() -> None:
    assert render_listing() == LISTING, "run `python -m pop.cli.listing` to write it again"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a succeeded, a failed (with its cause), a waiting and a cancelled agenda;
    each one's id (and the home under "home")."""
    home = tmp_path_factory.mktemp("quick") / "home"
    ids: dict[str, str] = {"home": str(home)}
    for name, args in (
        ("succeeded", ["run-local", str(EXAMPLES / "hello.json"), "--quiet", "--json"]),
        ("failed", ["run-local", str(EXAMPLES / "failure.json"), "--quiet", "--json"]),
    ):
        ran = run_pop_at(home, *args)
        ids[name] = json.loads(ran.stdout)["agendaId"]
    for name in ("waiting", "cancelled"):
        submitted = run_pop_at(home, "submit", str(EXAMPLES / "hello.json"))
        assert submitted.returncode == 0, submitted.stderr
        ids[name] = submitted.stdout.strip()
    cancelled = run_pop_at(home, "cancel", ids["cancelled"])
    assert cancelled.returncode == 0, cancelled.stderr
    return ids


def run(store: dict[str, str], args: list[str], *, quick: bool) -> subprocess.CompletedProcess[str]:
    env = pop_env(Path(store["home"]), None if quick else {"POP_QUICK": "0"})
    words = [store[word[3:]] if word.startswith("ID:") else word for word in args]
    return subprocess.run(
        pop_argv(*words), env=env, capture_output=True, text=True, timeout=60, check=False
    )


LINES = [
    ["status", "ID:succeeded"],
    ["status", "ID:failed"],
    ["status", "ID:waiting"],
    ["status", "ID:cancelled"],
    ["status", "ID:failed", "--json"],
    ["--json", "status", "ID:failed"],  # not a quick line: the option is before the command
    ["status", "--json", "ID:cancelled"],
    ["status", "no-such-agenda"],
    ["status"],
    ["status", "ID:succeeded", "--watch"],
    ["list"],
    ["list", "--json"],
    ["list", "-w"],
    ["list", "--wide", "--state", "complete"],
    ["list", "--state=waiting", "--customer", "default", "--limit", "1"],
    ["list", "--state", "bogus"],
    ["list", "--limit", "x"],
    ["list", "--json", "--json"],
    ["list", "extra"],
    ["logs", "ID:failed"],
    ["logs", "ID:failed", "transcode"],
    ["logs", "ID:failed", "--json"],
    ["logs", "ID:failed", "nope"],
    ["logs", "ID:succeeded", "-h"],
    ["--help"],
    ["-h"],
    [],
    ["--version"],
]


@pytest.mark.parametrize("args", LINES, ids=lambda args: " ".join(args) or "(none)")
def test_a_line_prints_what_the_typer_app_prints(store: dict[str, str], args: list[str]) -> None:
    fast = run(store, args, quick=True)
    typer = run(store, args, quick=False)
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        typer.returncode,
        typer.stdout,
        typer.stderr,
    )


# what the quick lines must never load: each costs a command several times python's start-up
SLOW = {"pydantic", "typer", "click", "rich", "yaml", "sqlite_utils", "asyncio", "jsonpointer"}
# the standard library's slow imports: typing, dataclasses (inspect), pathlib and shutil each
# cost 3 to 15 ms; the quick modules import them only for type checking
SLOW_STDLIB = {"typing", "dataclasses", "inspect", "pathlib", "shutil"}


def loaded(
    store: dict[str, str], args: list[str], *, bare: bool = False
) -> tuple[int | None, set[str]]:
    """The exit code of ``pop ARGS`` and the top-level modules loaded when it ends; ``bare``:
    run by ``python -S`` (no site: neither an editable install's finder, which loads typing
    and pathlib itself, nor site-packages, so pydantic, typer and rich cannot even load)."""
    words = [store[word[3:]] if word.startswith("ID:") else word for word in args]
    completed = subprocess.run(
        [sys.executable, *(["-S"] if bare else []), "-c", LOADED, *words],
        env=pop_env(Path(store["home"])),
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(completed.stderr.splitlines()[-1])
    return report["code"], {name.split(".")[0] for name in report["modules"]}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        [],
        ["status", "ID:failed"],
        ["status", "ID:cancelled", "--json"],
        ["list"],
        ["list", "--wide", "--state", "waiting"],
        ["logs", "ID:failed", "transcode"],
        ["status", "no-such-agenda"],
    ],
    ids=lambda args: " ".join(args) or "(none)",
)
def test_a_quick_line_loads_no_slow_module(store: dict[str, str], args: list[str]) -> None:
    code, modules = loaded(store, args, bare=True)
    assert code in (0, None, 4)
    assert not modules & (SLOW | SLOW_STDLIB)


@pytest.mark.parametrize(
    "args",
    [["status", "ID:succeeded", "--watch"], ["list", "--limit", "x"], ["logs", "ID:failed", "-h"]],
)
def test_a_line_the_quick_front_end_declines_goes_to_typer(
    store: dict[str, str], args: list[str]
) -> None:
    assert "typer" in loaded(store, args)[1]


def test_a_line_for_a_server_goes_to_typer(store: dict[str, str]) -> None:
    words = ["list", "--json"]
    for extra in ({"POP_SERVER": "http://127.0.0.1:9"}, {}):
        completed = subprocess.run(
            [sys.executable, "-c", LOADED, *words],
            env=pop_env(Path(store["home"]), extra),
            capture_output=True,
            text=True,
            check=False,
        )
        modules = json.loads(completed.stderr.splitlines()[-1])["modules"]
        assert ("pop.api.remote" in modules) == bool(extra)


def test_the_wire_json_reads_as_the_models_do(store: dict[str, str]) -> None:
    """What ``status --json`` prints (the store's wire JSON) is, key for key and in order, what
    the model built from it gives back; the human views and the causes read the same."""
    db = Database(Path(store["home"]) / "pop.db")
    for name in ("succeeded", "failed", "waiting", "cancelled"):
        wire = views.progress_wire(db, store[name])
        model = AgendaProgress.model_validate(wire)
        assert json.dumps(model.to_wire()) == json.dumps(wire)
        view = AgendaProgressView(wire)
        assert render.progress_lines(view) == render.progress_lines(model)
        assert render.agenda_message(view) == render.agenda_message(model)
        assert render.agenda_line(view) == render.agenda_line(model)
        lines: list[list[str]] = []
        for item in (view, model):
            columns = render.list_columns([item], wide=True)
            lines.append(columns.lines(width=None, colour=False))
        assert lines[0] == lines[1]
        assert agenda_cause(view) == agenda_cause(model)
    failed = agenda_cause(AgendaProgressView(views.progress_wire(db, store["failed"])))
    assert failed is not None and "no such file" in failed.message


def test_an_agenda_s_json_is_the_same_through_the_library(store: dict[str, str]) -> None:
    from pop.api import Client
    from pop.config import Settings

    client = Client(Settings(home=Path(store["home"])))
    shown: Any = json.loads(run(store, ["list", "--json"], quick=True).stdout)
    assert shown == [item.to_wire() for item in client.list()]
    status = json.loads(run(store, ["status", "ID:failed", "--json"], quick=True).stdout)
    changes = status.pop("changes")
    assert status == client.status(store["failed"]).to_wire()
    assert [change["action"] for change in changes] == ["run-local"]
