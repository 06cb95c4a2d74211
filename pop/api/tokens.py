"""Bearer tokens of the library facade: make, list, revoke and check the tokens of ``pop serve``.

Layer: api. :class:`pop.api.Client` takes these methods from :class:`TokensMixin`; ``pop token
add|list|revoke`` call the first three, the server calls :meth:`TokensMixin.token_verify` once per
request. A secret is ``pop_`` + 43 URL-safe characters (256 random bits); it is returned once by
:meth:`TokensMixin.token_add` and only its sha256 hex reaches the store, so a stolen ``pop.db``
holds no usable token. Messages name a token by its name or id, never by its secret.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pop.errors import InputError, NotFoundError, UnauthorizedError
from pop.models import TOKEN_KINDS, TokenInfo, now_ms
from pop.models.states import iso_time

if TYPE_CHECKING:
    from pop.store import Store

SECRET_PREFIX = "pop_"
ID_PREFIX = "tok_"
_SECRET_CHARS = 43  # secrets.token_urlsafe(32): 32 random bytes, 43 base64url characters
_MAX_EXPIRES_SECONDS = 100 * 365 * 86_400
_LIST_HINT = "`pop token list` shows tokens"


def token_actor(info: TokenInfo) -> str:
    """How change records name a request's token: ``token:<name>/<id>`` (``token:<id>`` for a
    token without a name); the id is not secret, the secret is never part of it."""
    return f"token:{info.name}/{info.id}" if info.name else f"token:{info.id}"


def hash_secret(secret: str) -> str:
    """The sha256 hex of a token's secret: what the store keeps and looks tokens up by."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)[:_SECRET_CHARS]


def _ids(values: Iterable[str], what: str) -> list[str]:
    """Given ids in order, duplicates dropped; InputError for a blank one."""
    kept: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"a {what} id is empty")
        if value not in kept:
            kept.append(value)
    return kept


def _check_rights(kind: str, customers: list[str], insights: list[str]) -> None:
    if kind not in TOKEN_KINDS:
        raise InputError(
            f"unknown token kind {kind!r}", hint="a token is customer, global or executor"
        )
    if kind == "customer":
        if not customers:
            raise InputError(
                "a customer token needs at least one customer",
                hint="give --customer C (repeatable), or --global for every customer",
            )
        starred = [customer for customer in customers if customer.startswith("*")]
        if starred:
            raise InputError(
                f"customer id {starred[0]!r} is POP's super user, not a customer",
                hint="make a global token with --global",
            )
        if insights:
            raise InputError(
                "a customer token takes no insights", hint="insights are for --executor tokens"
            )
    elif kind == "executor":
        if not insights:
            raise InputError(
                "an executor token needs at least one insight",
                hint="give --insight I (repeatable) with --executor",
            )
        if customers:
            raise InputError(
                "an executor token takes no customers",
                hint="an executor token pulls and reports for its insights only",
            )
    elif customers or insights:
        raise InputError(
            "a global token takes no customers and no insights",
            hint="it sees every customer and insight; drop --customer and --insight",
        )


def _check_name(name: str | None) -> None:
    if name is None:
        return
    if not name.strip():
        raise InputError("the token name is empty")
    if name != name.strip():
        raise InputError(f"the token name {name!r} starts or ends with a space")
    if name.startswith((ID_PREFIX, SECRET_PREFIX)):
        raise InputError(
            f"a token name may not start with {ID_PREFIX} or {SECRET_PREFIX}",
            hint="those prefixes mark token ids and secrets",
        )


def _expires_time(created: int, expires_seconds: float | None) -> int | None:
    if expires_seconds is None:
        return None
    if not 0 < expires_seconds <= _MAX_EXPIRES_SECONDS or math.isnan(expires_seconds):
        raise InputError(
            f"a token must expire after more than 0 seconds and within 100 years, "
            f"not {expires_seconds:g} seconds",
            hint="give --expires like 30d, 12h or 90m, or no --expires for a token that lasts",
        )
    return created + max(1, round(expires_seconds * 1000))


class TokensMixin:
    """``pop token add|list|revoke`` and the server's check of a request's bearer token."""

    if TYPE_CHECKING:

        @property
        def store(self) -> Store: ...

    def token_add(
        self,
        *,
        kind: str,
        customers: Iterable[str] = (),
        insights: Iterable[str] = (),
        name: str | None = None,
        expires_seconds: float | None = None,
        now: int | None = None,
    ) -> tuple[TokenInfo, str]:
        """Make and store a token; its info and its secret, which is shown this once (only
        its hash is stored). A customer token needs customers, an executor token insights, a
        global token takes neither; a name must be free. InputError (nothing stored) otherwise.
        ``now`` (epoch ms, default the current time) is the creation time."""
        customer_ids = _ids(customers, "customer")
        insight_ids = _ids(insights, "insight")
        _check_rights(kind, customer_ids, insight_ids)
        _check_name(name)
        created = now_ms() if now is None else now
        expires = _expires_time(created, expires_seconds)
        secret = new_secret()
        with self.store.transaction():
            if name is not None and self.store.tokens.name_taken(name):
                raise InputError(
                    f"a token named {name!r} already exists",
                    hint="choose another --name (`pop token list` shows the names in use)",
                )
            token_id = ID_PREFIX + secrets.token_hex(4)
            while self.store.tokens.id_taken(token_id):
                token_id = ID_PREFIX + secrets.token_hex(4)
            info = TokenInfo(
                id=token_id,
                name=name,
                kind=kind,  # type: ignore[arg-type]  # checked by _check_rights
                customers=customer_ids,
                insights=insight_ids,
                created_time=created,
                expires_time=expires,
            )
            self.store.tokens.add(info, hash_secret(secret))
        return info, secret

    def token_list(self) -> builtins.list[TokenInfo]:
        """Every token, oldest first, revoked and expired ones included (never a secret)."""
        return self.store.tokens.list()

    def token_get(self, id_or_name: str) -> TokenInfo:
        """A token by id or name (NotFoundError)."""
        return self.store.tokens.get(id_or_name)

    def token_revoke(self, id_or_name: str, *, now: int | None = None) -> TokenInfo:
        """Revoke a token given by id, name or its secret (a leaked one, which no message then
        repeats); revoking a revoked token changes nothing. NotFoundError when none matches."""
        when = now_ms() if now is None else now
        with self.store.transaction():
            if id_or_name.startswith(SECRET_PREFIX):
                found = self.store.tokens.by_hash(hash_secret(id_or_name))
                if found is None:
                    raise NotFoundError("no token has the secret given", hint=_LIST_HINT)
            else:
                found = self.store.tokens.get(id_or_name)
            return self.store.tokens.revoke(found.id, when)

    def token_verify(self, secret: str | None, *, now: int | None = None) -> TokenInfo:
        """The token a request's bearer secret belongs to, when it is active: one lookup by the
        secret's sha256 on an index, and a write of ``lastUsedTime`` at most once a minute.
        UnauthorizedError, with a message per cause, when the secret is missing, unknown, or
        its token expired or was revoked; no message contains the secret."""
        if secret is None or not secret.strip():
            raise UnauthorizedError(
                "no token: requests need the header `Authorization: Bearer <token>`",
                hint="`pop token add` makes a token; clients read it from POP_TOKEN or "
                "--token-file",
            )
        info = self.store.tokens.by_hash(hash_secret(secret.strip()))
        if info is None:
            what = (
                "unknown token" if secret.strip().startswith(SECRET_PREFIX) else "not a pop token"
            )
            raise UnauthorizedError(
                f"{what}: no token of this server has that secret",
                hint="`pop token add` on the server makes one (tokens start with pop_)",
            )
        when = now_ms() if now is None else now
        state = info.state(when)
        if state == "revoked" and info.revoked_time is not None:
            raise UnauthorizedError(
                f"the token {info.label} was revoked at {iso_time(info.revoked_time)}",
                hint="ask for a new token (`pop token add`)",
            )
        if state == "expired" and info.expires_time is not None:
            raise UnauthorizedError(
                f"the token {info.label} expired at {iso_time(info.expires_time)}",
                hint="ask for a new token (`pop token add`)",
            )
        if self.store.tokens.touch(info, when):
            info = info.model_copy(update={"last_used_time": when})
        return info
