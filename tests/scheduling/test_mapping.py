"""Insight selection on submit (DESIGN §10, POP §9.4): mappers, ``defaultInsight``, candidates,
single-user mode, and submit routing through the library API on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.errors import InputError
from pop.models import Agenda, Customer, Insight, Operation
from pop.scheduling.mapping import (
    candidate_insights,
    choose_insight,
    insight_matches,
    mapper_matches,
    select_insight,
)
from pop.store import Store
from tests.scheduling.helpers import facility

INSIGHT1 = Insight(
    id="insightId1",
    title="insightTitle1",
    is_global=True,
    mappers={"operationName": ["N1"], "operationType": ["T1"]},
)
INSIGHT2 = Insight(
    id="insightId2",
    title="insightTitle2",
    is_global=True,
    mappers={"operationType": ["T2A", "T2B"]},
)


def agenda(*operations: tuple[str, str], **params: Any) -> Agenda:
    return Agenda(
        title="routed",
        params=params,
        operations=[Operation(name=name, type=op_type) for name, op_type in operations],
    )


def chosen(candidate: Agenda) -> str | None:
    found = choose_insight([INSIGHT1, INSIGHT2], candidate)
    return found.id if found else None


# -- POP's vectors ----------------------------------------------------------------------------


def test_an_agenda_no_mapper_knows_matches_no_insight() -> None:
    assert chosen(agenda(("wrong operation", "wrong type"))) is None


def test_an_operation_name_routes_to_the_insight_mapping_that_name() -> None:
    assert chosen(agenda(("N1", "other"))) == "insightId1"


def test_an_operation_type_routes_to_the_insight_mapping_that_type() -> None:
    assert chosen(agenda(("a", "T1"))) == "insightId1"
    assert chosen(agenda(("a", "T2A"))) == "insightId2"


@pytest.mark.parametrize(
    "preferred", ["insightId2", "insightTitle2", "INSIGHTTITLE2", "insightid2"]
)
def test_default_insight_by_id_or_title_picks_among_several_matches(preferred: str) -> None:
    several = agenda(("a", "T1"), ("b", "T2A"), ("c", "T2B"), defaultInsight=preferred)

    assert chosen(several) == "insightId2"


def test_an_unknown_default_insight_falls_back_to_the_first_match() -> None:
    several = agenda(("a", "T1"), ("b", "T2A"), ("c", "T2B"), defaultInsight="MissingInsight")

    assert chosen(several) == "insightId1"


def test_without_default_insight_the_first_matching_candidate_wins() -> None:
    assert chosen(agenda(("a", "T2A"), ("b", "T1"))) == "insightId1"


# -- mapper rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "params"),
    [("agenda", {"myparam": "myvalue"}), ("agenda", {"MyParam": "MYVALUE"}), ("op", None)],
)
def test_param_map_matches_agenda_or_operation_params_case_insensitively(
    where: str, params: dict[str, Any] | None
) -> None:
    candidate = agenda(("a", "t"), **(params or {}))
    if where == "op":
        candidate.operations[0].params = {"myparam": "myvalue"}

    assert mapper_matches("paramMap", ["myparam=mYvalue"], candidate)


@pytest.mark.parametrize(
    ("entry", "params", "expected"),
    [
        ("quality=high=ignored", {"quality": "high"}, True),
        ("count=5", {"count": 5}, True),
        ("flag=true", {"flag": True}, True),
        ("quality=high", {"quality": "low"}, False),
        ("novalue", {"novalue": ""}, False),
        ("=high", {"": "high"}, False),
    ],
)
def test_param_map_values_are_the_text_between_the_first_and_second_equals(
    entry: str, params: dict[str, Any], expected: bool
) -> None:
    assert mapper_matches("paramMap", [entry], agenda(("a", "t"), **params)) is expected


def test_mapper_names_and_values_match_case_insensitively() -> None:
    assert mapper_matches("OPERATIONTYPE", ["transcode"], agenda(("a", "TransCode")))
    assert mapper_matches("operationname", ["ENCODE"], agenda(("encode", "t")))


def test_an_insight_without_mappers_or_with_empty_or_unknown_mappers_never_matches() -> None:
    candidate = agenda(("a", "T1"))

    assert not insight_matches(Insight(id="none"), candidate)
    assert not insight_matches(Insight(id="empty", mappers={"operationType": []}), candidate)
    assert not insight_matches(Insight(id="odd", mappers={"colour": ["T1"]}), candidate)


def test_candidates_are_the_pool_insights_then_allowed_and_global_ones_elsewhere() -> None:
    customer = Customer(id="Acme", resource_pool_id="P")
    insights = [
        Insight(id="elsewhere", resource_pool_id="Q"),
        Insight(id="global", resource_pool_id="Q", is_global=True),
        Insight(id="allowed", resource_pool_id="Q", allowed_customer_ids=["ACME"]),
        Insight(id="own", resource_pool_id="P"),
    ]

    assert [item.id for item in candidate_insights(customer, insights)] == [
        "own",
        "global",
        "allowed",
    ]


# -- against a store --------------------------------------------------------------------------


@pytest.fixture
def store(pop_home: Path) -> Iterator[Store]:
    opened = Store.open(pop_home / "pop.db")
    yield opened
    opened.close()


def routed_store(store: Store) -> Store:
    facility(
        store,
        pools=["P", "Q"],
        customers={"acme": "P", "other": "Q", "default": "Q"},
        insights=[
            {"id": "insight1", "resourcePoolId": "P", "mappers": INSIGHT1.mappers},
            {"id": "insight2", "resourcePoolId": "P", "mappers": INSIGHT2.mappers},
            {"id": "q-only", "resourcePoolId": "Q", "mappers": {"operationType": ["T1"]}},
        ],
    )
    return store


def test_single_user_mode_sends_every_agenda_to_the_default_insight(store: Store) -> None:
    for customer in (None, "anyone"):
        candidate = agenda(("a", "T1"))
        candidate.customer_id = customer

        selected = select_insight(store, candidate)

        assert (selected.insight_id, selected.resource_pool_id) == ("default", "default")


def test_once_customers_exist_an_unknown_customer_is_bad_input(store: Store) -> None:
    candidate = agenda(("a", "T1"))
    candidate.customer_id = "nobody"

    with pytest.raises(InputError, match="customer nobody not found"):
        select_insight(routed_store(store), candidate)


def test_an_agenda_without_customer_is_the_default_customer(store: Store) -> None:
    selected = select_insight(routed_store(store), agenda(("a", "T1")))

    assert (selected.insight_id, selected.resource_pool_id) == ("q-only", "Q")


def test_the_customers_pool_decides_which_insights_are_candidates(store: Store) -> None:
    candidate = agenda(("a", "T1"), ("b", "T2A"), defaultInsight="insight2")
    candidate.customer_id = "acme"

    selected = select_insight(routed_store(store), candidate)

    assert (selected.insight_id, selected.resource_pool_id) == ("insight2", "P")


def test_no_matching_insight_is_bad_input(store: Store) -> None:
    candidate = agenda(("a", "T2A"))
    candidate.customer_id = "other"

    with pytest.raises(InputError, match="no insight matches this agenda"):
        select_insight(routed_store(store), candidate)


def test_submit_and_template_run_queue_the_agenda_on_the_selected_insight(
    pop_home: Path,
) -> None:
    client = Client()
    try:
        routed_store(client.store)
        document = {
            "title": "routed",
            "customerId": "acme",
            "operations": [{"name": "N1", "type": "sample", "payload": {"actions": []}}],
        }
        submitted = client.submit(document)
        client.template_add({"id": "tpl", "title": "tpl", "agenda": document})
        from_template = client.template_run("tpl", {})

        for submission in (submitted, from_template):
            agenda_id = submission.agenda.id or ""
            assert submission.agenda.agenda_insight is not None
            assert submission.agenda.agenda_insight.insight_id == "insight1"
            assert client.status(agenda_id).agenda_insight.insight_id == "insight1"  # type: ignore[union-attr]
            assert client.store.queue.oldest("insight1", 10)
        assert client.store.queue.size("insight1") == 2
    finally:
        client.close()


def test_submit_with_no_matching_insight_stores_nothing(pop_home: Path) -> None:
    client = Client()
    try:
        routed_store(client.store)
        document = {
            "title": "unrouted",
            "customerId": "acme",
            "operations": [{"name": "x", "type": "sample", "payload": {"actions": []}}],
        }
        with pytest.raises(InputError, match="no insight matches"):
            client.submit(document)
        assert client.list() == []
        assert client.store.queue.size() == 0
    finally:
        client.close()


def test_do_not_run_stores_the_routed_agenda_without_queueing_it(pop_home: Path) -> None:
    client = Client()
    try:
        routed_store(client.store)
        submission = client.submit(
            {
                "title": "parked",
                "customerId": "acme",
                "params": {"doNotRun": False},
                "operations": [{"name": "N1", "type": "sample", "payload": {"actions": []}}],
            }
        )
        assert submission.queued is False
        assert submission.agenda.agenda_insight is not None
        assert submission.agenda.agenda_insight.insight_id == "insight1"
        assert client.store.queue.size() == 0
    finally:
        client.close()
