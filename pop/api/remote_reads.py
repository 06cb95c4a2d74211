"""The remote client's reads of one agenda: its attempts' logs, its outputs and its change
records, answered by a ``pop serve`` with the same methods as :class:`pop.api.Client`.

Layer: api. :class:`pop.api.remote.RemoteClient` takes these methods from
:class:`RemoteReadsMixin`; they use :class:`pop.api.remote_http.RemoteHttp`'s ``_data`` (the
HTTP seam, where the server's errors become pop's). Routes: ``GET /pop/agenda/{id}/logs``,
``/outputs`` and ``/changes``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from pop import errors
from pop.api.remote_catalog import segment
from pop.api.remote_http import RemoteHttp
from pop.models import AgendaProgress


@dataclass(frozen=True)
class RemoteLog:
    """One attempt's log of one op as a server has it: ``pop logs --json``'s fields and the
    text of the log file read on the server (None when it has none)."""

    operation: str
    attempt: int
    path: str | None
    tail: builtins.list[str]
    text: str | None = None


class RemoteReadsMixin(RemoteHttp):
    """``pop logs``, ``pop outputs`` and the status view's outputs and changes on a server."""

    def changes(self, agenda_id: str) -> builtins.list[Any]:
        """``GET /pop/agenda/{id}/changes``: who changed the agenda and how, oldest first
        (``ChangeRecord`` as ``Client.changes`` answers them)."""
        from pop.store.changes import ChangeRecord

        found = self._data("GET", f"/pop/agenda/{segment(agenda_id)}/changes")
        return [ChangeRecord.from_wire(item) for item in found]

    def logs(self, agenda_id: str, operation: str | None = None) -> builtins.list[RemoteLog]:
        """``GET /pop/agenda/{id}/logs[?operation=OP]``: each attempt's log as the server has
        it, with the text of its log file read there (None when it has none)."""
        found = self._data(
            "GET", f"/pop/agenda/{segment(agenda_id)}/logs", query=_operation(operation)
        )
        return [
            RemoteLog(
                operation=str(item.get("operation") or ""),
                attempt=int(item.get("attempt") or 0),
                path=item.get("path"),
                tail=[str(line) for line in item.get("tail") or []],
                text=item.get("text") if isinstance(item.get("text"), str) else None,
            )
            for item in found
        ]

    def outputs(self, agenda_id: str, operation: str | None = None) -> builtins.list[Any]:
        """``GET /pop/agenda/{id}/outputs[?operation=OP]``: where each op's outputs are on the
        server's machine (``OperationOutputs``, as ``pop outputs`` shows them there)."""
        from pop.engine.outputs import OperationOutputs, OutputFile

        found = self._data(
            "GET", f"/pop/agenda/{segment(agenda_id)}/outputs", query=_operation(operation)
        )
        return [
            OperationOutputs(
                operation=str(item.get("operation") or ""),
                state=str(item.get("state") or ""),
                folder=item.get("folder"),
                files=[
                    OutputFile(
                        path=str(file.get("path") or ""),
                        size=int(file.get("size") or 0),
                        pointer=str(file.get("pointer") or ""),
                    )
                    for file in item.get("files") or []
                    if isinstance(file, dict)
                ],
            )
            for item in found
        ]

    def outputs_of(
        self, progress: AgendaProgress, operation: str | None = None
    ) -> builtins.list[Any]:
        """:meth:`outputs` of a progress already read; none from a server that does not serve
        outputs (an older one: its 404 names no agenda)."""
        try:
            return self.outputs(progress.agenda_id or "", operation)
        except errors.NotFoundError:
            return []


def _operation(operation: str | None) -> dict[str, str]:
    return {} if operation is None else {"operation": operation}
