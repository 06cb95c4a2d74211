"""Read-only views of progress and agenda wire objects (POP's JSON), and the shapes they share
with the models.

Layer: models, standard library only. The human views (:mod:`pop.cli.render`, the causes in
:mod:`pop.models.causes`) read an agenda's progress through the protocols below, which pydantic's
:class:`~pop.models.AgendaProgress` and the views here both satisfy: ``pop status``, ``pop list``
and ``pop logs`` read the store's wire dicts (:meth:`pop.store.progress.ProgressStore.get_wire`)
and show them without building a model, while a remote client or a run in progress passes its
models to the same code. Validation (:func:`pop.engine.dag.validate_agenda`) reads an agenda's
operations the same way, models or :class:`AgendaView`.
"""

from __future__ import annotations

from pop.models.wire import depends_on

TYPE_CHECKING = False  # typing is not imported at run time: these views must start fast
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Protocol

    class DiagnosticLike(Protocol):
        @property
        def message(self) -> str | None: ...
        @property
        def payload(self) -> Any: ...

    class OperationProgressLike(Protocol):
        @property
        def operation(self) -> str | None: ...
        @property
        def processing_state(self) -> str | None: ...
        @property
        def processing_state_message(self) -> str | None: ...
        @property
        def percent_complete(self) -> float | None: ...
        @property
        def started_time(self) -> int | None: ...
        @property
        def completed_time(self) -> int | None: ...
        @property
        def result_payload(self) -> Any: ...
        @property
        def diagnostic_events(self) -> Sequence[DiagnosticLike] | None: ...

    class AgendaProgressLike(Protocol):
        @property
        def id(self) -> str | None: ...
        @property
        def agenda_id(self) -> str | None: ...
        @property
        def customer_id(self) -> str | None: ...
        @property
        def link_id(self) -> str | None: ...
        @property
        def title(self) -> str | None: ...
        @property
        def processing_state(self) -> str | None: ...
        @property
        def processing_state_message(self) -> str | None: ...
        @property
        def percent_complete(self) -> float | None: ...
        @property
        def started_time(self) -> int | None: ...
        @property
        def completed_time(self) -> int | None: ...
        @property
        def operation_progress(self) -> Sequence[OperationProgressLike] | None: ...
        @property
        def diagnostic_events(self) -> Sequence[DiagnosticLike] | None: ...
        @property
        def model_extra(self) -> Mapping[str, Any] | None: ...

    class OperationLike(Protocol):
        """What validation asks of an op: :class:`pop.models.Operation` or an OperationView."""

        @property
        def name(self) -> str | None: ...
        @property
        def type(self) -> str | None: ...
        @property
        def payload(self) -> Any: ...
        def depends_on(self) -> list[str]: ...

    class AgendaLike(Protocol):
        @property
        def operations(self) -> Sequence[OperationLike]: ...


class DiagnosticView:
    """A DiagnosticEvent's wire dict, read as :class:`pop.models.DiagnosticEvent` reads."""

    __slots__ = ("wire",)

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.wire = wire

    @property
    def message(self) -> str | None:
        return self.wire.get("message")

    @property
    def payload(self) -> Any:
        return self.wire.get("payload")


class _ProgressView:
    """What an agenda's and an op's progress both say, read from their wire dict."""

    __slots__ = ("wire",)

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.wire = wire

    @property
    def processing_state(self) -> str | None:
        return self.wire.get("processingState")

    @property
    def processing_state_message(self) -> str | None:
        return self.wire.get("processingStateMessage")

    @property
    def percent_complete(self) -> float | None:
        return self.wire.get("percentComplete")

    @property
    def started_time(self) -> int | None:
        return self.wire.get("startedTime")

    @property
    def completed_time(self) -> int | None:
        return self.wire.get("completedTime")

    @property
    def diagnostic_events(self) -> list[DiagnosticView] | None:
        events = self.wire.get("diagnosticEvents")
        return None if events is None else [DiagnosticView(event) for event in events]


class OperationProgressView(_ProgressView):
    """An OperationProgress's wire dict, read as :class:`pop.models.OperationProgress` reads."""

    __slots__ = ()

    @property
    def operation(self) -> str | None:
        return self.wire.get("operation")

    @property
    def result_payload(self) -> Any:
        return self.wire.get("resultPayload")


class AgendaProgressView(_ProgressView):
    """An AgendaProgress's wire dict, read as :class:`pop.models.AgendaProgress` reads; its
    ``model_extra`` is the whole dict (``lease``, ``cancelRequested`` and the rest)."""

    __slots__ = ("operations",)

    def __init__(self, wire: Mapping[str, Any]) -> None:
        super().__init__(wire)
        operations = wire.get("operationProgress")
        self.operations = (
            None if operations is None else [OperationProgressView(op) for op in operations]
        )

    @property
    def id(self) -> str | None:
        return self.wire.get("id")

    @property
    def agenda_id(self) -> str | None:
        return self.wire.get("agendaId")

    @property
    def customer_id(self) -> str | None:
        return self.wire.get("customerId")

    @property
    def link_id(self) -> str | None:
        return self.wire.get("linkId")

    @property
    def title(self) -> str | None:
        return self.wire.get("title")

    @property
    def operation_progress(self) -> list[OperationProgressView] | None:
        return self.operations

    @property
    def model_extra(self) -> Mapping[str, Any]:
        return self.wire


class OperationView:
    """An op of an agenda document, read as :class:`pop.models.Operation` reads (what
    :func:`pop.engine.dag.validate_agenda` asks of an op)."""

    __slots__ = ("wire",)

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.wire = wire

    @property
    def name(self) -> str | None:
        return self.wire.get("name")

    @property
    def type(self) -> str | None:
        return self.wire.get("type")

    @property
    def payload(self) -> Any:
        return self.wire.get("payload")

    @property
    def params(self) -> Mapping[str, Any]:
        return self.wire.get("params") or {}

    def depends_on(self) -> list[str]:
        return depends_on(self.params)


class AgendaView:
    """An agenda document's operations, read as :class:`pop.models.Agenda` reads them."""

    __slots__ = ("operations",)

    def __init__(self, wire: Mapping[str, Any]) -> None:
        self.operations = [OperationView(op) for op in wire.get("operations") or []]
