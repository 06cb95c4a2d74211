"""Help that tells the truth (issue 10 point 8): ``-h`` on every command, ``-h`` of
``pop handler run`` only as a whole argument (``-launchType local`` still parses), one wording
for ``--json``, and runtimes that are not built yet marked so wherever help names them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import pop_env, store_snapshot

RunPop = Callable[..., subprocess.CompletedProcess[str]]


def command_tree() -> Any:
    from typer.main import get_command

    from pop.cli.app import build_app

    return get_command(build_app())


def command_paths() -> list[list[str]]:
    """Every command and command group, walked from the typer app (new commands included)."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(command_tree(), [])
    return paths


def options_named(name: str) -> dict[str, str]:
    """``command path -> help`` of every option spelled ``name``."""
    found: dict[str, str] = {}

    def walk(command: Any, path: list[str]) -> None:
        for param in getattr(command, "params", []):
            if name in getattr(param, "opts", []) + getattr(param, "secondary_opts", []):
                found[" ".join(path)] = param.help or ""
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, sub_name])

    walk(command_tree(), [])
    return found


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "pop")
def test_dash_h_prints_the_help_of_every_command(path: list[str], run_pop: RunPop) -> None:
    completed = run_pop(*path, "-h")

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(f"Usage: pop {' '.join(path)}".rstrip())
    assert completed.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["-h"],
        ["sample", "-h"],
        ["sample", "--help"],
        ["sample", "-launchType", "local", "-h"],
        ["sample", "-h", "-launchType", "local"],
    ],
    ids=" ".join,
)
def test_handler_run_prints_its_help_for_a_whole_dash_h(args: list[str], run_pop: RunPop) -> None:
    completed = run_pop("handler", "run", *args)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("Usage: pop handler run [OPTIONS] TYPE")
    assert "-launchType" in completed.stdout
    assert "HandlerComplete" not in completed.stdout


def test_handler_run_parses_one_dash_arguments_that_contain_an_h(
    run_pop: RunPop, tmp_path: Path
) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"resultPayload": {"said": "hi"}}), encoding="utf-8")

    completed = run_pop(
        "handler", "run", "sample", "-launchType", "local", "-payloadFile", str(payload)
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Usage:" not in completed.stdout
    lines = completed.stdout.splitlines()
    assert lines[-1] == "HandlerComplete"
    assert 'Payload: {"said":"hi"}' in lines


def test_handler_run_reads_a_dash_h_after_payload_file_as_the_file_name(
    run_pop: RunPop,
) -> None:
    completed = run_pop("handler", "run", "sample", "-payloadFile", "-h")

    assert "Usage:" not in completed.stdout
    assert completed.stdout.splitlines()[-1] == "HandlerComplete"
    assert "Failed to load data from: -h" in completed.stdout
    assert completed.returncode == 2


def test_python_dash_m_pop_handlers_prints_its_usage_for_a_whole_dash_h(pop_home: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pop.handlers",
            "pop.handlers.sample:run",
            "-launchType",
            "local",
            "-h",
        ],
        env=pop_env(pop_home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0
    assert completed.stdout.startswith("usage: python -m pop.handlers module.path:function")


def test_every_json_flag_has_the_same_help() -> None:
    helps = options_named("--json")

    assert len(helps) > 20, helps
    assert set(helps.values()) == {"Print machine-readable JSON on stdout."}, helps


def collapse(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "pop")
def test_help_never_calls_the_kubernetes_runtime_not_built(
    path: list[str], run_pop: RunPop
) -> None:
    """The kubernetes runtime exists and has run on a simulated cluster only: help says so
    where it claims the runtime, and never calls it not built."""
    text = collapse(run_pop(*path, "--help").stdout)

    assert not re.search(r"kubernetes[^.]{0,30}not built yet", text, re.IGNORECASE), text


def test_pops_own_help_summary_says_where_each_runtime_was_tested(run_pop: RunPop) -> None:
    text = collapse(run_pop("--help").stdout)

    assert (
        "a local process, a Docker container or a Kubernetes pod (Kubernetes: tested on a "
        "simulated cluster only)" in text
    )


def test_every_launch_option_names_the_three_runtimes() -> None:
    helps = options_named("--launch")
    assert {"run-local", "executor", "batch"} <= set(helps), helps
    for command, help_text in helps.items():
        expected = "local, docker or kubernetes (kubernetes: tested on a simulated cluster only)"
        assert expected in help_text, (command, help_text)
    for name in ("--external-launch", "--docker-host", "--kubeconfig", "--context", "--namespace"):
        assert {"run-local", "executor", "batch"} <= set(options_named(name)), name


def _agenda_file(tmp_path: Path) -> Path:
    agenda = tmp_path / "agenda.json"
    agenda.write_text(
        json.dumps({"title": "t", "operations": [{"name": "a", "type": "sample", "payload": {}}]}),
        encoding="utf-8",
    )
    return agenda


@pytest.mark.parametrize(
    "args",
    [
        ["run-local", "AGENDA", "--launch", "kubernetes"],
        ["executor", "--once", "--launch", "kubernetes"],
    ],
    ids=" ".join,
)
def test_kubernetes_without_a_cluster_exits_3_with_a_hint(
    args: list[str], run_pop: RunPop, tmp_path: Path
) -> None:
    agenda = _agenda_file(tmp_path)
    nowhere = {"KUBECONFIG": "", "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}

    completed = run_pop(*[str(agenda) if arg == "AGENDA" else arg for arg in args], env=nowhere)

    assert completed.returncode == 3, completed.stderr
    error, hint = completed.stderr.splitlines()
    assert error.startswith("error: cannot reach Kubernetes: no kubeconfig")
    assert hint.startswith("hint: give --kubeconfig FILE")


@pytest.mark.parametrize(
    "args",
    [
        ["run-local", "AGENDA", "--launch", "docker"],
        ["run-local", "AGENDA", "--external-launch", "docker"],
        ["executor", "--once", "--launch", "docker"],
        ["executor", "--once", "--external-launch", "docker"],
    ],
    ids=" ".join,
)
def test_an_unreachable_docker_engine_exits_3_with_a_hint(
    args: list[str], run_pop: RunPop, tmp_path: Path
) -> None:
    agenda = _agenda_file(tmp_path)
    nowhere = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}

    completed = run_pop(*[str(agenda) if arg == "AGENDA" else arg for arg in args], env=nowhere)

    assert completed.returncode == 3, completed.stderr
    error, hint = completed.stderr.splitlines()
    assert error.startswith("error: cannot reach the Docker engine at unix:///nonexistent")
    assert hint.startswith("hint: ") and "dockerd" in hint and "DOCKER_HOST" in hint


@pytest.mark.parametrize(
    "args",
    [
        ["run-local", "AGENDA", "--launch", "dokcer"],
        ["run-local", "AGENDA", "--external-launch", "dokcer"],
        ["batch", "TEMPLATE", "INPUT", "--launch", "dokcer"],
        ["executor", "--once", "--launch", "dokcer"],
    ],
    ids=" ".join,
)
def test_an_unknown_runtime_exits_2_and_stores_nothing(
    args: list[str], run_pop: RunPop, tmp_path: Path, pop_home: Path
) -> None:
    agenda = _agenda_file(tmp_path)
    template = tmp_path / "template.json"
    template.write_text(
        json.dumps(
            {
                "id": "t",
                "agenda": {"operations": [{"name": "a", "type": "sample", "payload": {}}]},
            }
        ),
        encoding="utf-8",
    )
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not media, never read")
    run_pop("pool", "list")  # the store exists before, so "unchanged" means something
    before = store_snapshot(pop_home)
    swap = {"AGENDA": str(agenda), "TEMPLATE": str(template), "INPUT": str(clip)}

    completed = run_pop(*[swap.get(arg, arg) for arg in args])

    assert completed.returncode == 2, completed.stderr
    [line] = completed.stderr.splitlines()
    assert "unknown" in line and "'dokcer'" in line and "local, docker, kubernetes, fake" in line
    assert store_snapshot(pop_home) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kubeconfig", "/nope"], "error: --kubeconfig /nope: no such file"),
        (["--context", "nope"], "error: --context nope: no kubeconfig file to find it in"),
    ],
    ids=["kubeconfig", "context"],
)
@pytest.mark.parametrize("command", ["run-local AGENDA", "executor --once"])
def test_a_mistyped_kubernetes_option_exits_2_and_stores_nothing(
    args: list[str], message: str, command: str, run_pop: RunPop, tmp_path: Path, pop_home: Path
) -> None:
    agenda = _agenda_file(tmp_path)
    run_pop("pool", "list")
    before = store_snapshot(pop_home)
    argv = [str(agenda) if arg == "AGENDA" else arg for arg in command.split()]
    home = {"KUBECONFIG": "", "HOME": str(tmp_path), "KUBERNETES_SERVICE_HOST": ""}

    completed = run_pop(*argv, "--launch", "kubernetes", *args, env=home)

    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines()[0] == message
    assert store_snapshot(pop_home) == before
