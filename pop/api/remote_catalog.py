"""The remote client's catalog: templates, customers, pools, insights and the progress summary,
answered by a ``pop serve`` over HTTP with the same methods as :class:`pop.api.Client`.

Layer: api. :class:`pop.api.remote.RemoteClient` takes these methods from
:class:`RemoteCatalogMixin`; they use :class:`pop.api.remote_http.RemoteHttp`'s ``_data`` and
``_envelope`` (the HTTP seam, where the server's errors become pop's). Routes:
``/pop/agendatemplate``, ``/pop/agenda/service/run`` (``?dryRun=true`` for an expansion),
``/pop/customer``, ``/pop/resourcepool``, ``/pop/insight`` and ``POST
/pop/progress/agenda/service``. A delete reads the object first, so an unknown id is exit 4 as
locally (the server answers a DELETE of nothing with an empty success, as POP).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pop.api.remote_http import RemoteHttp
from pop.engine.documents import read_document
from pop.errors import InputError, NotFoundError
from pop.models import (
    Agenda,
    AgendaProgress,
    AgendaTemplate,
    Customer,
    Insight,
    ProgressSummary,
    ResourcePool,
    WireModel,
)

if TYPE_CHECKING:
    from pop.engine.submission import Submission

# the path of each facility kind under /pop, and its model
FACILITY_PATHS = {"customer": "customer", "pool": "resourcepool", "insight": "insight"}
FACILITY_MODELS: dict[str, type[WireModel]] = {
    "customer": Customer,
    "pool": ResourcePool,
    "insight": Insight,
}
TEMPLATES = "/pop/agendatemplate"
EVERY = {"bylimit": str(1_000_000)}  # every object, as locally (the server's default is 100)


def segment(text: str) -> str:
    """``text`` as one path segment."""
    return quote(text, safe="")


class RemoteCatalogMixin(RemoteHttp):
    """``pop template|customer|pool|insight ...`` and ``pop progress summary`` on a server."""

    if TYPE_CHECKING:

        def status(self, agenda_id: str) -> AgendaProgress: ...

        def submit(
            self,
            source: str | Path | Mapping[str, Any] | Agenda,
            *,
            customer_id: str | None = None,
            link_id: str | None = None,
            priority: int | None = None,
        ) -> Submission: ...

    # -- templates ----------------------------------------------------------------------------

    def template_add(self, source: str | Path | Mapping[str, Any]) -> AgendaTemplate:
        """``POST /pop/agendatemplate``: the server checks and stores it as a local add does."""
        document = (
            dict(source) if isinstance(source, Mapping) else read_document(source, what="template")
        )
        if not isinstance(document, dict):
            raise InputError(f"{source}: a template must be a JSON object")
        (stored,) = self._data("POST", TEMPLATES, body=document)
        return AgendaTemplate.model_validate(stored)

    def template_list(self) -> builtins.list[AgendaTemplate]:
        return [
            AgendaTemplate.model_validate(item)
            for item in self._data("GET", TEMPLATES, query=EVERY)
        ]

    def template_get(self, template_id: str) -> AgendaTemplate:
        """By id, unique id prefix or unique title, as locally (NotFoundError when none)."""
        found = self._data("GET", f"{TEMPLATES}/{segment(template_id)}")
        if not found:
            raise NotFoundError(
                f"no template with id {template_id}", hint="`pop template list` shows templates"
            )
        return AgendaTemplate.model_validate(found[0])

    def template_delete(self, template_id: str) -> AgendaTemplate:
        template = self.template_get(template_id)
        found = self._data("DELETE", f"{TEMPLATES}/{segment(template.id or template_id)}")
        return AgendaTemplate.model_validate(found[0]) if found else template

    def template_expand(self, template_id: str, payload: Any) -> Agenda:
        """``POST /pop/agenda/service/run?dryRun=true``: the filled agenda, nothing stored."""
        body = {"agendaTemplateId": template_id, "payload": payload}
        (agenda,) = self._data(
            "POST", "/pop/agenda/service/run", body=body, query={"dryRun": "true"}
        )
        return Agenda.model_validate(agenda)

    def template_run(
        self,
        template_id: str,
        payload: Any,
        *,
        customer_id: str | None = None,
        link_id: str | None = None,
    ) -> Submission:
        """``POST /pop/agenda/service/run``; with a customer (the run body has no place for
        one) the filled agenda is submitted for it like ``pop submit --customer``."""
        from pop.engine.submission import Submission

        if customer_id is not None:
            agenda = self.template_expand(template_id, payload)
            agenda.set(cid=None)
            return self.submit(agenda, customer_id=customer_id, link_id=link_id)
        body: dict[str, Any] = {"agendaTemplateId": template_id, "payload": payload}
        if link_id is not None:
            body["linkId"] = link_id
        (stored,) = self._data("POST", "/pop/agenda/service/run", body=body)
        agenda = Agenda.model_validate(stored)
        progress = self.status(agenda.id or "")
        return Submission(agenda=agenda, progress=progress, queued=True)

    # -- customers, pools, insights -----------------------------------------------------------

    def _facility_document(
        self, kind: str, fields: Mapping[str, Any] | None, source: str | Path | None
    ) -> dict[str, Any]:
        from pop.scheduling.facility import combine

        document = None if source is None else read_document(source, what=kind)
        return combine(document, fields or {}, source=str(source))

    def _facility(self, kind: str, found: builtins.list[dict[str, Any]]) -> WireModel:
        return FACILITY_MODELS[kind].model_validate(found[0])

    def facility_add(
        self,
        kind: str,
        fields: Mapping[str, Any] | None = None,
        *,
        source: str | Path | None = None,
    ) -> WireModel:
        document = self._facility_document(kind, fields, source)
        return self._facility(
            kind, self._data("POST", f"/pop/{FACILITY_PATHS[kind]}", body=document)
        )

    def facility_update(
        self,
        kind: str,
        object_id: str,
        fields: Mapping[str, Any] | None = None,
        *,
        source: str | Path | None = None,
    ) -> WireModel:
        document = self._facility_document(kind, fields, source)
        path = f"/pop/{FACILITY_PATHS[kind]}/{segment(object_id)}"
        return self._facility(kind, self._data("PUT", path, body=document))

    def facility_get(self, kind: str, object_id: str) -> WireModel:
        found = self._data("GET", f"/pop/{FACILITY_PATHS[kind]}/{segment(object_id)}")
        if not found:
            raise NotFoundError(
                f"no {kind} with id {object_id}", hint=f"`pop {kind} list` shows them"
            )
        return self._facility(kind, found)

    def facility_list(self, kind: str) -> builtins.list[WireModel]:
        model = FACILITY_MODELS[kind]
        return [
            model.model_validate(item)
            for item in self._data("GET", f"/pop/{FACILITY_PATHS[kind]}", query=EVERY)
        ]

    def facility_delete(self, kind: str, object_id: str) -> WireModel:
        item = self.facility_get(kind, object_id)
        path = f"/pop/{FACILITY_PATHS[kind]}/{segment(str(getattr(item, 'id', object_id)))}"
        found = self._data("DELETE", path)
        return self._facility(kind, found) if found else item

    # -- progress summary ---------------------------------------------------------------------

    def progress_summary(self, link_id: str) -> ProgressSummary:
        """``POST /pop/progress/agenda/service``: POP's summary over the link's agendas that
        the token may see."""
        if not link_id.strip():
            raise InputError("a link id is required for a progress summary")
        answer = self._envelope("POST", "/pop/progress/agenda/service", body={"linkId": link_id})
        answer.pop("cid", None)
        return ProgressSummary.model_validate(answer)
