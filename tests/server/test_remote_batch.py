"""``pop batch --server`` against a real ``pop serve`` with a ``pop executor`` on the server's
store: the batch is planned where the inputs are, its agendas are submitted, run there and
followed until they end, with the summary and exit code of a local batch; a second run skips
what succeeded, as a local batch on the server's machine does; a failed input is exit 1 with
its cause; run options are refused with --server (exit 2)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_pop_at, start_pop_at, stop_process
from tests.server.conftest import RunningServer


def template(*actions: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": "remote batch",
        "agenda": {
            "operations": [
                {
                    "name": "work",
                    "type": "sample",
                    "payload": {
                        "actions": list(actions),
                        "resultPayload": {"file": "@<pop.payload::/input>"},
                    },
                }
            ]
        },
    }


WORK = {"action": "log", "paramsMap": {"logMessage": "working on @<pop.payload::/name>"}}
FAIL = {"action": "exception", "paramsMap": {"exceptionMessage": "cannot read the input"}}


@pytest.fixture
def running(start_server: Any) -> Iterator[RunningServer]:
    """A ``pop serve --no-auth`` with an executor daemon on its store."""
    server = start_server("--no-auth")
    executor = start_pop_at(server.home, "executor")
    try:
        yield server
    finally:
        stop_process(executor)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    (root / "media").mkdir(parents=True)
    for index in range(3):
        (root / "media" / f"clip{index}.mov").write_text("good\n")
    (root / "ok.json").write_text(json.dumps(template(WORK)))
    (root / "broken.json").write_text(json.dumps(template(WORK, FAIL)))
    return root


def batch(server: RunningServer, root: Path, *args: str, home: Path | None = None) -> Any:
    """``pop batch ARGS`` run in ``root``: over HTTP from a client home, or (``home``) here."""
    if home is None:
        return run_pop_at(
            root.parent / "client_home",
            "batch",
            *args,
            "--server",
            server.url,
            cwd=root,
            timeout=180,
        )
    return run_pop_at(home, "batch", *args, cwd=root, timeout=180)


def timeless(summary: str) -> str:
    return re.sub(r" in \d+\.\ds \(link", " in Ts (link", summary)


def test_a_batch_over_http_runs_on_the_server_and_a_second_run_skips_like_a_local_one(
    running: RunningServer, workspace: Path
) -> None:
    first = batch(running, workspace, "ok.json", "media", "--glob", "*.mov", "--json")

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert [item["state"] for item in report["items"]] == ["succeeded"] * 3
    assert [item["input"] for item in report["items"]] == [
        str(workspace / "media" / f"clip{index}.mov") for index in range(3)
    ]
    for item in report["items"]:
        on_server = run_pop_at(running.home, "status", item["agendaId"], "--json")
        progress = json.loads(on_server.stdout)
        assert (
            progress["processingState"] == "COMPLETE" and progress["linkId"] == (report["linkId"])
        )
    assert not (workspace.parent / "client_home" / "pop.db").exists()

    again = batch(running, workspace, "ok.json", "media", "--glob", "*.mov")
    here = batch(running, workspace, "ok.json", "media", "--glob", "*.mov", home=running.home)
    assert again.returncode == here.returncode == 0, again.stderr + here.stderr
    assert timeless(again.stdout) == timeless(here.stdout)
    assert "0 succeeded, 0 failed, 3 skipped" in again.stdout


def test_a_failed_input_is_exit_1_with_its_cause_as_locally(
    running: RunningServer, workspace: Path
) -> None:
    clip = str(workspace / "media" / "clip0.mov")
    over_http = batch(running, workspace, "broken.json", clip, "--json")
    assert over_http.returncode == 1, over_http.stderr
    (item,) = json.loads(over_http.stdout)["items"]
    assert item["state"] == "failed" and "cannot read the input" in item["message"]

    # the same input on the server's machine: resumed there, failing the same way
    here = batch(running, workspace, "broken.json", clip, "--json", home=running.home)
    assert here.returncode == 1, here.stderr
    (local_item,) = json.loads(here.stdout)["items"]
    assert (local_item["agendaId"], local_item["state"], local_item["message"]) == (
        item["agendaId"],
        item["state"],
        item["message"],
    )


@pytest.mark.parametrize("option", [["--concurrency", "2"], ["--launch", "docker"]])
def test_run_options_are_refused_with_server_and_nothing_is_submitted(
    running: RunningServer, workspace: Path, option: list[str]
) -> None:
    done = batch(running, workspace, "ok.json", "media", "--glob", "*.mov", *option)

    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and option[0] in done.stderr
    listed = run_pop_at(running.home, "list", "--json")
    assert json.loads(listed.stdout) == []


def test_a_template_stored_on_the_server_is_found_by_its_title(
    running: RunningServer, workspace: Path
) -> None:
    stored = run_pop_at(
        workspace.parent / "client_home",
        "template",
        "add",
        str(workspace / "ok.json"),
        "--server",
        running.url,
    )
    assert stored.returncode == 0, stored.stderr

    done = batch(running, workspace, "remote batch", "media/clip1.mov", "--link-id", "t", "--json")

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["linkId"] == "t"
    assert [(item["input"], item["state"]) for item in report["items"]] == [
        (str(workspace / "media" / "clip1.mov"), "succeeded")
    ]
