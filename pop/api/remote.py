"""The remote client: the same calls as :class:`pop.api.Client`, answered by a ``pop serve``
over HTTP (issue 13): submit, status, list, cancel, rerun here; an agenda's logs, outputs and
changes from :mod:`pop.api.remote_reads`; templates, facility objects and the progress summary
from :mod:`pop.api.remote_catalog` (``pop batch --server`` is :mod:`pop.api.remote_batch`).

Layer: api. Used by the CLI when ``--server URL`` or ``POP_SERVER`` names a server;
:func:`connect` picks the local or the remote client. The token comes from ``POP_TOKEN`` or a
file (``--token-file``), never from the command line, where ``ps`` would show it.

Errors come back as pop's own (:mod:`pop.api.remote_http`: the HTTP, the envelope, the
version check), so a remote command exits as the local one would. Paths are made
absolute before sending (each op's path fields, against the directory this command runs in), as
the server refuses relative ones; ``params.submitDir`` names that directory too.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pop import errors
from pop.api.remote_catalog import RemoteCatalogMixin
from pop.api.remote_catalog import segment as _segment
from pop.api.remote_http import API_VERSION, DEFAULT_TIMEOUT_SECONDS, UNLIMITED, RemoteHttp
from pop.api.remote_reads import RemoteReadsMixin
from pop.config import SERVER_ENV
from pop.engine.documents import read_document
from pop.engine.submission import Submission
from pop.errors import InputError
from pop.models import Agenda, AgendaProgress
from pop.models.agenda import SUBMIT_DIR_PARAM

TOKEN_ENV = "POP_TOKEN"
__all__ = [
    "API_VERSION",
    "DEFAULT_TIMEOUT_SECONDS",
    "SERVER_ENV",
    "TOKEN_ENV",
    "RemoteClient",
    "connect",
    "read_token",
]


def read_token(token_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> str:
    """The bearer token: the first line of ``token_file``, else ``POP_TOKEN``; empty for none.
    InputError (exit 2) for a token file that cannot be read."""
    environ = os.environ if env is None else env
    if token_file is not None:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip().splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise InputError(f"--token-file {token_file}: cannot read a token ({exc})") from exc
    return environ.get(TOKEN_ENV, "").strip()


class RemoteClient(RemoteReadsMixin, RemoteCatalogMixin, RemoteHttp):
    """pop's API on a server: ``RemoteClient("http://host:8740", token)``."""

    # -- agendas ------------------------------------------------------------------------------

    def submit(
        self,
        source: str | Path | Mapping[str, Any] | Agenda,
        *,
        customer_id: str | None = None,
        link_id: str | None = None,
        priority: int | None = None,
    ) -> Submission:
        """POST the agenda to ``/pop/agenda`` (POP's route); the server validates, stores and
        queues it exactly as a local submit does."""
        if isinstance(source, Agenda):
            document: dict[str, Any] = source.to_wire()
        elif isinstance(source, Mapping):
            document = dict(source)
        else:
            document = read_document(source)
        if not isinstance(document, dict):
            raise InputError("the agenda must be a JSON object")
        document = self._absolute(document)
        params = document.get("params")
        params = dict(params) if isinstance(params, dict) else {}
        params.setdefault(SUBMIT_DIR_PARAM, os.getcwd())  # relative inputs: from here
        if priority is not None:
            params["priority"] = priority
        document["params"] = params
        if customer_id is not None:
            document["customerId"] = customer_id
        if link_id is not None:
            document["linkId"] = link_id
        (stored,) = self._data("POST", "/pop/agenda", body=document)
        agenda = Agenda.model_validate(stored)
        progress = self.status(agenda.id or "")
        return Submission(agenda=agenda, progress=progress, queued=True)

    def _absolute(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with its ops' relative path fields made absolute against this
        command's directory: the server refuses relative paths (and drops a customer token's
        ``params.submitDir``), so they are resolved here, where the user meant them."""
        from pop.engine.input_paths import absolute_input_paths
        from pop.registry import Registry

        if self._registry is None:  # one read per client: `batch --server` submits many
            self._registry = Registry.load(self._registry_path)
        return absolute_input_paths(document, self._registry, os.getcwd())

    def status(self, agenda_id: str) -> AgendaProgress:
        """``GET /pop/progress/agenda/{id}`` (an agenda id, a progress id or a unique prefix)."""
        found = self._data("GET", f"/pop/progress/agenda/{_segment(agenda_id)}")
        if not found:
            raise errors.NotFoundError(f"no progress for agenda {agenda_id}")
        return AgendaProgress.model_validate(found[0])

    def resolve_id(self, agenda_id: str) -> str:
        return self.status(agenda_id).agenda_id or agenda_id

    def list(
        self,
        *,
        state: str | None = None,
        customer_id: str | None = None,
        link_id: str | None = None,
        limit: int | None = None,
    ) -> builtins.list[AgendaProgress]:
        """``GET /pop/progress/agenda?by...``, oldest first and every one (no limit) as
        locally."""
        query: dict[str, str] = {}
        for field, value in (
            ("processingState", state.upper() if state else None),
            ("customerId", customer_id),
            ("linkId", link_id),
            ("limit", UNLIMITED if limit is None else str(limit)),
        ):
            if value is not None:
                query[f"by{field}"] = value
        found = self._data("GET", "/pop/progress/agenda", query=query)
        return [AgendaProgress.model_validate(item) for item in found]

    def short_ids(self, agenda_ids: builtins.list[str]) -> builtins.list[str]:
        """The shortest prefix (8 characters or more) of each id unique among ``agenda_ids``."""
        shorts = []
        for agenda_id in agenda_ids:
            size = 8
            while size < len(agenda_id) and any(
                other != agenda_id and other.startswith(agenda_id[:size]) for other in agenda_ids
            ):
                size += 1
            shorts.append(agenda_id[:size])
        return shorts

    def queued(self, agenda_id: str) -> bool | None:
        """Whether the agenda waits in a queue is not served: unknown (None)."""
        return None

    def agenda(self, agenda_id: str) -> Agenda:
        """``GET /pop/agenda/{id}``."""
        found = self._data("GET", f"/pop/agenda/{_segment(agenda_id)}")
        if not found:
            raise errors.NotFoundError(f"no agenda with id {agenda_id}")
        return Agenda.model_validate(found[0])

    def cancel(self, agenda_id: str) -> AgendaProgress:
        """``POST /pop/agenda/service/cancel``: as ``Client.cancel`` on the server."""
        answer = self._envelope("POST", "/pop/agenda/service/cancel", body={"agendaId": agenda_id})
        return AgendaProgress.model_validate(answer.get("agendaProgress") or {})

    def rerun(
        self,
        agenda_id: str,
        *,
        reset: builtins.list[str] | None = None,
        reset_all: bool = False,
        keep: bool = False,
        skip_execution: bool = False,
    ) -> AgendaProgress:
        """``POST /pop/agenda/service/rerun`` with POP's params for the same modes as
        ``Client.rerun``."""
        from pop.engine.rerun import check_mode

        check_mode(reset=reset, reset_all=reset_all, keep=keep)
        params: builtins.list[str] = []
        if reset is not None:
            params.append("operationsToReset=" + ",".join(reset))
        elif keep:
            params.append("continue")
        else:
            params.append("resetAll")
        if skip_execution:
            params.append("skipExecution")
        body = {"agendaId": agenda_id, "params": params}
        answer = self._envelope("POST", "/pop/agenda/service/rerun", body=body)
        return AgendaProgress.model_validate(answer.get("agendaProgress") or {})


def connect(
    *,
    server: str | None = None,
    token_file: str | Path | None = None,
    registry_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """The client a command uses: a :class:`RemoteClient` when ``server`` (else ``POP_SERVER``)
    names one, else the local :class:`pop.api.Client`."""
    environ = os.environ if env is None else env
    url = server or environ.get(SERVER_ENV) or None
    if url:
        return RemoteClient(url, read_token(token_file, environ), registry_path=registry_path)
    if token_file is not None:
        raise InputError("--token-file needs --server (or POP_SERVER)")
    from pop.api import Client

    return Client(registry_path=registry_path)
