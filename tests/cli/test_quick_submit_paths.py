"""Which ``pop submit`` lines the fast path (``pop.cli.quick_submit``) answers and which it
leaves to the usual path: run by ``python -S`` (no site-packages: pydantic and typer cannot load),
a line it answers succeeds and a line it declines fails on the missing typer, having written
nothing (an agenda of types with payload models loads pydantic, so it is run in the full
environment and the modules it loaded are read instead). That both paths store the same rows is
tests/cli/test_quick_submit.py's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pop.registry.builtin import HANDLER_REFS, TYPES, WITH_PAYLOAD_MODEL
from tests.cli.loaded import LOADED
from tests.conftest import pop_env, run_pop_at, store_snapshot

BARE = "import sys; from pop.cli import main; main(sys.argv[1:])"


def test_the_built_in_facts_are_the_registry_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pop.config import Settings
    from pop.engine.payloads import payload_model_for
    from pop.registry import Registry

    monkeypatch.chdir(tmp_path)  # no ./registry.yaml: the built-in registry alone
    registry = Registry.load(None, settings=Settings(home=tmp_path / "home"))
    assert set(registry.types()) == TYPES
    assert {name: registry.handler_ref(name) for name in TYPES} == HANDLER_REFS
    assert {name for name in TYPES if payload_model_for(registry, name)} == WITH_PAYLOAD_MODEL


def noop_agenda(**fields: object) -> dict[str, object]:
    return {
        "title": "two noops",
        "operations": [
            {"name": "first", "type": "noop", "payload": {}},
            {"name": "second", "type": "noop", "payload": {}, "params": {"dependsOn": "first"}},
        ],
        **fields,
    }


def bare_submit(
    home: Path, cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", "-c", BARE, "submit", *args],
        env=pop_env(home, env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def declined(completed: subprocess.CompletedProcess[str]) -> bool:
    return completed.returncode != 0 and "No module named 'typer'" in completed.stderr


def made_store(home: Path) -> Path:
    """A store made by the usual path (a new store's schema is built with sqlite-utils, which
    ``python -S`` cannot import)."""
    assert run_pop_at(home, "list").returncode == 0
    return home


@pytest.mark.parametrize(
    "args",
    [[], ["--json"], ["--customer", "acme", "--link-id", "L", "--priority", "7"]],
    ids=lambda args: " ".join(args) or "(plain)",
)
def test_a_plain_agenda_of_noops_is_stored_without_pydantic(
    tmp_path: Path, args: list[str]
) -> None:
    source = tmp_path / "agenda.json"
    source.write_text(json.dumps(noop_agenda()))
    completed = bare_submit(made_store(tmp_path / "home"), tmp_path, str(source), *args)
    assert completed.returncode == 0, completed.stderr
    listed = run_pop_at(tmp_path / "home", "list", "--json")
    assert [item["title"] for item in json.loads(listed.stdout)] == ["two noops"]


def test_each_doubt_leaves_the_line_to_the_usual_path_and_writes_nothing(tmp_path: Path) -> None:
    home = made_store(tmp_path / "home")
    before = store_snapshot(home)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(noop_agenda()))
    cases: dict[str, tuple[list[str], dict[str, str] | None]] = {}

    def case(name: str, document: object, *args: str, suffix: str = ".json") -> None:
        path = tmp_path / f"{name}{suffix}"
        path.write_text(json.dumps(document))
        cases[name] = ([str(path), *args], None)

    case("unknown-type", noop_agenda(operations=[{"name": "a", "type": "nope"}]))
    case("no-operations", noop_agenda(operations=[]))
    case(
        "cycle",
        noop_agenda(operations=[{"name": "a", "type": "noop", "params": {"dependsOn": "a"}}]),
    )
    case("extra-key", noop_agenda(color="red"))
    case("snake-case", noop_agenda(customer_id="acme"))
    case("number-title", noop_agenda(title=5))
    case("float-time", noop_agenda(addedTime=1.5))
    case("insight", noop_agenda(agendaInsight={"insightId": "x"}))
    case("array", [noop_agenda()])
    case("yaml", noop_agenda(), suffix=".yaml")
    cases["missing-file"] = ([str(tmp_path / "missing.json")], None)
    cases["stdin"] = (["-"], None)
    cases["registry-option"] = ([str(plain), "--registry", str(tmp_path / "r.yaml")], None)
    cases["POP_REGISTRY"] = ([str(plain)], {"POP_REGISTRY": str(tmp_path / "r.yaml")})
    cases["server"] = ([str(plain)], {"POP_SERVER": "http://127.0.0.1:9"})
    cases["bad-priority"] = ([str(plain), "--priority", "high"], None)
    for name, (args, env) in cases.items():
        completed = bare_submit(home, tmp_path, *args, env=env)
        assert declined(completed), (name, completed.returncode, completed.stderr)
        assert store_snapshot(home) == before, name


def test_a_registry_file_or_a_customer_leaves_the_line_to_the_usual_path(tmp_path: Path) -> None:
    home = made_store(tmp_path / "home")
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(noop_agenda()))
    assert bare_submit(home, tmp_path, str(plain)).returncode == 0
    before = store_snapshot(home)
    for folder in (tmp_path, home):
        (folder / "registry.yaml").write_text("handlers: {}\n")
        assert declined(bare_submit(home, tmp_path, str(plain))), folder
        (folder / "registry.yaml").unlink()
    assert store_snapshot(home) == before
    added = run_pop_at(home, "customer", "add", "--id", "acme", "--title", "Acme")
    assert added.returncode == 0, added.stderr
    before = store_snapshot(home)
    assert declined(bare_submit(home, tmp_path, str(plain)))
    assert store_snapshot(home) == before


@pytest.mark.parametrize(
    ("document", "fast"),
    [
        ({"operations": [{"name": "a", "type": "sample", "payload": {"actions": []}}]}, True),
        (
            {
                "operations": [
                    {
                        "name": "t",
                        "type": "transcode",
                        "payload": {"input": "clip.mp4", "renditions": [{"name": "360p"}]},
                    }
                ]
            },
            True,
        ),
        # the model refuses it: the usual path says why
        ({"operations": [{"name": "t", "type": "transcode", "payload": {"input": 5}}]}, False),
    ],
    ids=["sample", "transcode", "refused payload"],
)
def test_an_agenda_with_payload_models_is_checked_by_them_without_typer(
    tmp_path: Path, document: dict[str, object], fast: bool
) -> None:
    source = tmp_path / "agenda.json"
    source.write_text(json.dumps(document))
    completed = subprocess.run(
        [sys.executable, "-c", LOADED, "submit", str(source)],
        env=pop_env(made_store(tmp_path / "home")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(completed.stderr.splitlines()[-1])
    modules = {name.split(".")[0] for name in report["modules"]}
    if not fast:  # declined: the usual path refuses it with its message
        assert report["code"] == 2
        assert completed.stderr.startswith("error: "), completed.stderr
        assert "typer" in modules
        return
    assert report["code"] in (0, None), completed.stderr
    assert "pydantic" in modules
    assert not modules & {"typer", "click", "rich", "yaml", "av", "asyncio"}
