"""The ``tokens`` table on a real store: hash-only rows, lookups by id, name and hash, revoking,
and ``lastUsedTime`` written at most once a minute (issue 13, item 3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pop.errors import NotFoundError
from pop.models import TokenInfo
from pop.store import Store
from pop.store.tokens import TOUCH_INTERVAL_MS

HASH = "ab" * 32


@pytest.fixture
def store(pop_home: Path) -> Iterator[Store]:
    with Store.open(pop_home / "pop.db") as opened:
        yield opened


def token(**fields: object) -> TokenInfo:
    values: dict[str, object] = {
        "id": "tok_00000001",
        "kind": "customer",
        "customers": ["acme"],
        "created_time": 1_000,
    }
    values.update(fields)
    return TokenInfo.model_validate(values)


def test_a_token_is_found_by_id_name_and_hash_and_round_trips(store: Store) -> None:
    added = token(name="ci", expires_time=5_000)
    with store.transaction():
        store.tokens.add(added, HASH)
    assert store.tokens.get("tok_00000001") == added
    assert store.tokens.get("ci") == added
    assert store.tokens.by_hash(HASH) == added
    assert store.tokens.by_hash("cd" * 32) is None
    assert store.tokens.find("nope") is None
    assert store.tokens.list() == [added]


def test_an_id_wins_over_another_tokens_equal_name(store: Store) -> None:
    with store.transaction():
        store.tokens.add(token(id="tok_00000001", name="x"), HASH)
        store.tokens.add(token(id="tok_00000002", name="tok_00000001"), "cd" * 32)
    assert store.tokens.get("tok_00000001").name == "x"


def test_get_of_an_unknown_token_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no token with id or name ghost"):
        store.tokens.get("ghost")


def test_hash_and_name_are_unique_in_the_table(store: Store) -> None:
    with store.transaction():
        store.tokens.add(token(name="ci"), HASH)
        store.tokens.add(token(id="tok_00000002"), "cd" * 32)  # names may be absent on many
        store.tokens.add(token(id="tok_00000003"), "ef" * 32)
    connection = store.db.connection
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute(
            "INSERT INTO tokens (id, hash, kind, created_time) VALUES ('t4', ?, 'global', 1)",
            (HASH,),
        )
    with pytest.raises(sqlite3.IntegrityError):
        connection.execute(
            "INSERT INTO tokens (id, name, hash, kind, created_time) "
            "VALUES ('t5', 'ci', 'x', 'global', 1)"
        )


def test_the_hash_lookup_uses_an_index(store: Store) -> None:
    plan = store.db.query("EXPLAIN QUERY PLAN SELECT id FROM tokens WHERE hash = ?", (HASH,))
    assert any("USING INDEX" in row["detail"] for row in plan), [row["detail"] for row in plan]


def test_revoking_twice_keeps_the_first_time(store: Store) -> None:
    with store.transaction():
        store.tokens.add(token(), HASH)
    assert store.tokens.revoke("tok_00000001", 2_000).revoked_time == 2_000
    assert store.tokens.revoke("tok_00000001", 3_000).revoked_time == 2_000


def test_last_used_is_written_at_most_once_a_minute(store: Store) -> None:
    with store.transaction():
        store.tokens.add(token(), HASH)
    assert store.tokens.touch(store.tokens.get("tok_00000001"), 10_000)
    seen = store.tokens.get("tok_00000001")
    assert seen.last_used_time == 10_000
    assert not store.tokens.touch(seen, 10_000 + TOUCH_INTERVAL_MS - 1)
    assert store.tokens.get("tok_00000001").last_used_time == 10_000
    assert store.tokens.touch(seen, 10_000 + TOUCH_INTERVAL_MS)
    assert store.tokens.get("tok_00000001").last_used_time == 10_000 + TOUCH_INTERVAL_MS
    # another process touched it in between: a stale copy writes nothing
    assert not store.tokens.touch(seen, 10_000 + TOUCH_INTERVAL_MS + 5)
