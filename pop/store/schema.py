"""The store's schema and its migrations.

Layer: store. Called by :class:`pop.store.Store` when it opens a database. Each migration is a
list of SQL statements applied in one transaction; ``PRAGMA user_version`` records how many have
been applied, so opening an up-to-date store costs one pragma read. Migrations are built with
sqlite-utils (imported only when a migration is due: it is slow to import).
"""

from __future__ import annotations

import sqlite3
import sys

TYPE_CHECKING = False  # no typing at run time: every command opens the store
if TYPE_CHECKING:
    from collections.abc import Callable

    import sqlite_utils

    Migration = Callable[[sqlite3.Connection], None]


def _database(connection: sqlite3.Connection) -> sqlite_utils.Database:
    """A sqlite-utils Database over ``connection``.

    sqlite-utils imports numpy and pandas when they are installed, only to map their scalar
    types, which pop never stores; importing them costs a fresh store about 60 ms, so the import
    runs with both marked absent (``None`` in ``sys.modules`` makes ``import`` raise ImportError,
    which sqlite-utils expects) and the marks are removed afterwards. Plugins stay unloaded."""
    blocked = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import sqlite_utils
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    # no sqlite-utils plugins: pop's schema needs none, and finding them reads the metadata of
    # every installed package (about 40 ms)
    return sqlite_utils.Database(connection, execute_plugins=False)


def _v1_initial(connection: sqlite3.Connection) -> None:
    db = _database(connection)
    db["agendas"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "progress_id": str,
            "customer_id": str,
            "link_id": str,
            "insight_id": str,
            "doc": str,
            "launch": str,
            "added_time": int,
            "updated_time": int,
        },
        pk="id",
        not_null={"progress_id", "customer_id", "doc", "added_time", "updated_time"},
    )
    db["agendas"].create_index(["link_id"])  # type: ignore[union-attr]
    db["agenda_progress"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "agenda_id": str,
            "customer_id": str,
            "link_id": str,
            "state": str,
            "message": str,
            "percent": float,
            "attempts_completed": int,
            "maximum_attempts": int,
            "started_time": int,
            "completed_time": int,
            "added_time": int,
            "updated_time": int,
            "diagnostics": str,
            "doc": str,
            "lease_owner": str,
            "lease_expires": int,
            "cancel_requested": int,
        },
        pk="id",
        not_null={"agenda_id", "customer_id", "state", "added_time", "updated_time"},
        defaults={
            "percent": 0.0,
            "attempts_completed": 0,
            "maximum_attempts": 3,
            "diagnostics": "[]",
            "doc": "{}",
            "cancel_requested": 0,
        },
        foreign_keys=[("agenda_id", "agendas", "id")],
    )
    db["agenda_progress"].create_index(["agenda_id"], unique=True)  # type: ignore[union-attr]
    db["agenda_progress"].create_index(["state"])  # type: ignore[union-attr]
    db["agenda_progress"].create_index(["link_id"])  # type: ignore[union-attr]
    db["operation_progress"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "agenda_progress_id": str,
            "operation": str,
            "seq": int,
            "state": str,
            "message": str,
            "percent": float,
            "result_payload": str,
            "diagnostics": str,
            "attempt_count": int,
            "attempt_time": int,
            "started_time": int,
            "completed_time": int,
            "params": str,
            "output_tail": str,
            "doc": str,
            "updated_time": int,
        },
        pk="id",
        not_null={"agenda_progress_id", "operation", "seq", "state", "updated_time"},
        defaults={
            "percent": 0.0,
            "diagnostics": "[]",
            "attempt_count": 0,
            "params": "{}",
            "output_tail": "[]",
            "doc": "{}",
        },
        foreign_keys=[("agenda_progress_id", "agenda_progress", "id")],
    )
    db["operation_progress"].create_index(["agenda_progress_id", "seq"])  # type: ignore[union-attr]
    db["attempts"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "agenda_id": str,
            "operation": str,
            "number": int,
            "executor": str,
            "runtime": str,
            "launched": str,
            "started_time": int,
            "ended_time": int,
            "outcome": str,
            "exit_code": int,
            "log_path": str,
            "message": str,
        },
        pk="id",
        not_null={"agenda_id", "number", "started_time"},
        foreign_keys=[("agenda_id", "agendas", "id")],
    )
    db["attempts"].create_index(["agenda_id", "operation"])  # type: ignore[union-attr]
    db["ready_queue"].create(  # type: ignore[union-attr]
        {
            "agenda_id": str,
            "insight_id": str,
            "customer_id": str,
            "priority": int,
            "added": int,
        },
        pk="agenda_id",
        not_null={"insight_id", "customer_id", "added"},
        defaults={"priority": 0},
        foreign_keys=[("agenda_id", "agendas", "id")],
    )
    db["ready_queue"].create_index(["insight_id", "added"])  # type: ignore[union-attr]
    for table, extra in (
        ("templates", {"customer_id": str, "title": str}),
        ("customers", {"resource_pool_id": str}),
        ("pools", {"title": str}),
        ("insights", {"resource_pool_id": str}),
    ):
        columns: dict[str, type] = {"id": str, **extra, "doc": str}
        columns.update({"added_time": int, "updated_time": int})
        db[table].create(columns, pk="id", not_null={"doc"})  # type: ignore[union-attr]
    db["insight_schedule"].create(  # type: ignore[union-attr]
        {"insight_id": str, "pending_customer_ids": str, "last_executed": int},
        pk="insight_id",
    )


def _v2_scheduling(connection: sqlite3.Connection) -> None:
    """Indexes for the schedulers: round robin reads each customer's oldest queued agenda,
    priority the oldest of each priority; insights and customers are looked up by pool."""
    db = _database(connection)
    db["ready_queue"].create_index(["insight_id", "customer_id", "added"])  # type: ignore[union-attr]
    db["ready_queue"].create_index(["insight_id", "priority", "added"])  # type: ignore[union-attr]
    db["customers"].create_index(["resource_pool_id"])  # type: ignore[union-attr]
    db["insights"].create_index(["resource_pool_id"])  # type: ignore[union-attr]


def _v3_tokens(connection: sqlite3.Connection) -> None:
    """Bearer tokens of ``pop serve`` (``pop token add|list|revoke``): only the sha256 of each
    secret is kept (``hash``, unique: a request is checked with one indexed lookup); ``name`` is
    unique when given; ``customers`` and ``insights`` are JSON lists."""
    db = _database(connection)
    db["tokens"].create(  # type: ignore[union-attr]
        {
            "id": str,
            "name": str,
            "hash": str,
            "kind": str,
            "customers": str,
            "insights": str,
            "created_time": int,
            "expires_time": int,
            "revoked_time": int,
            "last_used_time": int,
        },
        pk="id",
        not_null={"hash", "kind", "customers", "insights", "created_time"},
        defaults={"customers": "[]", "insights": "[]"},
    )
    db["tokens"].create_index(["hash"], unique=True)  # type: ignore[union-attr]
    db["tokens"].create_index(["name"], unique=True)  # type: ignore[union-attr]


def _v4_changes(connection: sqlite3.Connection) -> None:
    """Change records (:mod:`pop.store.changes`): one row per change, appended in the change's
    own transaction and never updated; read per object (kind, object_id)."""
    db = _database(connection)
    db["changes"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "time": int,
            "actor": str,
            "action": str,
            "kind": str,
            "object_id": str,
            "cid": str,
        },
        pk="id",
        not_null={"time", "actor", "action", "kind", "object_id"},
    )
    db["changes"].create_index(["kind", "object_id"])  # type: ignore[union-attr]


def _v5_lease_index(connection: sqlite3.Connection) -> None:
    """The reclaimer's question (which leases expired?) read through an index on (state,
    lease_expires) instead of every queued row: ``pop serve`` asks it every 30 s on the thread
    that answers ``getAgenda`` (3-13 ms at 20,000 queued before, about 0.1 ms with it)."""
    db = _database(connection)
    db["agenda_progress"].create_index(["state", "lease_expires"])  # type: ignore[union-attr]


def _v6_handouts(connection: sqlite3.Connection) -> None:
    """Hand-outs (:func:`pop.scheduling.claim.claim_next`): one row per agenda handed out to an
    executor, written in the claim's transaction and kept 24 h; read per insight since a time
    (the dashboard's queues page: each customer's share of the last hour)."""
    db = _database(connection)
    db["handouts"].create(  # type: ignore[union-attr]
        {"id": int, "insight_id": str, "customer_id": str, "agenda_id": str, "handed_time": int},
        pk="id",
        not_null={"insight_id", "customer_id", "agenda_id", "handed_time"},
    )
    db["handouts"].create_index(["insight_id", "handed_time"])  # type: ignore[union-attr]
    db["handouts"].create_index(["handed_time"])  # type: ignore[union-attr]


MIGRATIONS: list[Migration] = [
    _v1_initial,
    _v2_scheduling,
    _v3_tokens,
    _v4_changes,
    _v5_lease_index,
    _v6_handouts,
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(connection: sqlite3.Connection) -> None:
    """Bring the database to SCHEMA_VERSION; safe when several processes open it at once."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    if version >= SCHEMA_VERSION:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](connection)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
