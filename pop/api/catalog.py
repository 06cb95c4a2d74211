"""The stored catalog of the library facade: templates, customers, resource pools, insights.

Layer: api. :class:`pop.api.Client` takes these methods from :class:`CatalogMixin`; they use
the client's store and, to fill and submit a template, its ``load_agenda`` and ``submit``.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from pop.engine.documents import read_document
from pop.errors import ConflictError, InputError
from pop.models import Agenda, AgendaProgress, AgendaTemplate, ProcessingState, WireModel, now_ms
from pop.models.validation import problems
from pop.store.changes import AGENDA, TEMPLATE, Change

if TYPE_CHECKING:
    from pop.config import Settings
    from pop.engine.input_paths import PathPolicy
    from pop.engine.submission import Submission
    from pop.scheduling.facility import Kind as FacilityKind
    from pop.services.reaper import ReapReport
    from pop.services.reclaimer import ReclaimResult
    from pop.services.retrier import RetryResult
    from pop.store import Store


# Agenda fields a PUT may not change (they decide how and for whom it runs), and those it
# ignores (set by the store).
FIXED_AGENDA_FIELDS = frozenset(
    {"operations", "customerId", "linkId", "progressId", "params", "agendaInsight", "cid"}
)
FIXED_AGENDA_DEFAULTS: dict[str, Any] = {"operations": [], "params": {}}
IGNORED_AGENDA_FIELDS = frozenset({"addedTime", "updatedTime"})


def _id_of(item: WireModel, given: str = "") -> str:
    """The id of a stored facility object (customers, pools and insights all have one)."""
    return str(getattr(item, "id", None) or given)


class CatalogMixin:
    """Templates, customers, pools and insights (``pop template|customer|pool|insight ...``)
    and one pass of a service (``pop reclaim``, ``pop retry``, ``pop reap data``)."""

    if TYPE_CHECKING:
        settings: Settings

        @property
        def store(self) -> Store: ...

        def load_agenda(
            self,
            source: str | Path | Mapping[str, Any] | Agenda,
            *,
            paths: PathPolicy | None = None,
        ) -> Agenda: ...

        def resolve_id(self, agenda_id: str) -> str: ...

        def _submit(
            self,
            agenda: Agenda,
            *,
            customer_id: str | None,
            link_id: str | None,
            priority: int | None,
            change: Change,
        ) -> Submission: ...

    # -- customers, pools, insights (pop customer|pool|insight ...) ----------------------------

    def _facility_document(
        self, kind: FacilityKind, fields: Mapping[str, Any] | None, source: str | Path | None
    ) -> dict[str, Any]:
        from pop.scheduling.facility import combine

        document = None if source is None else read_document(source, what=kind)
        return combine(document, fields or {}, source=str(source))

    def facility_add(
        self,
        kind: FacilityKind,
        fields: Mapping[str, Any] | None = None,
        *,
        source: str | Path | None = None,
        actor: str | None = None,
        cid: str | None = None,
    ) -> WireModel:
        """Check a customer, pool or insight with POP's rules and store it. ``source`` is a POP
        JSON (or YAML) file; ``fields`` (camelCase, e.g. from flags) override its fields. A
        ``<kind>.add`` change record names ``actor`` (default: this machine's user)."""
        from pop.scheduling.facility import add_object

        document = self._facility_document(kind, fields, source)
        with self.store.transaction():
            item = add_object(self.store, kind, document)
            Change(f"{kind}.add", actor, cid).record(self.store.changes, kind, _id_of(item))
        return item

    def facility_update(
        self,
        kind: FacilityKind,
        object_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        source: str | Path | None = None,
        actor: str | None = None,
        cid: str | None = None,
    ) -> WireModel:
        """POP's PUT: the given fields replace the stored ones; absent fields keep their values
        (a ``<kind>.put`` change record)."""
        from pop.scheduling.facility import update_object

        document = self._facility_document(kind, fields, source)
        with self.store.transaction():
            item = update_object(self.store, kind, object_id, document)
            Change(f"{kind}.put", actor, cid).record(
                self.store.changes, kind, _id_of(item, object_id)
            )
        return item

    def facility_get(self, kind: FacilityKind, object_id: str) -> WireModel:
        from pop.scheduling.facility import get_object

        return get_object(self.store, kind, object_id)

    def facility_list(self, kind: FacilityKind) -> builtins.list[WireModel]:
        from pop.scheduling.facility import list_objects

        return list_objects(self.store, kind)

    def facility_delete(
        self,
        kind: FacilityKind,
        object_id: str,
        *,
        actor: str | None = None,
        cid: str | None = None,
    ) -> WireModel:
        """Delete an object; a pool still in use or an insight with queued agendas is refused
        (a ``<kind>.delete`` change record)."""
        from pop.scheduling.facility import delete_object

        with self.store.transaction():
            item = delete_object(self.store, kind, object_id)
            Change(f"{kind}.delete", actor, cid).record(
                self.store.changes, kind, _id_of(item, object_id)
            )
        return item

    # -- templates (pop template ...) --------------------------------------------------------

    def template_add(
        self,
        source: str | Path | Mapping[str, Any],
        *,
        actor: str | None = None,
        cid: str | None = None,
    ) -> AgendaTemplate:
        """Check a template (an agenda with operations, no static parameter named pop.payload or
        pop.transformRequest) and store it. A given id is kept when free; absent, one is made.
        A ``template.add`` change record names ``actor`` (default: this machine's user)."""
        from pop.engine.templates import parse_template
        from pop.models import new_id

        if isinstance(source, Mapping):
            template = parse_template(dict(source))
        else:
            template = parse_template(read_document(source, what="template"), source=str(source))
        now = now_ms()
        template.set(id=template.id or new_id(), added_time=now, updated_time=now)
        with self.store.transaction():
            self.store.templates.insert(template)
            Change("template.add", actor, cid).record(
                self.store.changes, TEMPLATE, template.id or "", default_cid=template.cid
            )
        return template

    def template_list(self) -> builtins.list[AgendaTemplate]:
        return self.store.templates.list()

    def template_get(self, template_id: str) -> AgendaTemplate:
        """A stored template by id, unique id prefix or unique exact title (NotFoundError)."""
        return self.store.templates.get(self.store.templates.resolve_id(template_id))

    def template_delete(
        self, template_id: str, *, actor: str | None = None, cid: str | None = None
    ) -> AgendaTemplate:
        """Delete a stored template (a ``template.delete`` change record)."""
        full_id = self.store.templates.resolve_id(template_id)
        with self.store.transaction():
            template = self.store.templates.delete(full_id)
            Change("template.delete", actor, cid).record(self.store.changes, TEMPLATE, full_id)
        return template

    def template_update(
        self,
        template_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        cid: str | None = None,
    ) -> AgendaTemplate:
        """POP's PUT: the given fields replace the stored ones (null or absent fields keep
        theirs); the result is checked as ``template_add`` checks; ``id`` cannot change."""
        from pop.engine.templates import parse_template

        full_id = self.store.templates.resolve_id(template_id)
        given_id = changes.get("id")
        if given_id is not None and given_id != full_id:
            raise InputError(f"the id of template {full_id} cannot change to '{given_id}'")
        with self.store.transaction():
            stored = self.store.templates.get(full_id)
            given = {key: value for key, value in changes.items() if value is not None}
            merged = {**stored.to_wire(), **given, "id": full_id}
            template = parse_template(merged, source=f"template {full_id}")
            template.set(added_time=stored.added_time or now_ms(), updated_time=now_ms())
            self.store.templates.delete(full_id)
            self.store.templates.insert(template)
            Change("template.put", actor, cid).record(self.store.changes, TEMPLATE, full_id)
        return template

    def template_expand(
        self, template_id: str, payload: Any, *, paths: PathPolicy | None = None
    ) -> Agenda:
        """The agenda ``pop template run`` would submit (nothing stored): the template filled from
        ``payload``, then validated like ``submit`` (``paths``: see ``load_agenda``); tokens
        that can never resolve are an error."""
        from pop.engine.templates import expand_template

        agenda = expand_template(self.template_get(template_id), payload, strict=True)
        return self.load_agenda(agenda, paths=paths)

    def template_run(
        self,
        template_id: str,
        payload: Any,
        *,
        customer_id: str | None = None,
        link_id: str | None = None,
        actor: str | None = None,
        cid: str | None = None,
    ) -> Submission:
        """Fill a stored template from ``payload`` and submit the agenda like ``submit`` (a
        ``run-template`` change record names ``actor``)."""
        agenda = self.template_expand(template_id, payload)
        return self.submit_expanded(
            agenda, customer_id=customer_id, link_id=link_id, actor=actor, cid=cid
        )

    def submit_expanded(
        self,
        agenda: Agenda,
        *,
        customer_id: str | None = None,
        link_id: str | None = None,
        actor: str | None = None,
        cid: str | None = None,
    ) -> Submission:
        """Submit an agenda :meth:`template_expand` made (already checked), recorded as
        ``run-template``."""
        return self._submit(
            agenda,
            customer_id=customer_id,
            link_id=link_id,
            priority=None,
            change=Change("run-template", actor, cid),
        )

    # -- stored agendas: POP's PUT and DELETE (pop serve) ----------------------------------

    def agenda_update(
        self,
        agenda_id: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        cid: str | None = None,
    ) -> Agenda:
        """POP's PUT of an agenda, for the fields that do not change how it runs: ``title``,
        ``jobId`` and fields pop does not know; null or absent fields keep their values. Any
        other field given with another value than the stored one is an InputError (rerun the
        agenda, or submit a new one): its progress, queue row and launches follow the stored
        operations, customer, link and params."""
        full_id = self.resolve_id(agenda_id)
        given_id = changes.get("id")
        if given_id is not None and given_id != full_id:
            raise InputError(f"the id of agenda {full_id} cannot change to '{given_id}'")
        with self.store.transaction():
            stored = self.store.agendas.get(full_id)
            wire = stored.to_wire()
            fixed = sorted(
                name
                for name, value in changes.items()
                if value is not None
                and name in FIXED_AGENDA_FIELDS
                and value != wire.get(name, FIXED_AGENDA_DEFAULTS.get(name))
            )
            if fixed:
                raise InputError(
                    f"agenda {full_id}: {', '.join(fixed)} cannot change on a stored agenda",
                    hint="only title, jobId and fields pop does not use change; "
                    "`pop rerun` runs it again, or submit a new agenda",
                )
            given = {
                key: value
                for key, value in changes.items()
                if value is not None and key not in IGNORED_AGENDA_FIELDS
            }
            try:
                agenda = Agenda.model_validate({**wire, **given})
            except ValidationError as exc:
                details = "; ".join(problems(exc, root="the agenda"))
                raise InputError(f"agenda {full_id}: {details}") from None
            self.store.agendas.update(agenda)
            Change("agenda.put", actor, cid).record(self.store.changes, AGENDA, full_id)
        return agenda

    def agenda_delete(
        self, agenda_id: str, *, actor: str | None = None, cid: str | None = None
    ) -> tuple[Agenda, AgendaProgress | None]:
        """Delete a stored agenda with its progress, op progress, attempt rows and queue row
        (its work directory stays, for ``pop reap data``); what was stored is returned.
        ConflictError for an agenda an executor holds (EXECUTING or leased): ``pop cancel``
        it and delete it once it is COMPLETE."""
        full_id = self.resolve_id(agenda_id)
        with self.store.transaction():
            agenda = self.store.agendas.get(full_id)
            progress = self.store.progress.get(full_id)
            owner, expires = self.store.progress.lease_of(full_id)
            held = owner is not None and (expires or 0) > now_ms()
            if held or (progress and progress.processing_state == ProcessingState.EXECUTING):
                raise ConflictError(
                    f"agenda {full_id} is running: it cannot be deleted now",
                    hint="cancel it (`pop cancel`, POST /pop/agenda/service/cancel) and delete "
                    "it once it is COMPLETE",
                )
            self.store.attempts.delete_for([full_id])
            self.store.queue.remove(full_id)
            if progress is not None:
                self.store.progress.delete_agendas_progress([progress.id or ""])
            self.store.agendas.delete_many([full_id])
            Change("agenda.delete", actor, cid).record(self.store.changes, AGENDA, full_id)
        return agenda, progress

    # -- services (pop reclaim, pop retry, pop reap data) ---------------------------------

    def reclaim(
        self,
        *,
        older_than: float | None = None,
        runtime_options: Mapping[str, str] | None = None,
    ) -> builtins.list[ReclaimResult]:
        """One reclaimer pass: agendas whose executor died (lease expired more than
        ``older_than`` seconds ago, default the reclaim grace) are requeued or failed; their
        launches are stopped with each agenda's stored runtime options, each of
        ``runtime_options`` replacing the stored one (checked first: InputError for a
        mistyped ``kubeconfig`` or ``context``)."""
        from pop.services.reclaimer import reclaim_once

        return reclaim_once(
            self.store, self.settings, older_than=older_than, runtime_options=runtime_options
        )

    def retry(self) -> builtins.list[RetryResult]:
        """One retrier pass: retryable failed agendas with attempts left are rerun."""
        from pop.services.retrier import retry_once

        return retry_once(self.store, self.settings)

    def reap_data(
        self, *, older_than: float | None = None, batch: int = 25, dry_run: bool = False
    ) -> ReapReport:
        """Delete completed agendas (rows, logs, work directories) older than ``older_than``
        seconds (default the reap age, 3 days); ``dry_run`` only lists them."""
        from pop.services.reaper import reap_data

        age = self.settings.reap_data_age_seconds if older_than is None else older_than
        return reap_data(self.store, self.settings, older_than=age, batch=batch, dry_run=dry_run)
