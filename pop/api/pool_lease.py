"""The lease check every ResourcePool route shares: find the agenda a route names and renew
the lease of the executor that reports on it (POP-REFERENCE §§7, 9.8; pop's leases).

Layer: api. :class:`PoolLeaseBase` is the base of :class:`pop.api.pool.PoolMixin` (claims and
reports) and :class:`pop.api.pool_attempts.PoolAttemptsMixin` (attempts, launches, logs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pop.errors import ConflictError, InputError, NotFoundError

if TYPE_CHECKING:
    from pop.config import Settings
    from pop.store import Store


MAX_OWNER_LENGTH = 200


def check_owner(owner: object) -> str:
    """The executor id a lease is held under: a printable string of up to 200 characters."""
    if not isinstance(owner, str) or not owner.strip():
        raise InputError(
            "executorId is required: the id of the executor that holds the lease",
            hint="a remote executor sends the same executorId with every pool request",
        )
    if len(owner) > MAX_OWNER_LENGTH or not owner.isprintable():
        raise InputError(f"executorId must be printable and at most {MAX_OWNER_LENGTH} characters")
    return owner


@dataclass(frozen=True)
class LeaseStatus:
    """What a report or heartbeat answers: the agenda, whose lease it is and until when
    (``None`` once a report completed the agenda and released it), and whether ``pop cancel``
    asked for it to stop."""

    agenda_id: str
    progress_id: str
    owner: str
    lease_expires_time: int | None
    cancel_requested: bool

    def to_wire(self) -> dict[str, Any]:
        return {
            "agendaId": self.agenda_id,
            "agendaProgressId": self.progress_id,
            "executorId": self.owner,
            "leaseExpiresTime": self.lease_expires_time,
            "cancelRequested": self.cancel_requested,
        }


@dataclass(frozen=True)
class PoolAgenda:
    """An agenda a pool route names: its id, progress id and the insight it is queued on."""

    agenda_id: str
    progress_id: str
    agenda_insight_id: str


class PoolLeaseBase:
    """What the pool mixins need of :class:`pop.api.Client`, and their two shared steps."""

    if TYPE_CHECKING:
        settings: Settings

        @property
        def store(self) -> Store: ...

    def _pool_agenda(self, given: str) -> PoolAgenda:
        """The agenda whose id or progress id is exactly ``given`` (no prefixes here)."""
        agenda_id = self.store.agendas.resolve_id(given)
        agenda = self.store.agendas.get(agenda_id)
        if given not in (agenda_id, agenda.progress_id):
            raise NotFoundError(f"no agenda with id or progress id {given}")
        from pop.store import DEFAULT_INSIGHT_ID

        insight = agenda.agenda_insight.insight_id if agenda.agenda_insight else None
        return PoolAgenda(agenda_id, agenda.progress_id or "", insight or DEFAULT_INSIGHT_ID)

    def _renew(self, found: PoolAgenda, owner: str) -> LeaseStatus:
        """Renew ``owner``'s lease (inside the caller's transaction) or raise ConflictError."""
        progress_store = self.store.progress
        if not progress_store.renew_lease(found.agenda_id, owner, self.settings.lease_seconds):
            holder, _ = progress_store.lease_of(found.agenda_id)
            why = (
                f"executor {holder} holds it" if holder else "its lease was released or taken back"
            )
            raise ConflictError(
                f"executor {owner} no longer holds the lease of agenda {found.agenda_id}: {why}",
                hint="stop running the agenda: the server has given it to another executor "
                "or ended it",
            )
        _, expires = progress_store.lease_of(found.agenda_id)
        return LeaseStatus(
            found.agenda_id,
            found.progress_id,
            owner,
            expires,
            progress_store.cancel_requested(found.agenda_id),
        )
