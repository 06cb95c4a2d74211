"""The SQLite connection: WAL, busy timeout, short ``BEGIN IMMEDIATE`` transactions.

Layer: store. Every store module runs its SQL through :class:`Database`; nothing outside
``pop/store/`` sees SQL. One Database per process (the executor's event loop thread); several
processes share the file safely through SQLite's locking.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager

from pop.errors import InputError, StoreError
from pop.store.schema import migrate

TYPE_CHECKING = False  # no typing or pathlib at run time: `pop status` opens the store fast
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

BUSY_TIMEOUT_MS = 30_000


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    return json.loads(text)


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL once per database file. Switching needs a moment of exclusive access and
    SQLite reports "locked" at once (without the busy timeout) when several processes open a
    new store together, so retry for a while."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def not_unicode(exc: UnicodeEncodeError) -> InputError:
    """The error for text the store cannot hold (a lone surrogate, from JSON's ``\\ud800`` or a
    command-line argument that is not UTF-8)."""
    return InputError(f"cannot store text that is not Unicode: {exc.object[exc.start : exc.end]!r}")


class Database:
    """A connection to ``pop.db`` with pop's pragmas and a transaction helper."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.connection = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self.connection.row_factory = sqlite3.Row
            self.connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(self.connection)
            self.connection.execute("PRAGMA synchronous = NORMAL")
            self.connection.execute("PRAGMA foreign_keys = ON")
            migrate(self.connection)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open the store {path}: {exc.strerror}") from exc
        self._depth = 0

    def close(self) -> None:
        self.connection.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self.connection
            finally:
                self._depth -= 1
            return
        try:
            self.connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"the store is busy: {exc}") from exc
        self._depth = 1
        try:
            yield self.connection
        except BaseException:
            self._depth = 0
            self.connection.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:
            self.connection.execute("ROLLBACK")
            raise StoreError(f"cannot commit to the store: {exc}") from exc

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """Run one statement (its own implicit transaction when outside :meth:`transaction`)."""
        try:
            return self.connection.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise StoreError(f"store error: {exc}") from exc
        except UnicodeEncodeError as exc:
            raise not_unicode(exc) from None

    def any_row(self, table: str) -> bool:
        """Whether ``table`` (one of pop's) holds a row."""
        return self.query_one(f"SELECT 1 FROM {table} LIMIT 1") is not None

    def query(self, sql: str, parameters: Any = ()) -> list[sqlite3.Row]:
        return self.execute(sql, parameters).fetchall()

    def query_one(self, sql: str, parameters: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.execute(sql, parameters).fetchone()
        return row
