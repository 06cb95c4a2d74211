"""The CLI's ``--server`` commands against a real ``pop serve`` with tokens: a client with an
empty ``POP_HOME`` of its own submits, an executor on the server's store runs the agenda, and
``pop status --server --json`` equals the server host's ``pop status --json``; a refusal is
exit 2 naming its cause, and the client writes nothing locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from tests.cli.test_errors import assert_one_error_line
from tests.conftest import EXAMPLES, run_pop_at
from tests.server.conftest import RunningServer


@pytest.fixture(scope="module")
def acme_token(auth_server: RunningServer) -> str:
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        _, secret = client.token_add(kind="customer", customers=["acme"], name="remote-acme")
    finally:
        client.close()
    return secret


def test_submit_and_status_over_the_server_match_the_local_forms(
    auth_server: RunningServer, acme_token: str, tmp_path: Path
) -> None:
    client_home = tmp_path / "client_home"
    remote = {"POP_SERVER": auth_server.url, "POP_TOKEN": acme_token}

    submitted = run_pop_at(
        client_home, "submit", str(EXAMPLES / "hello.json"), "--json", env=remote
    )
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    executed = run_pop_at(auth_server.home, "executor", "--once", timeout=120)
    assert executed.returncode == 0, executed.stderr
    over_http = run_pop_at(client_home, "status", agenda_id, "--json", env=remote)
    local = run_pop_at(auth_server.home, "status", agenda_id, "--json")

    assert over_http.returncode == 0, over_http.stderr
    assert json.loads(over_http.stdout) == json.loads(local.stdout)
    assert json.loads(local.stdout)["customerId"] == "acme"
    assert {op["processingState"] for op in json.loads(local.stdout)["operationProgress"]} == {
        "COMPLETE"
    }
    assert not (client_home / "pop.db").exists()


def test_a_submit_for_another_customer_is_exit_2_naming_it(
    auth_server: RunningServer, acme_token: str, tmp_path: Path
) -> None:
    remote = {"POP_SERVER": auth_server.url, "POP_TOKEN": acme_token}

    refused = run_pop_at(
        tmp_path / "home",
        "submit",
        str(EXAMPLES / "hello.json"),
        "--customer",
        "umbrella",
        env=remote,
    )

    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and "umbrella" in refused.stderr


def test_a_bad_token_is_exit_2(auth_server: RunningServer, tmp_path: Path) -> None:
    remote = {"POP_SERVER": auth_server.url, "POP_TOKEN": "pop_not-a-token"}

    refused = run_pop_at(tmp_path / "home", "list", env=remote)

    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
    assert "pop_not-a-token" not in refused.stderr


# -- the same output and exit codes as on the server's machine ---------------------------------


def test_list_status_by_prefix_and_the_human_view_over_http(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server("--no-auth")
    client_home = tmp_path / "client_home"
    remote = {"POP_SERVER": server.url}
    submitted = run_pop_at(
        client_home, "submit", str(EXAMPLES / "hello.json"), "--json", env=remote
    )
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    ran = run_pop_at(server.home, "executor", "--once")
    assert ran.returncode == 0, ran.stderr

    for args in (["status", agenda_id[:8]], ["list"]):
        over_http = run_pop_at(client_home, *args, "--json", env=remote)
        on_server = run_pop_at(server.home, *args, "--json")
        assert over_http.returncode == on_server.returncode == 0, over_http.stderr
        assert json.loads(over_http.stdout) == json.loads(on_server.stdout), args
    human = run_pop_at(client_home, "status", agenda_id, "--server", server.url)
    assert human.returncode == 0 and "COMPLETE/succeeded" in human.stdout, human.stderr
    assert not (client_home / "pop.db").exists()


def test_an_unknown_id_over_http_is_exit_4_as_locally(start_server: Any, tmp_path: Path) -> None:
    server = start_server("--no-auth")
    done = run_pop_at(tmp_path / "client", "status", "0e07c1d2", "--server", server.url)
    assert done.returncode == 4, done.stderr
    assert_one_error_line(done, "0e07c1d2")


def test_the_token_from_pop_token_or_a_token_file_and_none_at_all(
    auth_server: RunningServer, tmp_path: Path
) -> None:
    client = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        _, secret = client.token_add(kind="global", name="remote-ops")
    finally:
        client.close()
    token_file = tmp_path / "token"
    token_file.write_text(secret + "\n")
    home = tmp_path / "client"
    url = auth_server.url

    missing = run_pop_at(home, "list", "--server", url)
    by_env = run_pop_at(home, "list", "--json", "--server", url, env={"POP_TOKEN": secret})
    by_file = run_pop_at(home, "list", "--json", "--server", url, "--token-file", str(token_file))

    assert missing.returncode == 2, missing.stderr
    assert_one_error_line(missing, "token")
    hint = [line for line in missing.stderr.splitlines() if line.startswith("hint: ")]
    assert len(hint) == 1 and "POP_TOKEN" in hint[0], missing.stderr
    assert by_env.returncode == by_file.returncode == 0, by_env.stderr + by_file.stderr
    assert json.loads(by_env.stdout) == json.loads(by_file.stdout)


def test_the_library_client_with_a_server_speaks_the_same_api(
    auth_server: RunningServer, acme_token: str
) -> None:
    import pop
    from pop.api.remote import RemoteClient

    remote = pop.Client(server=auth_server.url, token=acme_token)
    local = Client(Settings.from_env().with_changes(home=auth_server.home))
    try:
        assert isinstance(remote, RemoteClient)
        submission = remote.submit(EXAMPLES / "hello.json")
        agenda_id = submission.agenda.id or ""
        assert remote.status(agenda_id).model_dump() == local.status(agenda_id).model_dump()
        assert agenda_id in [progress.agenda_id for progress in remote.list()]
    finally:
        remote.close()
        local.close()
