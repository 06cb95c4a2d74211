"""``pop customer|pool|insight add|list|show|update|delete`` and insight selection on
``pop submit``, through the real CLI and a real store (issue 4, items 1 and 2).

Bad input gives one ``error:`` line, exit 2 (4 for an unknown id) and leaves the store unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from tests.cli.test_errors import assert_one_error_line

RunPop = Callable[..., Any]
Snapshot = Callable[[Path], Any]

AGENDA = {
    "title": "transcode one clip",
    "operations": [{"name": "encode", "type": "sample", "payload": {"actions": []}}],
}


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def out(completed: Any) -> Any:
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


@pytest.fixture
def seeded(pop_home: Path, store_snapshot: Snapshot) -> Any:
    """Pool ``media`` with customer ``acme`` and insight ``transcode`` (operationType sample), and
    one agenda submitted to it; returns the store's snapshot."""
    client = Client()
    try:
        client.facility_add("pool", {"id": "media", "title": "Media"})
        client.facility_add("customer", {"id": "acme", "title": "Acme", "resourcePoolId": "media"})
        client.facility_add(
            "insight",
            {
                "id": "transcode",
                "title": "Transcode",
                "resourcePoolId": "media",
                "mappers": {"operationType": ["sample"]},
            },
        )
        client.submit(AGENDA, customer_id="acme")
    finally:
        client.close()
    return store_snapshot(pop_home)


def assert_rejected(
    completed: Any, code: int, pop_home: Path, before: Any, snapshot: Snapshot, *names: str
) -> None:
    assert completed.returncode == code, completed.stderr
    assert_one_error_line(completed, *names)
    assert completed.stdout == ""
    assert snapshot(pop_home) == before


# -- add, list, show, update, delete -----------------------------------------------------------


def test_a_pool_customer_and_insight_added_with_flags_are_stored_as_pop_objects(
    run_pop: RunPop,
) -> None:
    pool = out(run_pop("pool", "add", "--id", "media", "--title", "Media", "--json"))
    customer = out(
        run_pop(
            "customer", "add", "--id", "acme", "--title", "Acme", "--pool", "media",
            "--billing-code", "B-7", "--json",
        )
    )  # fmt: skip
    insight = out(
        run_pop(
            "insight", "add", "--id", "transcode", "--title", "Transcode", "--pool", "media",
            "--queue-size", "4", "--algorithm", "RoundRobin", "--mapper", "operationType=transcode",
            "--mapper", "paramMap=quality=high", "--global", "--allow", "partner", "--json",
        )
    )  # fmt: skip

    assert (pool["id"], pool["title"], pool["insightIds"]) == ("media", "Media", [])
    assert {
        key: customer[key] for key in ("id", "customerId", "resourcePoolId", "billingCode")
    } == {
        "id": "acme",
        "customerId": "acme",
        "resourcePoolId": "media",
        "billingCode": "B-7",
    }
    assert insight["queueSize"] == 4
    assert insight["schedulingAlgorithm"] == "RoundRobin"
    assert insight["mappers"] == {"operationType": ["transcode"], "paramMap": ["quality=high"]}
    assert (insight["isGlobal"], insight["allowedCustomerIds"]) == (True, ["partner"])
    assert out(run_pop("pool", "show", "media", "--json"))["insightIds"] == ["transcode"]


def test_an_insight_defaults_to_fifo_and_unbounded(run_pop: RunPop, seeded: Any) -> None:
    insight = out(run_pop("insight", "add", "--title", "Thumbs", "--pool", "media", "--json"))

    assert insight["schedulingAlgorithm"] == "FirstInFirstOut"
    assert "queueSize" not in insight
    assert len(insight["id"]) == 36


def test_add_from_a_file_keeps_unknown_fields_and_flags_override_the_file(
    run_pop: RunPop, seeded: Any, tmp_path: Path
) -> None:
    document = {"customerId": "beta", "title": "From file", "resourcePoolId": "media", "tier": 2}

    added = out(
        run_pop(
            "customer", "add", "--file", str(write_json(tmp_path / "c.json", document)),
            "--title", "Beta", "--json",
        )
    )  # fmt: skip

    assert (added["id"], added["customerId"], added["title"], added["tier"]) == (
        "beta",
        "beta",
        "Beta",
        2,
    )
    assert out(run_pop("customer", "show", "beta", "--json")) == added


def test_list_prints_every_object_as_json_and_as_a_table(run_pop: RunPop, seeded: Any) -> None:
    for kind, object_id in (("pool", "media"), ("customer", "acme"), ("insight", "transcode")):
        as_json = out(run_pop(kind, "list", "--json"))
        as_table = run_pop(kind, "list")

        assert [item["id"] for item in as_json] == [object_id]
        assert as_table.returncode == 0, as_table.stderr
        assert object_id in as_table.stdout


def test_show_without_json_prints_the_fields(run_pop: RunPop, seeded: Any) -> None:
    shown = run_pop("insight", "show", "transcode")

    assert shown.returncode == 0, shown.stderr
    assert "operationType=sample" in shown.stdout
    assert "resourcePoolId: media" in shown.stdout


def test_update_replaces_the_given_fields_and_keeps_the_others(
    run_pop: RunPop, seeded: Any, tmp_path: Path
) -> None:
    first = run_pop("customer", "update", "acme", "--billing-code", "B-1")
    assert first.stdout.strip() == "updated customer acme", first.stderr
    updated = out(run_pop("customer", "update", "acme", "--title", "Acme Inc", "--json"))
    from_file = out(
        run_pop(
            "insight", "update", "transcode",
            "--file", str(write_json(tmp_path / "i.json", {"queueSize": 2})), "--json",
        )
    )  # fmt: skip

    assert (updated["title"], updated["billingCode"], updated["resourcePoolId"]) == (
        "Acme Inc",
        "B-1",
        "media",
    )
    assert updated["updatedTime"] >= updated["addedTime"]
    assert (from_file["queueSize"], from_file["mappers"]) == (2, {"operationType": ["sample"]})


def test_delete_removes_the_object_and_prints_what_was_stored(run_pop: RunPop, seeded: Any) -> None:
    added = out(run_pop("pool", "add", "--id", "spare", "--title", "Spare", "--json"))

    deleted = out(run_pop("pool", "delete", "spare", "--json"))

    assert deleted["id"] == added["id"] == "spare"
    assert [item["id"] for item in out(run_pop("pool", "list", "--json"))] == ["media"]


def test_without_json_add_prints_the_id_and_delete_says_what_went(
    run_pop: RunPop, seeded: Any
) -> None:
    added = run_pop("pool", "add", "--id", "spare", "--title", "Spare")
    deleted = run_pop("pool", "delete", "spare")

    assert added.stdout.strip() == "spare"
    assert deleted.stdout.strip() == "deleted pool spare"


# -- insight selection through pop submit ------------------------------------------------------


def test_submit_routes_the_agenda_to_its_customers_matching_insight(
    run_pop: RunPop, seeded: Any, tmp_path: Path
) -> None:
    agenda_file = write_json(tmp_path / "agenda.json", AGENDA)

    submitted = out(run_pop("submit", str(agenda_file), "--customer", "acme", "--json"))

    assert (submitted["insightId"], submitted["queued"]) == ("transcode", True)
    status = out(run_pop("status", submitted["agendaId"], "--json"))
    assert status["agendaInsight"] == {"resourcePoolId": "media", "insightId": "transcode"}


def test_in_single_user_mode_submit_uses_the_default_insight(
    run_pop: RunPop, tmp_path: Path
) -> None:
    agenda_file = write_json(tmp_path / "agenda.json", AGENDA)

    submitted = out(run_pop("submit", str(agenda_file), "--customer", "anyone", "--json"))

    assert submitted["insightId"] == "default"


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["pool", "show", "nope"], ("no pool with id nope",)),
        (["customer", "show", "nope"], ("no customer with id nope",)),
        (["insight", "show", "nope"], ("no insight with id nope",)),
        (["customer", "update", "nope", "--title", "x"], ("no customer with id nope",)),
        (["insight", "delete", "nope"], ("no insight with id nope",)),
    ],
    ids=["show pool", "show customer", "show insight", "update customer", "delete insight"],
)
def test_an_unknown_id_exits_4(
    args: list[str], names: tuple[str, ...], run_pop: RunPop, seeded: Any, pop_home: Path,
    store_snapshot: Snapshot,
) -> None:  # fmt: skip
    assert_rejected(run_pop(*args), 4, pop_home, seeded, store_snapshot, *names)


INSIGHT = ["insight", "add", "--id", "new", "--pool", "media"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ([*INSIGHT], ("insight new has no title",)),
        ([*INSIGHT, "--title", " "], ("insight new has no title",)),
        ([*INSIGHT, "--title", "T", "--queue-size", "0"], ("queue size 0",)),
        ([*INSIGHT, "--title", "T", "--queue-size", "-3"], ("queue size -3",)),
        ([*INSIGHT, "--title", "T", "--queue-size", "many"], ("--queue-size",)),
        ([*INSIGHT, "--title", "T", "--algorithm", "Fastest"], ("'Fastest'", "algorithm")),
        ([*INSIGHT, "--title", "T", "--mapper", "colour=red"], ("'colour'",)),
        ([*INSIGHT, "--title", "T", "--mapper", "operationType"], ("--mapper",)),
        ([*INSIGHT, "--title", "T", "--mapper", "paramMap=quality"], ("'quality'", "key=value")),
        (["insight", "add", "--id", "x", "--title", "T", "--pool", "none"], ("pool none",)),
        (["insight", "add", "--id", "x", "--title", "T"], ("needs a pool",)),
        (["insight", "add", "--id", "default", "--title", "T", "--pool", "media"], ("reserved",)),
        (["insight", "add", "--id", "transcode", "--title", "T", "--pool", "media"],
         ("transcode", "already exists")),
        (["insight", "update", "transcode", "--queue-size", "0"], ("queue size 0",)),
        (["insight", "update", "transcode", "--algorithm", "lifo"], ("'lifo'",)),
        (["customer", "add", "--id", "c2", "--pool", "media"], ("customer c2 has no title",)),
        (["customer", "add", "--title", "T", "--pool", "media"], ("needs an id",)),
        (["customer", "add", "--id", "c2", "--title", "T", "--pool", "gone"], ("pool gone",)),
        (["customer", "update", "acme", "--pool", "gone"], ("pool gone",)),
        (["pool", "delete", "media"], ("pool media", "customer acme", "insight transcode")),
        (["insight", "delete", "transcode"], ("insight transcode", "queued")),
    ],
    ids=[
        "insight without title", "insight with a blank title", "queue size 0",
        "negative queue size", "queue size not a number", "unknown algorithm", "unknown mapper",
        "mapper without value", "paramMap without key=value", "unknown pool", "no pool",
        "reserved id", "taken id", "update to queue size 0", "update to unknown algorithm",
        "customer without title", "customer without id", "customer with unknown pool",
        "customer moved to unknown pool", "pool in use", "insight with queued agendas",
    ],
)  # fmt: skip
def test_bad_facility_input_exits_2_and_changes_nothing(
    args: list[str], names: tuple[str, ...], run_pop: RunPop, seeded: Any, pop_home: Path,
    store_snapshot: Snapshot,
) -> None:  # fmt: skip
    assert_rejected(run_pop(*args), 2, pop_home, seeded, store_snapshot, *names)


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ('{"id": "c2", "title": "T", "resourcePoolId": ', ("malformed JSON",)),
        ('["not", "an", "object"]', ("JSON object",)),
        ('{"id": "c2", "customerId": "c3", "title": "T"}', ("c2", "c3", "differ")),
    ],
    ids=["malformed JSON", "not an object", "id and customerId differ"],
)
def test_a_bad_file_exits_2_and_changes_nothing(
    document: str, names: tuple[str, ...], run_pop: RunPop, seeded: Any, pop_home: Path,
    store_snapshot: Snapshot, tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "customer.json"
    path.write_text(document, encoding="utf-8")

    assert_rejected(
        run_pop("customer", "add", "--file", str(path)), 2, pop_home, seeded, store_snapshot,
        *names,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("customer", "agenda", "names"),
    [
        ("nobody", AGENDA, ("customer nobody not found",)),
        (None, AGENDA, ("customer default not found",)),
        (
            "acme",
            {**AGENDA, "operations": [{"name": "x", "type": "noop", "payload": {}}]},
            ("no insight matches this agenda",),
        ),
    ],
    ids=["unknown customer", "no customer given", "no matching insight"],
)
def test_a_submit_that_cannot_be_routed_exits_2_and_stores_nothing(
    customer: str | None, agenda: dict[str, Any], names: tuple[str, ...], run_pop: RunPop,
    seeded: Any, pop_home: Path, store_snapshot: Snapshot, tmp_path: Path,
) -> None:  # fmt: skip
    agenda_file = write_json(tmp_path / "agenda.json", agenda)
    options = ["--customer", customer] if customer else []

    assert_rejected(
        run_pop("submit", str(agenda_file), *options), 2, pop_home, seeded, store_snapshot, *names
    )
