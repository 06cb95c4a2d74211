"""Every agenda command with ``--server`` against a real ``pop serve``, compared with the same
command run on the server's machine (its ``POP_HOME``): logs, outputs, status (and ``--watch``),
cancel, rerun, template add/list/show/run/delete, progress summary and the facility commands
print the same and exit the same; a client with an empty ``POP_HOME`` of its own writes nothing
locally. Exit codes: a refused token 2, a server that cannot be reached 3, an unknown id 4.
``pop batch --server`` is in test_remote_batch.py."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from tests.conftest import EXAMPLES, run_pop_at, start_pop_at, stop_process
from tests.server.conftest import RunningServer

AGENDA_COMMANDS = ("logs", "outputs", "cancel", "rerun")


def remote(
    server: RunningServer, *args: str, home: Path | None = None, **options: Any
) -> subprocess.CompletedProcess[str]:
    """``pop ARGS --server URL`` from a client with a POP_HOME of its own."""
    client_home = home or server.home.parent / "client_home"
    return run_pop_at(client_home, *args, "--server", server.url, **options)


def local(server: RunningServer, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """``pop ARGS`` on the server's machine (its POP_HOME)."""
    return run_pop_at(server.home, *args, **options)


def assert_same(server: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    """The command prints the same (stdout and stderr) and exits the same both ways."""
    over_http, on_server = remote(server, *args), local(server, *args)
    assert (over_http.returncode, over_http.stdout, over_http.stderr) == (
        on_server.returncode,
        on_server.stdout,
        on_server.stderr,
    ), args
    return over_http


def without_volatile(value: Any) -> Any:
    """A JSON value without what two different agendas cannot share: times and cids."""
    if isinstance(value, dict):
        return {
            key: without_volatile(item)
            for key, item in value.items()
            if not key.endswith("Time") and key not in ("cid", "time", "durationMs")
        }
    if isinstance(value, list):
        return [without_volatile(item) for item in value]
    return value


def named(text: str, ids: dict[str, str]) -> str:
    """``text`` with each id replaced by its name (two agendas' outputs made comparable)."""
    for agenda_id, name in ids.items():
        text = text.replace(agenda_id, name)
    return text


def submitted(server: RunningServer, source: Path = EXAMPLES / "hello.json", *args: str) -> Any:
    done = remote(server, "submit", str(source), "--json", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def ran(server: RunningServer) -> dict[str, Any]:
    """hello.json submitted over HTTP with link ``hello-link`` and run by an executor on the
    server's store."""
    agenda = submitted(server, EXAMPLES / "hello.json", "--link-id", "hello-link")
    executed = local(server, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    return agenda  # type: ignore[no-any-return]


# -- reading: logs, outputs, status, progress summary ----------------------------------------


def test_logs_outputs_status_and_the_summary_print_what_they_print_on_the_server(
    server: RunningServer, ran: dict[str, Any]
) -> None:
    agenda_id = ran["agendaId"]

    logs = assert_same(server, "logs", agenda_id)
    for args in (
        ["logs", agenda_id, "--json"],
        ["logs", agenda_id[:8], "shout"],
        ["outputs", agenda_id],
        ["outputs", agenda_id, "--json"],
        ["outputs", agenda_id, "combine", "--json"],
        ["status", agenda_id],
        ["progress", "summary", "--link-id", "hello-link"],
        ["progress", "summary", "--link-id", "hello-link", "--json"],
    ):
        done = assert_same(server, *args)
        assert done.returncode == 0, done.stderr

    assert logs.returncode == 0
    assert "==> shout (attempt 1) <==" in logs.stdout and "shouting" in logs.stdout
    assert json.loads(remote(server, "logs", agenda_id, "--json").stdout)[0]["path"]
    assert not (server.home.parent / "client_home" / "pop.db").exists()


def test_an_operation_the_agenda_lacks_is_exit_4_naming_it_as_locally(
    server: RunningServer, ran: dict[str, Any]
) -> None:
    for command in ("logs", "outputs"):
        done = assert_same(server, command, ran["agendaId"], "no-such-op")
        assert done.returncode == 4
        assert "no-such-op" in done.stderr


def test_status_watch_over_http_follows_the_run_and_ends_with_the_local_view(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server("--no-auth")
    agenda = submitted(server, EXAMPLES / "hello.json", "--link-id", "watched")
    executor = start_pop_at(server.home, "executor")
    try:
        watched = remote(server, "status", agenda["agendaId"], "--watch", timeout=120)
        group = remote(server, "status", "--link-id", "watched", "--watch", timeout=120)
    finally:
        stop_process(executor)
    final = local(server, "status", agenda["agendaId"], "--watch")  # ended: the final view

    assert watched.returncode == final.returncode == 0, watched.stderr
    view = [line for line in watched.stdout.splitlines() if not re.match(r"\d\d:\d\d:\d\d ", line)]
    assert view == final.stdout.splitlines()
    assert "COMPLETE/succeeded" in final.stdout
    assert group.returncode == 0, group.stderr
    assert group.stdout == local(server, "status", "--link-id", "watched", "--watch").stdout


# -- changing: cancel, rerun -----------------------------------------------------------------


def test_cancel_and_rerun_over_http_do_and_print_what_they_do_locally(
    server: RunningServer,
) -> None:
    # two waiting agendas alike: one changed over HTTP, the other on the server's machine
    made, made_here = submitted(server), submitted(server)
    first, second = made["agendaId"], made_here["agendaId"]
    ids = {first: "ID", second: "ID", made["progressId"]: "PID", made_here["progressId"]: "PID"}

    def both(*args: str) -> tuple[Any, Any]:
        over_http = remote(server, *[first if arg == "ID" else arg for arg in args])
        on_server = local(server, *[second if arg == "ID" else arg for arg in args])
        assert over_http.returncode == on_server.returncode, over_http.stderr + on_server.stderr
        assert named(over_http.stderr, ids) == named(on_server.stderr, ids)
        return over_http, on_server

    for args in (["cancel", "ID"], ["rerun", "ID", "--skip-execution"]):
        over_http, on_server = both(*args)
        assert over_http.returncode == 0, over_http.stderr
        assert named(over_http.stdout, ids) == named(on_server.stdout, ids)
    for args in (["cancel", "ID", "--json"], ["rerun", "ID", "--reset", "shout", "--json"]):
        over_http, on_server = both(*args)
        assert over_http.returncode == 0, over_http.stderr
        assert without_volatile(json.loads(named(over_http.stdout, ids))) == without_volatile(
            json.loads(named(on_server.stdout, ids))
        )
    remote_state = json.loads(local(server, "status", first, "--json").stdout)
    assert remote_state["processingState"] == "WAITING"
    assert remote_state == json.loads(remote(server, "status", first, "--json").stdout)

    assert both("cancel", "ID")[0].returncode == 0
    refused = both("cancel", "ID")[0]  # already COMPLETE: exit 2 both ways
    assert refused.returncode == 2 and "already COMPLETE" in refused.stderr
    unknown_op = both("rerun", "ID", "--reset", "no-such-op")[0]
    assert unknown_op.returncode == 2 and "no-such-op" in unknown_op.stderr
    modes = both("rerun", "ID", "--continue", "--reset-all")[0]
    assert modes.returncode == 2


# -- templates ---------------------------------------------------------------------------------


def test_template_commands_over_http_match_the_local_ones(server: RunningServer) -> None:
    added = remote(server, "template", "add", str(EXAMPLES / "templates" / "hello-template.json"))
    assert added.returncode == 0, added.stderr
    template_id = added.stdout.strip()
    payload = str(EXAMPLES / "templates" / "hello-payload.json")

    for args in (
        ["template", "list"],
        ["template", "list", "--json"],
        ["template", "show", template_id[:8]],
        ["template", "show", "hello-template", "--json"],
    ):
        assert assert_same(server, *args).returncode == 0, args
    dry = [*("template", "run", "hello-template", "--payload", payload, "--dry-run")]
    over_http, on_server = remote(server, *dry), local(server, *dry)
    assert over_http.returncode == on_server.returncode == 0, over_http.stderr
    filled = without_volatile(json.loads(over_http.stdout))
    # the server names the customer the token would submit for (none given: its default)
    assert filled.pop("customerId") == "default"
    assert filled == without_volatile(json.loads(on_server.stdout))

    run = [*("template", "run", "hello-template", "--payload", payload, "--link-id", "tl")]
    over_http, on_server = remote(server, *run, "--json"), local(server, *run, "--json")
    assert over_http.returncode == on_server.returncode == 0, over_http.stderr
    made, made_here = json.loads(over_http.stdout), json.loads(on_server.stdout)
    for document in (made, made_here):
        document.pop("agendaId"), document.pop("progressId")
    assert made == made_here
    for_acme = remote(server, *run, "--customer", "acme", "--json")
    assert for_acme.returncode == 0, for_acme.stderr
    assert json.loads(for_acme.stdout)["customerId"] == "acme"

    deleted = remote(server, "template", "delete", template_id[:8])
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == f"deleted template {template_id}\n"
    again = assert_same(server, "template", "delete", template_id)
    assert again.returncode == 4
    assert assert_same(server, "template", "show", template_id).returncode == 4


# -- customers, pools, insights ----------------------------------------------------------------


def test_facility_commands_over_http_match_the_local_ones(server: RunningServer) -> None:
    for args in (
        ["pool", "add", "--id", "gpu", "--title", "GPU machines"],
        ["customer", "add", "--id", "umbrella", "--title", "Umbrella", "--pool", "gpu"],
        ["insight", "add", "--id", "encode", "--title", "Encoding", "--pool", "gpu"],
        ["insight", "update", "encode", "--queue-size", "4", "--mapper", "operationType=x"],
    ):
        done = remote(server, *args)
        assert done.returncode == 0, done.stderr
    assert remote(server, "insight", "update", "encode", "--queue-size", "0").returncode == 2

    for kind in ("customer", "pool", "insight"):
        assert assert_same(server, kind, "list").returncode == 0
        assert assert_same(server, kind, "list", "--json").returncode == 0
    for kind, object_id in (("customer", "umbrella"), ("pool", "gpu"), ("insight", "encode")):
        assert assert_same(server, kind, "show", object_id).returncode == 0
        assert assert_same(server, kind, "show", object_id, "--json").returncode == 0
        assert assert_same(server, kind, "delete", "no-such-" + kind).returncode == 4
    shown = json.loads(remote(server, "insight", "show", "encode", "--json").stdout)
    assert shown["queueSize"] == 4 and shown["mappers"] == {"operationType": ["x"]}

    in_use = assert_same(server, "pool", "delete", "gpu")  # customers and insights use it
    assert in_use.returncode == 2
    deleted = remote(server, "insight", "delete", "encode")
    assert (deleted.returncode, deleted.stdout) == (0, "deleted insight encode\n")
    assert local(server, "insight", "show", "encode").returncode == 4


# -- exit codes --------------------------------------------------------------------------------


def test_an_unknown_id_is_exit_4_for_each_agenda_command_as_locally(
    server: RunningServer,
) -> None:
    for command in AGENDA_COMMANDS:
        done = assert_same(server, command, "0e07c1d2")
        assert done.returncode == 4, (command, done.stderr)
        assert done.stderr.startswith("error: ") and "0e07c1d2" in done.stderr


def test_a_bad_token_is_exit_2_naming_the_cause_for_each_agenda_command(
    auth_server: RunningServer, tmp_path: Path
) -> None:
    for command in AGENDA_COMMANDS:
        done = run_pop_at(
            tmp_path / "client",
            command,
            "0e07c1d2",
            "--server",
            auth_server.url,
            env={"POP_TOKEN": "pop_not-a-token"},
        )
        assert done.returncode == 2, (command, done.stderr)
        assert done.stderr.startswith("error: ") and "token" in done.stderr.lower()
        assert "pop_not-a-token" not in done.stderr


def test_a_token_of_another_customer_is_exit_2_naming_the_customer(
    auth_server: RunningServer, tmp_path: Path
) -> None:
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        _, acme = client.token_add(kind="customer", customers=["acme"], name="acme")
        _, other = client.token_add(kind="customer", customers=["umbrella"], name="umbrella")
    finally:
        client.close()
    home = tmp_path / "client"
    env = {"POP_SERVER": auth_server.url}
    made = run_pop_at(
        home, "submit", str(EXAMPLES / "hello.json"), "--json", env={**env, "POP_TOKEN": acme}
    )
    assert made.returncode == 0, made.stderr
    agenda_id = json.loads(made.stdout)["agendaId"]

    for args in (["cancel", agenda_id], ["rerun", agenda_id]):
        refused = run_pop_at(home, *args, env={**env, "POP_TOKEN": other})
        assert refused.returncode == 2, (args, refused.stderr)
        assert "acme" in refused.stderr
    waiting = json.loads(run_pop_at(auth_server.home, "status", agenda_id, "--json").stdout)
    assert waiting["processingState"] == "WAITING"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    "args",
    [
        *([command, "0e07c1d2"] for command in AGENDA_COMMANDS),
        ["status", "0e07c1d2", "--watch"],
        ["template", "list"],
        ["pool", "list"],
        ["progress", "summary", "--link-id", "L"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_server_that_cannot_be_reached_is_exit_3(args: list[str], tmp_path: Path) -> None:
    done = run_pop_at(tmp_path / "client", *args, "--server", closed_port_url())
    assert done.returncode == 3, done.stderr
    assert done.stderr.startswith("error: cannot reach the pop server")
