"""The CLI's ``--server`` commands against a real ``pop serve`` with tokens: a client with an
empty ``POP_HOME`` of its own submits, an executor on the server's store runs the agenda, and
``pop status --server --json`` equals the server host's ``pop status --json``; a refusal is
exit 2 naming its cause, and the client writes nothing locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pop.api import Client
from pop.config import Settings
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
