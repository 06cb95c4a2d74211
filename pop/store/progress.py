"""``store.progress``: AgendaProgress and OperationProgress rows, leases and cancel requests,
and the services' queries over them, behind one object.

Layer: store. Called by the engine (as an agenda runs), the api (status, list, cancel), the
scheduling (claims take leases) and the services (reclaimer, retrier, data reaper). The code
lives in three modules; this class only puts them together under the method names callers use:

- :mod:`pop.store.progress_rows`: writing and reading the rows as pop's models, rerun reset;
- :mod:`pop.store.leases`: take / renew / release / look up a lease, cancel requests, and taking
  an agenda back from an executor whose lease expired (reclaimer);
- :mod:`pop.store.progress_queries`: the retrier's and the data reaper's candidates, deleting
  reaped progress.
"""

from __future__ import annotations

from pop.store.leases import LeaseStore
from pop.store.progress_queries import ProgressQueries
from pop.store.progress_rows import ProgressRows, operation_progress_id

__all__ = ["ProgressStore", "operation_progress_id"]


class ProgressStore(ProgressRows, LeaseStore, ProgressQueries):
    """Progress rows of agendas and their operations, their leases, and the services' queries
    (one connection: every part's ``db`` is the same :class:`~pop.store.db.Database`)."""
