"""Bearer tokens of ``pop serve``: what a token may see and do (POP-REFERENCE §2.4 made real).

Layer: models. Built by :mod:`pop.store.tokens` from its rows, returned by ``Client.token_*``
(``pop token add|list|revoke``) and used by the server to decide what a caller sees. The secret
and its hash are never part of a :class:`TokenInfo`: only the store holds the hash.

Kinds:

- ``customer``: sees and writes the objects of its ``customers`` (exact, case-sensitive ids);
- ``global``: sees and writes everything (POP's super user);
- ``executor``: pulls and reports for its ``insights`` and nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from pop.models.base import WireModel
from pop.models.base import now_ms as current_ms

TokenKind = Literal["customer", "global", "executor"]
TokenState = Literal["active", "expired", "revoked"]
TOKEN_KINDS: tuple[TokenKind, ...] = ("customer", "global", "executor")


class TokenInfo(WireModel):
    """One stored token, without its secret: rights, name and times (epoch ms)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None = None
    kind: TokenKind
    customers: list[str] = Field(default_factory=list)
    insights: list[str] = Field(default_factory=list)
    created_time: int
    expires_time: int | None = None
    revoked_time: int | None = None
    last_used_time: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """Every field, set or not (``expiresTime: null`` means never), camelCase."""
        return self.model_dump(by_alias=True, mode="json")

    @property
    def label(self) -> str:
        """How messages name the token: its name, else its id."""
        return self.name or self.id

    @property
    def is_global(self) -> bool:
        return self.kind == "global"

    @property
    def single_customer(self) -> str | None:
        """The customer of a customer token with exactly one (the default ``customerId`` of what
        it submits); None otherwise."""
        if self.kind == "customer" and len(self.customers) == 1:
            return self.customers[0]
        return None

    def can_see_customer(self, customer_id: str | None) -> bool:
        """POP's ``Customer`` filter: a global token sees every customer; a customer token the
        ids it lists (exact, case-sensitive); an object without a customer only global tokens;
        an executor token no customer."""
        if self.is_global:
            return True
        return self.kind == "customer" and customer_id is not None and customer_id in self.customers

    def owns_insight(self, insight_id: str | None) -> bool:
        """May this token pull (``getAgenda``) and report for agendas of ``insight_id``: a global
        token always, an executor token for the insights it lists."""
        if self.is_global:
            return True
        return self.kind == "executor" and insight_id is not None and insight_id in self.insights

    def state(self, now_ms: int | None = None) -> TokenState:
        """``revoked`` (whatever its expiry), else ``expired`` once ``expires_time`` has passed,
        else ``active``; ``now_ms`` defaults to the current time."""
        if self.revoked_time is not None:
            return "revoked"
        now = current_ms() if now_ms is None else now_ms
        if self.expires_time is not None and now >= self.expires_time:
            return "expired"
        return "active"
