"""Hand-out records: every claim writes one ``handouts`` row per agenda it hands out, in the
claim's transaction; rows older than 24 h are deleted by a later claim; a v5 store gains the
table when it is opened."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pop.scheduling.claim import HANDOUTS_KEPT_MS, claim_next
from pop.store import Store
from pop.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests.scheduling.helpers import T0, facility, queue_agenda

HOUR_MS = 3600 * 1000


@pytest.fixture
def store(pop_home: Path) -> Iterator[Store]:
    opened = Store.open(pop_home / "pop.db")
    yield opened
    opened.close()


def claim(store: Store, limit: int, *, now: int) -> list[str]:
    return claim_next(store, owner="executor-1", lease_seconds=30, limit=limit, now=now)


def handout_rows(store: Store) -> list[tuple[str, str, str, int]]:
    rows = store.db.query(
        "SELECT insight_id, customer_id, agenda_id, handed_time FROM handouts ORDER BY id"
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_each_claimed_agenda_leaves_a_handout_row_with_its_insight_customer_and_time(
    store: Store,
) -> None:
    facility(
        store,
        pools=["P"],
        customers={"A": "P", "B": "P"},
        insights=[{"id": "I", "resourcePoolId": "P", "mappers": {"operationType": ["sample"]}}],
    )
    first = queue_agenda(store, customer="A", insight="I", added=T0)
    second = queue_agenda(store, customer="B", insight="I", added=T0 + 1)
    third = queue_agenda(store, customer="A", insight="default", added=T0 + 2)

    claimed = claim(store, 5, now=T0 + 10)

    assert sorted(claimed) == sorted([first, second, third])
    assert sorted(handout_rows(store)) == sorted(
        [
            ("I", "A", first, T0 + 10),
            ("I", "B", second, T0 + 10),
            ("default", "A", third, T0 + 10),
        ]
    )
    assert store.queue.handout_shares("I", T0) == {"A": 1, "B": 1}
    assert store.queue.handout_shares("default", T0) == {"A": 1}
    assert store.queue.handout_shares("I", T0 + 11) == {}  # none since then


def test_a_claim_that_hands_nothing_out_records_nothing(store: Store) -> None:
    assert claim(store, 5, now=T0) == []
    queue_agenda(store, added=T0)
    assert claim(store, 0, now=T0) == []

    assert handout_rows(store) == []


def test_shares_count_only_the_handouts_since_the_given_time(store: Store) -> None:
    old = queue_agenda(store, customer="A", added=T0)
    claim(store, 1, now=T0)
    queue_agenda(store, customer="A", added=T0 + 1)
    queue_agenda(store, customer="B", added=T0 + 2)
    claim(store, 2, now=T0 + 2 * HOUR_MS)

    assert store.queue.handout_shares("default", T0 + HOUR_MS) == {"A": 1, "B": 1}
    assert store.queue.handout_shares("default", T0) == {"A": 2, "B": 1}
    assert ("default", "A", old, T0) in handout_rows(store)


def test_a_later_claim_deletes_the_handouts_older_than_a_day(store: Store) -> None:
    old = queue_agenda(store, customer="A", added=T0)
    claim(store, 1, now=T0)
    kept = queue_agenda(store, customer="B", added=T0 + 1)
    claim(store, 1, now=T0 + HANDOUTS_KEPT_MS - HOUR_MS)
    assert [row[2] for row in handout_rows(store)] == [old, kept]

    claim(store, 1, now=T0 + HANDOUTS_KEPT_MS + 1)  # nothing queued: it only prunes

    assert [row[2] for row in handout_rows(store)] == [kept]
    assert HANDOUTS_KEPT_MS == 24 * HOUR_MS


def test_a_version_5_store_gains_the_handouts_table_and_keeps_its_queue(
    store: Store, pop_home: Path
) -> None:
    queued = queue_agenda(store, customer="A", added=T0)
    store.close()
    # the same store as version 5 left it: no handouts table, user_version 5
    path = pop_home / "pop.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DROP TABLE handouts")
    connection.execute("PRAGMA user_version = 5")
    connection.close()

    with Store.open(path) as upgraded:
        version = upgraded.db.connection.execute("PRAGMA user_version").fetchone()[0]
        assert upgraded.queue.contains(queued)
        assert claim(upgraded, 1, now=T0 + 5) == [queued]
        rows = handout_rows(upgraded)
        indexes = {
            row[0]
            for row in upgraded.db.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'handouts'"
            )
        }

    assert version == SCHEMA_VERSION == len(MIGRATIONS) == 6
    assert rows == [("default", "A", queued, T0 + 5)]
    assert any(name.endswith("insight_id_handed_time") for name in indexes)
