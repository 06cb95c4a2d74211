"""Bearer tokens through the library facade (``Client.token_*``) and what a TokenInfo allows:
making a token (the rules of each kind), revoking it, and checking a request's secret, with one
message per cause (issue 13, item 3; POP-REFERENCE §2.4)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pop.api import Client
from pop.errors import EXIT_BAD_INPUT, InputError, NotFoundError, UnauthorizedError
from pop.models import TokenInfo

NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z


@pytest.fixture
def client(pop_home: Path) -> Iterator[Client]:
    made = Client()
    yield made
    made.close()


def info(kind: Any, **fields: Any) -> TokenInfo:
    return TokenInfo(id="tok_00000001", kind=kind, created_time=NOW, **fields)


# -- what a token allows -------------------------------------------------------------------


def test_a_customer_token_sees_exactly_its_customers_case_sensitively() -> None:
    token = info("customer", customers=["acme", "Beta"])
    assert token.can_see_customer("acme") and token.can_see_customer("Beta")
    assert not token.can_see_customer("ACME") and not token.can_see_customer("beta")
    assert not token.can_see_customer("other") and not token.can_see_customer(None)
    assert not token.is_global and not token.owns_insight("transcode")
    assert token.single_customer is None
    assert info("customer", customers=["acme"]).single_customer == "acme"


def test_a_global_token_sees_every_customer_and_owns_every_insight() -> None:
    token = info("global")
    assert token.is_global
    assert token.can_see_customer("anyone") and token.can_see_customer(None)
    assert token.owns_insight("transcode")
    assert token.single_customer is None


def test_an_executor_token_owns_its_insights_and_sees_no_customer() -> None:
    token = info("executor", insights=["transcode"])
    assert token.owns_insight("transcode")
    assert not token.owns_insight("Transcode") and not token.owns_insight("other")
    assert not token.can_see_customer("acme") and token.single_customer is None


def test_the_state_is_revoked_before_expired_before_active() -> None:
    assert info("global").state(NOW + 10**12) == "active"
    expiring = info("global", expires_time=NOW + 1_000)
    assert expiring.state(NOW + 999) == "active"
    assert expiring.state(NOW + 1_000) == "expired"
    assert info("global", expires_time=NOW + 1, revoked_time=NOW).state(NOW + 5) == "revoked"


def test_a_token_info_is_frozen_and_its_wire_form_is_camel_case_with_every_field() -> None:
    token = info("customer", customers=["acme"])
    with pytest.raises(ValueError):
        token.name = "changed"  # type: ignore[misc]
    assert token.to_wire() == {
        "id": "tok_00000001",
        "name": None,
        "kind": "customer",
        "customers": ["acme"],
        "insights": [],
        "createdTime": NOW,
        "expiresTime": None,
        "revokedTime": None,
        "lastUsedTime": None,
    }
    assert TokenInfo.from_wire(token.to_wire()) == token


# -- token_add ------------------------------------------------------------------------------


def test_token_add_returns_the_info_and_a_secret_of_which_only_the_hash_is_stored(
    client: Client,
) -> None:
    added, secret = client.token_add(kind="customer", customers=["acme", "acme", "b"], name="ci")
    assert re.fullmatch(r"pop_[A-Za-z0-9_-]{43}", secret)
    assert re.fullmatch(r"tok_[0-9a-f]{8}", added.id)
    assert added.customers == ["acme", "b"] and added.name == "ci"
    row = client.store.db.query_one("SELECT * FROM tokens")
    assert row is not None
    assert row["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(tuple(row))
    assert client.token_list() == [added]
    assert client.token_get("ci") == added


def test_token_add_sets_the_expiry_from_now(client: Client) -> None:
    added, _ = client.token_add(kind="global", expires_seconds=90, now=NOW)
    assert (added.created_time, added.expires_time) == (NOW, NOW + 90_000)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kind": "customer"}, "needs at least one customer"),
        ({"kind": "customer", "customers": ["a"], "insights": ["i"]}, "takes no insights"),
        ({"kind": "customer", "customers": ["*"]}, "super user"),
        ({"kind": "customer", "customers": [" "]}, "customer id is empty"),
        ({"kind": "executor"}, "needs at least one insight"),
        ({"kind": "executor", "insights": ["i"], "customers": ["a"]}, "takes no customers"),
        ({"kind": "global", "customers": ["a"]}, "takes no customers and no insights"),
        ({"kind": "global", "insights": ["i"]}, "takes no customers and no insights"),
        ({"kind": "admin"}, "unknown token kind 'admin'"),
        ({"kind": "global", "name": " "}, "name is empty"),
        ({"kind": "global", "name": " ci"}, "starts or ends with a space"),
        ({"kind": "global", "name": "pop_x"}, "may not start with"),
        ({"kind": "global", "expires_seconds": 0}, "more than 0 seconds"),
        ({"kind": "global", "expires_seconds": -1}, "more than 0 seconds"),
        ({"kind": "global", "expires_seconds": float("nan")}, "more than 0 seconds"),
        ({"kind": "global", "expires_seconds": 1e12}, "within 100 years"),
    ],
)
def test_token_add_refuses_bad_input_and_stores_nothing(
    client: Client, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        client.token_add(**arguments)
    assert raised.value.exit_code == EXIT_BAD_INPUT
    assert client.token_list() == []


def test_token_add_refuses_a_name_in_use_even_by_a_revoked_token(client: Client) -> None:
    client.token_add(kind="global", name="ci")
    client.token_revoke("ci")
    with pytest.raises(InputError, match="a token named 'ci' already exists"):
        client.token_add(kind="customer", customers=["acme"], name="ci")
    assert len(client.token_list()) == 1


# -- token_revoke ---------------------------------------------------------------------------


def test_token_revoke_by_id_name_or_secret_and_twice(client: Client) -> None:
    named, _ = client.token_add(kind="global", name="ci")
    assert client.token_revoke("ci", now=NOW).revoked_time == NOW
    assert client.token_revoke(named.id, now=NOW + 5).revoked_time == NOW
    other, secret = client.token_add(kind="global")
    assert client.token_revoke(secret, now=NOW).id == other.id


def test_token_revoke_of_an_unknown_token_is_not_found_and_never_repeats_a_secret(
    client: Client,
) -> None:
    with pytest.raises(NotFoundError, match="ghost"):
        client.token_revoke("ghost")
    with pytest.raises(NotFoundError) as raised:
        client.token_revoke("pop_" + "x" * 43)
    assert "x" * 10 not in raised.value.message


# -- token_verify ---------------------------------------------------------------------------


def test_token_verify_returns_an_active_tokens_info_and_records_its_use(client: Client) -> None:
    added, secret = client.token_add(kind="customer", customers=["acme"], now=NOW)
    verified = client.token_verify(secret, now=NOW + 1)
    assert verified.id == added.id and verified.last_used_time == NOW + 1
    assert client.token_verify(secret, now=NOW + 2).last_used_time == NOW + 1  # within a minute
    assert client.token_get(added.id).last_used_time == NOW + 1


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_token_verify_without_a_token_says_none_was_given(
    client: Client, secret: str | None
) -> None:
    with pytest.raises(UnauthorizedError, match=r"^no token: requests need the header"):
        client.token_verify(secret)


def test_token_verify_of_an_unknown_secret_says_unknown_and_never_repeats_it(
    client: Client,
) -> None:
    client.token_add(kind="global")
    unknown = "pop_" + "Q" * 43
    with pytest.raises(UnauthorizedError, match=r"^unknown token") as raised:
        client.token_verify(unknown)
    assert "Q" * 8 not in raised.value.message + (raised.value.hint or "")
    with pytest.raises(UnauthorizedError, match=r"^not a pop token"):
        client.token_verify("hunter2")


def test_token_verify_of_an_expired_token_names_it_and_when(client: Client) -> None:
    _, secret = client.token_add(kind="global", name="ci", expires_seconds=60, now=NOW)
    assert client.token_verify(secret, now=NOW + 59_999).name == "ci"
    with pytest.raises(UnauthorizedError) as raised:
        client.token_verify(secret, now=NOW + 60_000)
    assert raised.value.message == "the token ci expired at 2027-01-15T08:01:00Z"


def test_token_verify_of_a_revoked_token_names_it_by_id_without_a_name(client: Client) -> None:
    added, secret = client.token_add(kind="executor", insights=["transcode"], now=NOW)
    client.token_revoke(added.id, now=NOW + 1_000)
    with pytest.raises(UnauthorizedError) as raised:
        client.token_verify(secret, now=NOW + 2_000)
    assert raised.value.message == f"the token {added.id} was revoked at 2027-01-15T08:00:01Z"
    assert raised.value.exit_code == EXIT_BAD_INPUT
