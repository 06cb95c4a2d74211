"""The progress sink: every read and write one agenda's run makes, in the engine's own terms.

Layer: engine. The executor (:mod:`pop.engine.executor`), the attempt driver, the lease keeper and
generated operations (:mod:`pop.engine.generated`) receive a :class:`ProgressSink` and never ask
where it writes (DESIGN §12, issue 13 item 6). Two implementations: the local store
(:class:`pop.engine.store_sink.StoreSink`, the default) and, later, a ``pop serve`` server. The
api-side writes (submission, rerun, templates) and the views' reads (outputs) are not part of a
run and do not go through it.

A run calls, in this order: ``agenda`` and ``progress`` (reads), ``claim``, ``begin``; then per op
attempt ``start_attempt``, any number of ``record_launch`` and ``op_progress``, and one of
``op_outcome`` or ``op_retry`` (an op that cannot be launched gets ``op_invalid`` instead, with no
attempt; a generator's ``op_outcome`` comes after its ``add_generated``); ``renew_lease`` and
``cancel_requested`` from the lease keeper throughout; ``finish`` last, then one ``progress`` read
of the result.

What may be delayed: only ``op_progress`` is a report rather than a transition.
The engine already sends it at most once per ``progress_interval`` per op; a remote
implementation may coalesce it further (the latest report per op wins, at most one request a
second per agenda) and may buffer it while the server is unreachable. Every other write is a
transition: never dropped, never reordered, and a buffered report of the same op must be sent
before it or discarded in its favour (a transition supersedes the op's percent). Times (started,
completed, attempt times) are the sink's to stamp when it is called.

Errors: a method raises a :class:`pop.errors.PopError` (``StoreError`` locally) when it cannot
do its step; none is expected in normal operation. A remote implementation retries a transient
failure with backoff itself rather than raising it into the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pop.engine.state import Outcome
from pop.models import Agenda, AgendaProgress, DiagnosticEvent, OperationProgress


class ProgressSink(Protocol):
    """Where one agenda's run reads its agenda from and writes its progress to.

    Each write is one step of the run. What its docstring calls atomic is visible to readers
    (``pop status``, the server) all at once or not at all; every write survives the executor
    being killed once the method has returned. ``agenda_id`` names the agenda, ``progress_id``
    its AgendaProgress, ``operation`` an op by name.
    """

    # -- the agenda -----------------------------------------------------------------------

    def agenda(self, agenda_id: str) -> Agenda:
        """The stored agenda; raises :class:`pop.errors.NotFoundError` when there is none."""
        ...

    def progress(self, agenda_id: str) -> AgendaProgress | None:
        """The agenda's progress with every op's, as readers see it now; None when it has none."""
        ...

    def claim(
        self,
        agenda_id: str,
        owner: str,
        *,
        lease_seconds: float,
        launch_settings: Mapping[str, Any],
    ) -> str | None:
        """Take the agenda's lease for ``owner`` unless another live lease holds it, and return
        who holds the lease now (``owner`` when the claim succeeded). Taking the lease is atomic:
        of two executors claiming at once, one wins. Only when it succeeded: the agenda leaves
        the ready queue (no daemon picks it up too) and ``launch_settings`` (``RunOptions.to_json``)
        are stored with it for ``--resume`` and the reclaimer. Those two follow the lease: a crash
        between leaves a leased, still queued agenda, which the lease guards until it expires."""
        ...

    def begin(
        self,
        agenda_id: str,
        progress_id: str,
        *,
        attempt: int,
        executor: str,
        runtime: str,
        percent: float,
    ) -> int:
        """The run starts: the agenda's attempt row (number ``attempt``, by ``executor`` on
        ``runtime``), then the agenda EXECUTING/running with its start time and ``percent``
        (two steps in the local store: a crash between leaves an open agenda attempt on a leased
        WAITING agenda, which the reclaimer ends). Returns the agenda attempt's id, which
        :meth:`finish` ends. Called only while holding the lease."""
        ...

    def finish(
        self,
        agenda_id: str,
        progress_id: str,
        *,
        owner: str,
        attempt_id: int,
        succeeded: bool,
        failure: str,
        diagnostics: Sequence[DiagnosticEvent],
        percent: float,
    ) -> bool:
        """The run ends, atomically and only while ``owner`` still holds the lease: the agenda
        COMPLETE (succeeded or failed) with ``percent``, its completed time and ``diagnostics``
        appended; the agenda attempt ended (``succeeded`` or ``failure``, the first diagnostic
        as its message); the lease released. Returns False, writing nothing, when the lease was
        taken over (the agenda is someone else's now). Buffered reports are sent first."""
        ...

    # -- the lease ------------------------------------------------------------------------

    def renew_lease(self, agenda_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend ``owner``'s lease to ``lease_seconds`` from now. False only when the lease is
        known to be someone else's (reclaimed): the run then stops. A remote implementation that
        cannot reach the server answers True while the lease it last renewed has not expired."""
        ...

    def cancel_requested(self, agenda_id: str) -> bool:
        """Whether ``pop cancel`` asked this agenda to stop. Polled twice a second; a remote
        implementation may answer from its last heartbeat."""
        ...

    # -- one op ---------------------------------------------------------------------------

    def start_attempt(
        self,
        agenda_id: str,
        progress_id: str,
        operation: str,
        attempt: int,
        *,
        executor: str,
        runtime: str,
        log_path: str,
        launch_record: Mapping[str, Any] | None = None,
    ) -> int:
        """An attempt starts, atomically: its attempt row (number ``attempt``, ``executor``,
        ``runtime``, ``log_path``, and ``launch_record`` when the launch is known up front, as for
        a resident run) and the op EXECUTING/running at 0 % with its start and attempt times and
        attempt count. Returns the attempt's id."""
        ...

    def record_launch(self, attempt_id: int, record: Mapping[str, Any]) -> None:
        """What the attempt launched (a ``LaunchRecord`` as JSON, a resident run's external
        launches under ``externals``), replacing the earlier record. Written before the launch is
        followed, so that another process can stop it after this executor died: a transition."""
        ...

    def op_progress(
        self,
        progress_id: str,
        operation: str,
        *,
        percent: float,
        message: str,
        params: Mapping[str, Any] | None,
        agenda_percent: float,
    ) -> None:
        """A running op's report, atomically: its ``percent``, ``message`` and (when not None)
        ``params``, and the agenda's percent. The one write that may be coalesced or buffered."""
        ...

    def op_invalid(
        self, progress_id: str, operation: str, diagnostics: Sequence[DiagnosticEvent]
    ) -> None:
        """An op that cannot be launched (an invalid reference, an unknown type) is COMPLETE/
        failed with ``diagnostics`` and its completed time; it had no attempt."""
        ...

    def op_outcome(
        self,
        progress_id: str,
        operation: str,
        attempt_id: int,
        outcome: Outcome,
        *,
        percent: float,
        result: Any,
        params: Mapping[str, Any] | None,
        agenda_percent: float,
    ) -> None:
        """An op's final state, atomically: COMPLETE succeeded or failed at ``percent`` with its
        completed time, ``result`` (stored only when it succeeded), ``outcome``'s diagnostics and
        output tail, ``params`` when not None; the attempt ended with ``outcome``'s kind, exit
        code and first diagnostic; the agenda's percent."""
        ...

    def op_retry(
        self,
        progress_id: str,
        operation: str,
        attempt_id: int,
        outcome: Outcome,
        *,
        message: str,
        agenda_percent: float,
    ) -> None:
        """A failed attempt that will be retried, atomically: the attempt ended with
        ``outcome``; the op, still EXECUTING, shows ``message`` at 0 % with ``outcome``'s
        diagnostics and output tail; the agenda's percent."""
        ...

    def add_generated(
        self,
        agenda: Agenda,
        progress_id: str,
        operations: Sequence[OperationProgress],
        *,
        first_seq: int,
    ) -> None:
        """A generator's ops join the agenda, atomically: ``agenda`` (with them appended)
        replaces the stored document and their progress records are added in agenda order from
        position ``first_seq``. Raises :class:`pop.errors.StoreError` when they cannot be stored."""
        ...
