"""``store.progress``: AgendaProgress and OperationProgress rows, leases and cancel requests,
and the services' queries over them, behind one object.

Layer: store. Called by the engine (as an agenda runs), the api (status, list, cancel), the
scheduling (claims take leases) and the services (reclaimer, retrier, data reaper). The code
lives in three modules; this class only puts them together under the method names callers use:

- :mod:`pop.store.progress_rows`: writing and reading the rows as pop's models, rerun reset;
- :mod:`pop.store.leases`: take / renew / release / look up a lease, cancel requests, and taking
  an agenda back from an executor whose lease expired (reclaimer);
- :mod:`pop.store.progress_queries`: the retrier's and the data reaper's candidates, deleting
  reaped progress, the ids of a page of agendas (the dashboard's agendas page).
"""

from __future__ import annotations

from pop.models import AgendaProgress
from pop.store.leases import LeaseStore
from pop.store.progress_queries import PageQuery, ProgressQueries
from pop.store.progress_rows import ProgressRows, operation_progress_id

__all__ = ["PageQuery", "ProgressStore", "operation_progress_id"]


class ProgressStore(ProgressRows, LeaseStore, ProgressQueries):
    """Progress rows of agendas and their operations, their leases, and the services' queries
    (one connection: every part's ``db`` is the same :class:`~pop.store.db.Database`)."""

    def page(self, query: PageQuery) -> tuple[list[AgendaProgress], int]:
        """One page of AgendaProgress (with their operations), newest first, and the number of
        every match (:meth:`ProgressQueries.page_ids`)."""
        agenda_ids, total = self.page_ids(query)
        found = (self.get(agenda_id) for agenda_id in agenda_ids)
        return [progress for progress in found if progress is not None], total
