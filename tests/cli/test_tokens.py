"""``pop token add|list|revoke`` through the real CLI and a real store (issue 13, item 3).

A token is printed once and only its sha256 is stored; bad combinations of options give one
``error:`` line, exit 2 and an unchanged store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from tests.cli.test_errors import assert_one_error_line

RunPop = Callable[..., Any]
Snapshot = Callable[[Path], Any]


def out(completed: Any) -> Any:
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture
def seeded(pop_home: Path, store_snapshot: Snapshot) -> Any:
    """A store with one named customer token; returns its snapshot."""
    client = Client()
    try:
        client.token_add(kind="customer", customers=["acme"], name="ci")
    finally:
        client.close()
    return store_snapshot(pop_home)


def test_add_prints_the_token_alone_on_stdout_and_says_once_on_stderr(run_pop: RunPop) -> None:
    completed = run_pop("token", "add", "--customer", "acme", "--name", "ci")
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pop_") and len(lines[0]) == 4 + 43
    stderr = completed.stderr.splitlines()
    assert len(stderr) == 1
    assert "only once" in stderr[0] and "export POP_TOKEN=" in stderr[0]
    assert lines[0] not in completed.stderr


def test_add_json_prints_the_stored_token_with_its_secret_once(run_pop: RunPop) -> None:
    added = out(run_pop("token", "add", "--executor", "--insight", "a", "--insight", "b", "--json"))
    assert added["kind"] == "executor"
    assert added["insights"] == ["a", "b"] and added["customers"] == []
    assert added["token"].startswith("pop_")
    assert added["id"].startswith("tok_") and len(added["id"]) == 12
    listed = out(run_pop("token", "list", "--json"))
    assert [item["id"] for item in listed] == [added["id"]]
    assert "token" not in listed[0] and "hash" not in listed[0]
    assert added["token"] not in run_pop("token", "list").stdout


def test_only_the_hash_of_a_token_is_in_the_store_file(run_pop: RunPop, pop_home: Path) -> None:
    secret = run_pop("token", "add", "--global", "--name", "admin").stdout.strip()
    run_pop("token", "list")  # the store is opened and closed again (WAL checkpoint)
    connection = sqlite3.connect(pop_home / "pop.db")
    try:
        (stored,) = connection.execute("SELECT hash FROM tokens WHERE name = 'admin'").fetchone()
        rows = connection.execute("SELECT * FROM tokens").fetchall()
    finally:
        connection.close()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(rows)
    for path in pop_home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, f"the secret is in {path}"
            assert secret[4:].encode() not in data, f"the secret is in {path}"


def test_list_shows_each_tokens_rights_and_state_in_aligned_columns(
    run_pop: RunPop, seeded: Any
) -> None:
    out(run_pop("token", "add", "--global", "--name", "admin", "--expires", "30d", "--json"))
    out(run_pop("token", "add", "--executor", "--insight", "transcode", "--json"))
    assert run_pop("token", "revoke", "ci").returncode == 0
    completed = run_pop("token", "list")
    assert completed.returncode == 0, completed.stderr
    header, *rows = completed.stdout.splitlines()
    assert header.split() == [
        "ID", "NAME", "KIND", "CUSTOMERS/INSIGHTS", "STATE", "EXPIRES", "LAST", "USED",
    ]  # fmt: skip
    assert len(rows) == 3
    state_column = header.index("STATE")
    assert [row[state_column:].split()[0] for row in rows] == ["revoked", "active", "active"]
    assert rows[0].split()[1:4] == ["ci", "customer", "acme"]
    assert rows[1].split()[1:4] == ["admin", "global", "*"]
    assert rows[2].split()[1:3] == ["executor", "transcode"]
    assert "never" in rows[2]


def test_revoke_by_name_or_id_twice_is_fine_and_keeps_the_first_time(
    run_pop: RunPop, seeded: Any
) -> None:
    first = out(run_pop("token", "revoke", "ci", "--json"))
    assert first["revokedTime"] is not None and first["name"] == "ci"
    again = run_pop("token", "revoke", first["id"])
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"revoked token {first['id']} (ci)"
    assert out(run_pop("token", "list", "--json"))[0]["revokedTime"] == first["revokedTime"]


def test_revoke_accepts_a_leaked_secret_and_never_repeats_it(
    run_pop: RunPop, pop_home: Path
) -> None:
    secret = run_pop("token", "add", "--customer", "acme").stdout.strip()
    revoked = run_pop("token", "revoke", secret)
    assert revoked.returncode == 0, revoked.stderr
    assert secret not in revoked.stdout + revoked.stderr
    assert out(run_pop("token", "list", "--json"))[0]["revokedTime"] is not None
    unknown = run_pop("token", "revoke", secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert unknown.returncode == 4
    assert secret[4:20] not in unknown.stderr


def test_revoke_of_an_unknown_token_is_exit_4(run_pop: RunPop, seeded: Any, pop_home: Path,
                                             store_snapshot: Snapshot) -> None:  # fmt: skip
    completed = run_pop("token", "revoke", "nope")
    assert completed.returncode == 4
    assert_one_error_line(completed, "nope")
    assert store_snapshot(pop_home) == seeded


BAD_ADDS = {
    "no rights": ([], "--customer"),
    "global and executor": (["--global", "--executor", "--insight", "i"], "--executor"),
    "global with a customer": (["--global", "--customer", "acme"], "--customer"),
    "global with an insight": (["--global", "--insight", "i"], "--insight"),
    "executor without insight": (["--executor"], "insight"),
    "executor with a customer": (["--executor", "--insight", "i", "--customer", "a"], "--customer"),
    "insight without executor": (["--customer", "acme", "--insight", "i"], "--insight"),
    "empty customer": (["--customer", ""], "customer id is empty"),
    "blank insight": (["--executor", "--insight", " "], "insight id is empty"),
    "star customer": (["--customer", "*"], "super user"),
    "name taken": (["--customer", "acme", "--name", "ci"], "'ci' already exists"),
    "empty name": (["--global", "--name", ""], "name is empty"),
    "name like an id": (["--global", "--name", "tok_12345678"], "tok_"),
    "name like a secret": (["--global", "--name", "pop_abc"], "pop_"),
    "bad duration": (["--global", "--expires", "soon"], "--expires"),
    "zero duration": (["--global", "--expires", "0"], "expire"),
    "negative duration": (["--global", "--expires", "-5m"], "--expires"),
    "unknown option": (["--global", "--forever"], "--forever"),
}


@pytest.mark.parametrize("case", list(BAD_ADDS))
def test_a_bad_add_gives_one_error_line_exit_2_and_an_unchanged_store(
    case: str, run_pop: RunPop, seeded: Any, pop_home: Path, store_snapshot: Snapshot
) -> None:
    args, named = BAD_ADDS[case]
    completed = run_pop("token", "add", *args)
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert_one_error_line(completed, named)
    assert store_snapshot(pop_home) == seeded


def test_expires_sets_the_expiry_from_now(run_pop: RunPop) -> None:
    added = out(run_pop("token", "add", "--customer", "acme", "--expires", "2h", "--json"))
    assert added["expiresTime"] - added["createdTime"] == 2 * 3600 * 1000
