"""HandlerContext: everything a handler function gets, and the one way it reports.

Layer: handlers (imports pop.models, pop.errors, pydantic and its sibling modules). Built by
:func:`pop.handlers.entry.run_handler` (launched handlers) and
:func:`pop.handlers.resident.run_resident` (resident ones); handler functions receive it as their
only argument: ``def run(ctx: HandlerContext) -> Any``.

Completion is final: after :meth:`HandlerContext.succeed` or :meth:`HandlerContext.fail`, later
progress and completion calls are ignored. The one exception is :func:`invoke`: a handler that
raises after it completed did not finish cleanly, and its op fails.

Params given to :meth:`HandlerContext.progress` are merged into the op's params and carried on
every later report, the final one included, so a rerun finds them in ``LAST_PROGRESS``.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pop.errors import HandlerError, PermanentError, PopError, TemporaryError
from pop.handlers.external import (
    CANCELLED,
    CpuGate,
    ExternalReporter,
    ExternalResult,
    external_labels,
    reporting_callbacks,
    run_external,
    runtime_runs_images,
)
from pop.handlers.launchdata import LaunchData
from pop.handlers.reporting import Reporter
from pop.models import (
    FAILED,
    RETRY_AFTER_KEY,
    SUCCEEDED,
    DiagnosticEvent,
    OperationProgress,
    ProcessingState,
    WireModel,
    now_ms,
)
from pop.models.validation import problems

EXTERNAL_ENV = "POP_EXTERNAL"  # set by the engine from the registry entry's ``external``
UNDECLARED_EXTERNAL = "*"  # its key for binaries the entry does not declare (pop.registry's)
Diagnostics = str | DiagnosticEvent | Sequence[str | DiagnosticEvent]
HandlerFunction = Callable[["HandlerContext"], Any]


class Stopped(BaseException):
    """The handler process was told to stop (SIGTERM): raised into the handler's code to unwind it
    as KeyboardInterrupt does (``finally`` blocks run, ``except Exception`` does not catch it);
    the SDK entry then fails the op with a final report. See :meth:`HandlerContext.stop_by`."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"stopped by {signal_name}")
        self.signal_name = signal_name


def _write_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def to_events(diagnostics: Diagnostics) -> list[DiagnosticEvent]:
    """Diagnostics given as text, an event, or a list of either, as a list of events."""
    if isinstance(diagnostics, str | DiagnosticEvent):
        diagnostics = [diagnostics]
    return [
        item if isinstance(item, DiagnosticEvent) else DiagnosticEvent.of(item)
        for item in diagnostics
    ]


class HandlerContext:
    """The payload, the launch facts and the reporting calls of one handler run."""

    __slots__ = (
        "_final",
        "_log",
        "_params",
        "_percent",
        "_permanent",
        "_reporter",
        "_result",
        "_started_time",
        "cpu_gate",
        "last_progress",
        "launch_data",
        "on_external",
        "op_dir",
        "operation_name",
        "payload",
        "raw_payload_text",
        "stop_event",
        "stop_signal",
        "work_dir",
    )

    def __init__(
        self,
        reporter: Reporter,
        launch_data: LaunchData,
        *,
        payload: Any = None,
        raw_payload: str | None = None,
        operation_name: str | None = None,
        last_progress: OperationProgress | None = None,
        work_dir: Path | None = None,
        op_dir: Path | None = None,
        log: Callable[[str], None] | None = None,
        stop_event: threading.Event | None = None,
        cpu_gate: CpuGate | None = None,
        on_external: ExternalReporter | None = None,
    ) -> None:
        self._reporter = reporter
        self.stop_event = stop_event
        self.stop_signal: str | None = None
        self.cpu_gate = cpu_gate
        self.on_external = on_external
        self.launch_data = launch_data
        self.payload = payload
        self.raw_payload_text = raw_payload
        self.operation_name = operation_name
        self.last_progress = last_progress
        self.work_dir = work_dir
        self.op_dir = op_dir
        self._log = log or _write_stderr
        self._started_time = now_ms()
        self._percent = 0.0
        self._params: dict[str, Any] | None = None
        self._final: OperationProgress | None = None
        self._result: Any = None
        self._permanent = False

    @classmethod
    def from_launch_data(
        cls, reporter: Reporter, launch_data: LaunchData, **kwargs: Any
    ) -> HandlerContext:
        """A context whose operation name, last progress and folders come from ``launch_data``."""
        return cls(
            reporter,
            launch_data,
            operation_name=launch_data.operation_name,
            last_progress=launch_data.last_progress(),
            work_dir=launch_data.work_dir,
            op_dir=launch_data.op_dir,
            **kwargs,
        )

    # -- what the handler reads -------------------------------------------------------------

    @property
    def raw_payload(self) -> str | None:
        """The payload JSON text as received (None for a resident op or no payload)."""
        return self.raw_payload_text

    def last_progress_param(self, name: str) -> Any:
        """``params[name]`` of the earlier attempt's progress, or None."""
        progress = self.last_progress
        return None if progress is None or not progress.params else progress.params.get(name)

    def log(self, message: str) -> None:
        """Write one plain line to the handler's log (stderr unless the runner redirects it)."""
        self._log(message)

    # -- reporting --------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        return self._final is not None

    @property
    def final_progress(self) -> OperationProgress | None:
        return self._final

    @property
    def result(self) -> Any:
        """The result given to :meth:`succeed` ({} for None); None until then."""
        return self._result

    @property
    def succeeded(self) -> bool:
        return self._final is not None and self._final.processing_state_message == SUCCEEDED

    @property
    def permanent(self) -> bool:
        """True when the op failed in a way a retry cannot fix."""
        return self._permanent

    @property
    def exit_code(self) -> int:
        """0 succeeded, 2 failed permanently, 1 failed (or never completed)."""
        if self.succeeded:
            return 0
        return 2 if self._permanent else 1

    def progress(
        self, percent: float, message: str | None = None, *, params: dict[str, Any] | None = None
    ) -> None:
        """Report EXECUTING at ``percent`` (0-100); ignored once the op completed."""
        if self._final is not None:
            return
        self._percent = float(percent)
        if params:
            self._params = {**(self._params or {}), **params}
        self._reporter.report_progress(
            self._progress(ProcessingState.EXECUTING, message, self._percent)
        )

    def succeed(self, result: Any = None) -> None:
        """Complete the op as succeeded with ``result`` (None means {}; a pydantic model is sent
        as its JSON object); ignored once completed.
        Raises TypeError/ValueError (and completes nothing) when the result is not JSON."""
        if self._final is not None:
            return
        if result is None:
            result = {}
        elif isinstance(result, WireModel):
            result = result.to_wire()
        elif isinstance(result, BaseModel):
            result = result.model_dump(mode="json", by_alias=True)
        final = self._progress(ProcessingState.COMPLETE, SUCCEEDED, 100.0)
        final.set(completed_time=now_ms())
        self._reporter.report_complete(final, result)
        self._final, self._result = final, result

    def fail(self, diagnostics: Diagnostics, *, permanent: bool = False) -> None:
        """Complete the op as failed with ``diagnostics`` (text, DiagnosticEvent, or a list);
        ``permanent`` marks a failure that retrying cannot fix. Ignored once completed."""
        if self._final is None:
            self._complete_failed(to_events(diagnostics), permanent=permanent)

    def _complete_failed(self, events: list[DiagnosticEvent], *, permanent: bool) -> None:
        final = self._progress(ProcessingState.COMPLETE, FAILED, self._percent)
        final.set(completed_time=now_ms(), diagnostic_events=events)
        self._reporter.report_complete(final, None)
        self._final, self._result, self._permanent = final, None, permanent

    def _progress(
        self, state: ProcessingState, message: str | None, percent: float
    ) -> OperationProgress:
        progress = OperationProgress(
            operation=self.operation_name,
            processing_state=state,
            processing_state_message=message,
            percent_complete=percent,
            started_time=self._started_time,
        )
        if self._params:
            progress.set(params=dict(self._params))
        return progress

    # -- external binaries --------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """True once this run was asked to stop: the executor's cancel or timeout (resident),
        SIGTERM (launched). Long handlers check it between steps; ``launch_external`` stops its
        launch by itself."""
        return self.stop_event is not None and self.stop_event.is_set()

    def stop_by(self, signal_name: str) -> None:
        """Ask this run to stop because the process got ``signal_name``: running external
        launches are cancelled, and ``launch_external`` raises :class:`Stopped` from then on."""
        self.stop_signal = signal_name
        if self.stop_event is None:
            self.stop_event = threading.Event()
        self.stop_event.set()

    def external_program(self, name: str, find_local: Callable[[], str]) -> str:
        """argv[0] for the external binary ``name``: on a runtime that runs images (docker,
        kubernetes) the image's own ``name``, found on the image's PATH, never a path of this
        machine; elsewhere ``find_local()`` (e.g. ``POP_FFMPEG``, PATH, imageio-ffmpeg)."""
        data = self.launch_data
        if runtime_runs_images(data.external_launch_type, data.runtime_options):
            return name
        return find_local()

    def external_image(self, name: str) -> str | None:
        """The image external binary ``name`` runs in on an image runtime (``external.<name>.
        image``, else the handler's own), None when the registry names none."""
        image = self.external_settings(name).get("image")
        return str(image) if image else None

    def external_settings(self, name: str) -> dict[str, Any]:
        """The registry's launch settings for external binary ``name`` (``cpus``, ``image``,
        ``pod``: its PodConfig fields), from ``POP_EXTERNAL``; for a binary the registry does not
        declare only the handler's own ``pod`` fields; empty without ``POP_EXTERNAL``."""
        raw = self.launch_data.env.get(EXTERNAL_ENV)
        if not raw:
            return {}
        try:
            declared = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(declared, dict):
            return {}
        settings = declared.get(name)
        if not isinstance(settings, dict):
            settings = declared.get(UNDECLARED_EXTERNAL)
            pod = settings.get("pod") if isinstance(settings, dict) else None
            return {"pod": pod} if isinstance(pod, dict) else {}
        return dict(settings)

    def launch_external(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cpus: float | None = None,
        timeout_seconds: float | None = None,
        on_line: Callable[[str], None] | None = None,
        inputs: Sequence[str | Path] = (),
    ) -> ExternalResult:
        """Run ``argv`` through the externalLaunchType runtime and wait for it.

        The launch runs in the op's folder (``op_dir``) with the work directory mounted; on image
        runtimes each of ``inputs`` (local files or folders it reads) outside the work directory
        is mounted read-only at its own path. Output lines go to ``on_line``, else to the log
        prefixed with the program name. A non-zero exit is returned, not raised; PermanentError
        for an empty argv; the runtime's LaunchError when the program cannot start.

        The registry's ``external.<name>`` settings (``POP_EXTERNAL``; ``name`` defaults to the
        program's file name) give the image (image runtimes) and the CPUs, request and limit
        (else one; ``cpus`` overrides). The launcher is built with the run's ``keep``
        (``POP_KEEP``) and runtime options (``POP_RUNTIME_OPTIONS``); the launch is labelled
        ``pop.agendaId``, ``pop.operation``, ``pop.attempt``, ``pop.role=external``,
        ``app.kubernetes.io/managed-by=pop`` and, in a launched handler, ``pop.parent`` (the
        handler's own launch name). Its start, with its LaunchRecord, and its end go to
        ``on_external`` (the executor's attempt row, or a launched handler's launch guard).

        In a resident handler the launch first waits for its CPUs in the executor's budget
        (``cpu_gate``); stopped while waiting, it returns a ``cancelled`` result without
        starting. A stop cancels a running launch (result ``cancelled``); after a stop by signal
        (:meth:`stop_by`) this raises :class:`Stopped` instead of returning.
        """
        if not argv:
            raise PermanentError("launch_external needs a command (argv is empty)")
        if self.stop_signal is not None:
            raise Stopped(self.stop_signal)
        if on_line is None:
            prefix = f"[{Path(str(argv[0])).name}] "

            def on_line(line: str) -> None:
                self._log(prefix + line)

        launch_data = self.launch_data
        labels = external_labels(
            agenda_id=launch_data.agenda_id,
            operation=self.operation_name,
            attempt=launch_data.attempt,
            parent=launch_data.launch_name,
        )
        program = name or Path(str(argv[0])).name
        settings = self.external_settings(program)
        if cpus is None:
            cpus = float(settings.get("cpus") or 1.0)
        on_launching, on_launch, on_end = reporting_callbacks(
            self.on_external, program=program, cpus=cpus
        )
        asked = time.monotonic()

        def on_wait() -> None:  # `pop status` shows why the op is not moving
            self.progress(self._percent, f"waiting for {cpus:g} CPU for {program}")

        gate = self.cpu_gate(cpus, program, on_wait) if self.cpu_gate else nullcontext(True)
        with gate as granted:
            waited = time.monotonic() - asked
            if not granted:  # stopped while waiting for the CPUs
                argv_text = tuple(str(a) for a in argv)
                return ExternalResult(None, CANCELLED, argv=argv_text, waited=waited)
            self._log("$ " + shlex.join(str(arg) for arg in argv))
            result = run_external(
                launch_data.external_launch_type,
                argv,
                name=name,
                env=env,
                cwd=self.op_dir,
                work_dir=self.work_dir,
                inputs=inputs,
                image=settings.get("image") or None,
                pod=settings.get("pod") or None,
                labels=labels,
                cpus=cpus,
                timeout_seconds=timeout_seconds,
                keep=launch_data.keep,
                options=launch_data.runtime_options,
                on_line=on_line,
                stop=self.stop_event,
                on_launching=on_launching,
                on_launch=on_launch,
                on_end=on_end,
            )
        if self.stop_signal is not None:
            raise Stopped(self.stop_signal)
        return dataclasses.replace(result, waited=waited)


def load_payload(model: type[BaseModel] | None, data: Any) -> Any:
    """``data`` validated as ``model`` (an absent payload validates as ``{}``), or ``data``
    itself without a model. PermanentError "Failed to translate payload to <Model>: ..."."""
    if model is None:
        return data
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as exc:
        details = "; ".join(problems(exc, root="the payload"))
        raise PermanentError(f"Failed to translate payload to {model.__name__}: {details}") from exc


def exception_events(exc: BaseException, operation_name: str | None) -> list[DiagnosticEvent]:
    """The diagnostics of an exception that escaped a handler: a HandlerError's (or any pop
    error's) own message; for anything else the type, message and stack trace."""
    if isinstance(exc, TemporaryError) and exc.delay is not None:
        # the executor waits at least this long before the next attempt (pop.engine.policy)
        return [DiagnosticEvent.of(exc.message, payload={RETRY_AFTER_KEY: exc.delay})]
    if isinstance(exc, HandlerError | PopError):
        return [DiagnosticEvent.of(exc.message)]
    name = operation_name or "(unnamed)"
    return [
        DiagnosticEvent.of(
            f"Handler failed for operation {name}: {type(exc).__name__}: {exc}",
            stack_trace="".join(traceback.format_exception(exc)),
        )
    ]


def invoke(
    func: HandlerFunction, ctx: HandlerContext, *, failure_prefix: str | None = None
) -> None:
    """Run ``func(ctx)`` and make sure the op completes: a return without completing succeeds
    with the returned value ({} for None); an exception fails the op (permanently for
    PermanentError), even after it completed, with the ``failure_prefix`` message first, then
    any failure diagnostics the handler reported, then the exception's."""
    try:
        value = func(ctx)
    except Exception as exc:
        fail_from_exception(ctx, exc, failure_prefix=failure_prefix)
        return
    if not ctx.completed:
        try:
            ctx.succeed(value)
        except (TypeError, ValueError) as exc:
            name = ctx.operation_name or "(unnamed)"
            ctx.fail(f"Handler result for operation {name} is not JSON: {exc}")


def fail_from_exception(
    ctx: HandlerContext, exc: BaseException, *, failure_prefix: str | None = None
) -> None:
    """Fail the op because ``exc`` escaped its handler (see :func:`invoke`)."""
    events = [DiagnosticEvent.of(failure_prefix)] if failure_prefix is not None else []
    earlier = ctx.final_progress
    if earlier is not None and not ctx.succeeded:
        events.extend(earlier.diagnostic_events or [])
    events.extend(exception_events(exc, ctx.operation_name))
    permanent = isinstance(exc, PermanentError) or (ctx.completed and ctx.permanent)
    ctx._complete_failed(events, permanent=permanent)
