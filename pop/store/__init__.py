"""The SQLite store (``$POP_HOME/pop.db``): everything the CLI shows comes from here.

Layer: store (beside runtimes; above models). One module per aggregate; no SQL elsewhere in pop.

    store = Store.open(settings.store_path)
    with store.transaction():
        store.agendas.insert(agenda)
        store.progress.insert(progress, operation_progress)
"""

from __future__ import annotations

from contextlib import contextmanager

from pop.store.db import Database

TYPE_CHECKING = False  # the aggregates load when a Store is made: `pop status` reads fewer
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterator
    from pathlib import Path
    from types import TracebackType

    from pop.store.progress import operation_progress_id
    from pop.store.queue import DEFAULT_INSIGHT_ID

__all__ = ["DEFAULT_INSIGHT_ID", "Store", "operation_progress_id"]


def __getattr__(name: str) -> object:
    if name == "DEFAULT_INSIGHT_ID":
        from pop.store.queue import DEFAULT_INSIGHT_ID

        return DEFAULT_INSIGHT_ID
    if name == "operation_progress_id":
        from pop.store.progress_rows import operation_progress_id

        return operation_progress_id
    raise AttributeError(f"module 'pop.store' has no attribute {name!r}")


class Store:
    """The store: one connection, one object per aggregate."""

    def __init__(self, db: Database) -> None:
        from pop.store.agendas import AgendaStore
        from pop.store.attempts import AttemptStore
        from pop.store.changes import ChangeStore
        from pop.store.facility import FacilityStore
        from pop.store.progress import ProgressStore
        from pop.store.queue import QueueStore
        from pop.store.templates import TemplateStore
        from pop.store.tokens import TokenStore

        self.db = db
        self.agendas = AgendaStore(db)
        self.progress = ProgressStore(db)
        self.attempts = AttemptStore(db)
        self.queue = QueueStore(db)
        self.templates = TemplateStore(db)
        self.facility = FacilityStore(db)
        self.tokens = TokenStore(db)
        self.changes = ChangeStore(db)

    @classmethod
    def open(cls, path: Path) -> Store:
        return cls(Database(path))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.db.transaction() as connection:
            yield connection

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
