"""Token rows: the bearer tokens of ``pop serve`` (``pop token add|list|revoke``).

Layer: store. Called by :mod:`pop.api.tokens`. A row holds the token's rights and times and the
sha256 hex of its secret (``hash``, unique); the secret itself is never given to the store, so it
can be neither stored nor logged here. Checking a request is one lookup on the ``hash`` index;
``last_used_time`` is written at most once a minute per token, so busy clients do not turn every
request into a write.
"""

from __future__ import annotations

import builtins
import sqlite3

from pop.errors import NotFoundError
from pop.models import TokenInfo
from pop.store.db import Database, dumps, loads

TOUCH_INTERVAL_MS = 60_000

_COLUMNS = (
    "id, name, kind, customers, insights, created_time, expires_time, revoked_time, last_used_time"
)


def _info(row: sqlite3.Row) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        customers=loads(row["customers"], []),
        insights=loads(row["insights"], []),
        created_time=row["created_time"],
        expires_time=row["expires_time"],
        revoked_time=row["revoked_time"],
        last_used_time=row["last_used_time"],
    )


class TokenStore:
    """The ``tokens`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, info: TokenInfo, secret_hash: str) -> None:
        """Store a new token under the sha256 hex of its secret (id, name and hash must be free:
        the caller checks them inside the same transaction)."""
        self.db.execute(
            f"""INSERT INTO tokens ({_COLUMNS}, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                info.id,
                info.name,
                info.kind,
                dumps(info.customers),
                dumps(info.insights),
                info.created_time,
                info.expires_time,
                info.revoked_time,
                info.last_used_time,
                secret_hash,
            ),
        )

    def id_taken(self, token_id: str) -> bool:
        return self.db.query_one("SELECT 1 FROM tokens WHERE id = ?", (token_id,)) is not None

    def name_taken(self, name: str) -> bool:
        return self.db.query_one("SELECT 1 FROM tokens WHERE name = ?", (name,)) is not None

    def find(self, id_or_name: str) -> TokenInfo | None:
        """The token with this id, else the one with this name; None when neither."""
        row = self.db.query_one(
            f"SELECT {_COLUMNS} FROM tokens WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1",
            (id_or_name, id_or_name, id_or_name),
        )
        return None if row is None else _info(row)

    def get(self, id_or_name: str) -> TokenInfo:
        """:meth:`find`, or NotFoundError naming what was given."""
        info = self.find(id_or_name)
        if info is None:
            raise NotFoundError(
                f"no token with id or name {id_or_name}", hint="`pop token list` shows tokens"
            )
        return info

    def by_hash(self, secret_hash: str) -> TokenInfo | None:
        """The token whose secret has this sha256 hex (one indexed lookup); None when none."""
        row = self.db.query_one(f"SELECT {_COLUMNS} FROM tokens WHERE hash = ?", (secret_hash,))
        return None if row is None else _info(row)

    def list(self) -> builtins.list[TokenInfo]:
        """Every token (revoked and expired ones included), oldest first."""
        rows = self.db.query(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_time, id")
        return [_info(row) for row in rows]

    def revoke(self, token_id: str, now: int) -> TokenInfo:
        """Mark a token revoked at ``now``; a token revoked before keeps its first time."""
        self.db.execute(
            "UPDATE tokens SET revoked_time = ? WHERE id = ? AND revoked_time IS NULL",
            (now, token_id),
        )
        return self.get(token_id)

    def touch(self, info: TokenInfo, now: int) -> bool:
        """Record a use at ``now`` when the last recorded one is a minute old or more (no write
        otherwise); whether a write was made."""
        if info.last_used_time is not None and now - info.last_used_time < TOUCH_INTERVAL_MS:
            return False
        cursor = self.db.execute(
            """UPDATE tokens SET last_used_time = ?
               WHERE id = ? AND (last_used_time IS NULL OR last_used_time <= ?)""",
            (now, info.id, now - TOUCH_INTERVAL_MS),
        )
        return cursor.rowcount > 0
