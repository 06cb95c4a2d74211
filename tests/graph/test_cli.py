"""``pop graph`` as a real subprocess: an agenda file draws uncoloured SVG (or dot) on stdout or
into -o FILE; an id after ``pop run-local`` colours each box by its state (also over
``--server``); PNG without ``rsvg-convert`` on PATH exits 3 naming it; a bad file is exit 2, an
unknown id exit 4, and neither changes the store. The coloured picture of examples/failure.json
is written to docs/img/graph-failure.svg for docs/cli.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.conftest import EXAMPLES, pop_argv, pop_env, run_pop_at, store_snapshot
from tests.server.conftest import start_server

SVG = "{http://www.w3.org/2000/svg}"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
RunPop = Callable[..., CompletedProcess[str]]


def states_in(svg: str) -> dict[str, tuple[str, str]]:
    """Each op's (data-state, state line) in an SVG picture."""
    root = ET.fromstring(svg)
    shown = {}
    for group in root.iter(f"{SVG}g"):
        if (group.get("class") or "").startswith("op "):
            texts = [text.text or "" for text in group.iter(f"{SVG}text")]
            shown[group.get("data-op") or ""] = (group.get("data-state") or "", texts[-1])
    return shown


def run_id(run_pop: RunPop, example: str) -> str:
    ran = run_pop("run-local", str(EXAMPLES / example), "--json", "--quiet")
    assert ran.returncode in (0, 1), ran.stderr
    return str(json.loads(ran.stdout)["agendaId"])


def test_an_agenda_file_draws_svg_on_stdout(run_pop: RunPop, pop_home: Path) -> None:
    done = run_pop("graph", str(EXAMPLES / "hello.json"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    shown = states_in(done.stdout)
    assert set(shown) == {"prepare", "shout", "whisper", "note", "combine"}
    assert set(shown.values()) == {("not run", "not run")}
    assert store_snapshot(pop_home) is None  # drawing a file stores nothing


def test_dot_into_a_file(run_pop: RunPop, tmp_path: Path) -> None:
    target = tmp_path / "hello.dot"
    done = run_pop("graph", str(EXAMPLES / "hello.json"), "--format", "dot", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    text = target.read_text()
    assert text.startswith("digraph ")
    assert '"prepare" -> "shout";' in text and '"note" -> "combine";' in text


def test_an_id_colours_each_op_by_its_state(run_pop: RunPop) -> None:
    agenda_id = run_id(run_pop, "hello.json")
    done = run_pop("graph", agenda_id[:10])
    assert done.returncode == 0, done.stderr
    shown = states_in(done.stdout)
    assert set(shown.values()) == {("succeeded", "succeeded 100%")}
    assert len(shown) == 5

    failed_id = run_id(run_pop, "failure.json")
    failed = run_pop("graph", failed_id)
    assert failed.returncode == 0, failed.stderr
    states = {name: state for name, (state, _) in states_in(failed.stdout).items()}
    assert states["download"] == "succeeded"
    assert states["transcode"] == "failed"
    assert "failed" in states_in(failed.stdout)["transcode"][1]
    IMAGES.mkdir(exist_ok=True)
    (IMAGES / "graph-failure.svg").write_text(failed.stdout)  # the picture in docs/cli.md


def test_an_id_over_the_server_is_the_same_picture(tmp_path: Path) -> None:
    server = start_server(tmp_path / "server_home", "--no-auth")
    try:
        ran = run_pop_at(
            server.home, "run-local", str(EXAMPLES / "hello.json"), "--json", "--quiet"
        )
        assert ran.returncode == 0, ran.stderr
        agenda_id = json.loads(ran.stdout)["agendaId"]
        client_home = tmp_path / "client_home"
        remote = run_pop_at(client_home, "graph", agenda_id, "--server", server.url)
        local = run_pop_at(server.home, "graph", agenda_id)
    finally:
        server.stop()
    assert remote.returncode == local.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert set(states_in(remote.stdout).values()) == {("succeeded", "succeeded 100%")}
    assert not (client_home / "pop.db").exists()


def test_png_without_rsvg_convert_exits_3_naming_it(run_pop: RunPop, tmp_path: Path) -> None:
    empty = tmp_path / "no-tools"
    empty.mkdir()
    target = tmp_path / "hello.png"
    done = run_pop(
        "graph",
        str(EXAMPLES / "hello.json"),
        "-f",
        "png",
        "-o",
        str(target),
        env={"PATH": str(empty)},
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: ") and "rsvg-convert" in done.stderr.splitlines()[0]
    assert not target.exists()


@pytest.mark.skipif(
    shutil.which("rsvg-convert") is None and os.environ.get("CI") != "true",
    reason="rsvg-convert not installed (scripts/test installs librsvg2-bin; under CI it must run)",
)
def test_png_with_rsvg_convert(run_pop: RunPop, pop_home: Path, tmp_path: Path) -> None:
    target = tmp_path / "hello.png"
    done = run_pop("graph", str(EXAMPLES / "hello.json"), "-f", "png", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    piped = subprocess.run(  # stdout is a pipe here, not a terminal
        pop_argv("graph", str(EXAMPLES / "hello.json"), "--format", "png"),
        env=pop_env(pop_home),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == target.read_bytes()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["missing.json"], 2, "not found"),
        (["{bad}.json"], 2, "not found"),
        (["deadbeef"], 4, "deadbeef"),
        (["hello", "--format", "gif"], 2, "--format"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(
    run_pop: RunPop, pop_home: Path, args: list[str], code: int, words: str
) -> None:
    run_id(run_pop, "hello.json")
    before = store_snapshot(pop_home)
    if args[0] == "hello":
        args = [str(EXAMPLES / "hello.json"), *args[1:]]
    done = run_pop("graph", *args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and words in done.stderr.splitlines()[0]
    assert store_snapshot(pop_home) == before


def test_an_invalid_agenda_file_is_exit_2(run_pop: RunPop, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"operations": [{"name": "a", "type": "nope"}]}))
    done = run_pop("graph", str(bad))
    assert done.returncode == 2
    assert "nope" in done.stderr
