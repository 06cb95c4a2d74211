"""The store's pages of agendas (``store.progress.page``, the dashboard's agendas page): every
condition at once, newest first, LIMIT/OFFSET with the count of every match, an op type from the
stored documents, a case-insensitive search over ids, titles and op names (non-ASCII, quotes and
backslashes too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.config import Settings
from pop.store.progress import PageQuery


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    client = Client(Settings(home=tmp_path / "pop_home"))
    try:
        yield client
    finally:
        client.close()


def submit(client: Client, title: str, *, ops: dict[str, str], **fields: Any) -> str:
    operations = [{"name": name, "type": kind, "payload": {}} for name, kind in ops.items()]
    agenda = {"title": title, "operations": operations, "params": {"doNotRun": True}, **fields}
    return str(client.submit(agenda).agenda.id)


def page(client: Client, **conditions: Any) -> tuple[list[str], int]:
    found, total = client.store.progress.page(PageQuery(**conditions))
    return [progress.agenda_id or "" for progress in found], total


def test_pages_come_newest_first_with_the_count_of_every_match(client: Client) -> None:
    ids = [
        submit(client, f"item {n}", ops={"only": "noop"}, customerId=("a", "b", "c")[n % 3])
        for n in range(12)
    ]
    newest = ids[::-1]
    assert page(client, limit=5) == (newest[:5], 12)
    assert page(client, limit=5, offset=10) == (newest[10:], 12)
    assert page(client, limit=5, offset=20) == ([], 12)  # past the end: still counted
    of_a_and_b = [agenda for n, agenda in enumerate(ids) if n % 3 != 2][::-1]
    assert page(client, customer_ids=["a", "b"], limit=50) == (of_a_and_b, 8)
    assert page(client, customer_ids=[], limit=50) == ([], 0)  # may see no customer
    assert page(client, customer_ids=["a"], agenda_id=ids[1]) == ([], 0)  # b's
    assert page(client, customer_ids=["b"], agenda_id=ids[1]) == ([ids[1]], 1)
    assert page(client, state="COMPLETE") == ([], 0)
    assert page(client, state="WAITING", link_id="none such") == ([], 0)


def test_an_op_type_and_a_text_search_find_what_they_name(client: Client) -> None:
    logs = submit(client, "Ladder \u00c9t\u00e9", ops={"Encode-HD": "logMessages", "b": "noop"})
    plain = submit(client, 'say "hi" \\ back', ops={"probe": "noop"}, linkId="L1")
    assert page(client, op_type="logMessages") == ([logs], 1)
    assert page(client, op_type="noop") == ([plain, logs], 2)
    assert page(client, op_type="nosuch") == ([], 0)
    assert page(client, op_type="logMessages", link_id="L1") == ([], 0)
    for text in ("ladder", "LADDER \u00c9T\u00c9", "\u00e9t\u00e9", "encode-hd", logs[:9].upper()):
        assert page(client, text=text) == ([logs], 1), text
    for text in ('"HI"', "\\ BACK", "PROBE", plain[-6:]):
        assert page(client, text=text) == ([plain], 1), text
    assert page(client, text="nothing like it") == ([], 0)
    assert page(client, text="DONOTRUN") == ([], 0)  # in the stored document, not in a name
    assert page(client, text="ladder", op_type="noop") == ([logs], 1)
