"""The launched-handler entry point: standard args + environment in, stdout protocol out.

Layer: handlers. Called by ``python -m pop.handlers`` (:mod:`pop.handlers.__main__`) and by
``pop handler run``; the process it runs in was started by a runtime (local process, container,
pod) on the executor's behalf.

Lifecycle: build :class:`~pop.handlers.launchdata.LaunchData`, parse and validate the payload,
run the handler through :func:`~pop.handlers.context.invoke`, then write ``HandlerComplete`` as
the very last stdout line. Every failure on the way (bad arguments, unreadable payload file,
invalid JSON, payload that does not fit the handler's model) is reported through the same
protocol, so the executor always gets a final progress with a diagnostic.

Stopping (the runtime's cancel or timeout sends SIGTERM): running external launches are
cancelled, the handler function is unwound (:class:`~pop.handlers.context.Stopped`), the op fails
with "Handler stopped by SIGTERM for operation <name>", ``HandlerComplete`` follows and the
process exits 143. External launches never outlive the handler: a :class:`LaunchGuard` process
stops those still running when the handler ends, however it ends (SIGKILL included).

Exit code: 0 succeeded, 1 failed, 2 failed permanently (PermanentError, invalid payload or
arguments), 130 interrupted, 143 stopped by SIGTERM. (POP's handlers always exited 0; we do
not.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pop.errors import EXIT_INTERRUPTED, InputError, PermanentError, PopError
from pop.handlers import payload_model_of
from pop.handlers.context import HandlerContext, Stopped, invoke, load_payload
from pop.handlers.external import ENDED_KEY, LAUNCHING_KEY, launching_in_this_thread
from pop.handlers.launchdata import HELP_ARGS, OPERATION_NAME, USAGE, LaunchData, asks_for_help
from pop.handlers.reporting import HANDLER_COMPLETE, StdoutReporter
from pop.runtimes import ReportSink, create_report_sink


def run_handler(
    func: Callable[[HandlerContext], Any],
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    stdout: TextIO | None = None,
) -> int:
    """Run ``func`` as a launched handler and return the process exit code.

    ``argv`` holds the standard arguments only; ``env`` defaults to ``os.environ``; protocol
    lines go to ``stdout`` (default ``sys.stdout``), log lines to stderr. In the main thread,
    SIGTERM stops the run (see the module docstring) until the handler has returned.
    """
    environment = os.environ if env is None else env
    reporter = StdoutReporter(stdout)
    started = time.monotonic()
    launch_data = LaunchData(env=environment)
    guard = LaunchGuard(launch_data.runtime_options, log=lambda message: ctx.log(message))
    stop = threading.Event()
    ctx = HandlerContext(
        reporter,
        launch_data,
        operation_name=environment.get(OPERATION_NAME) or None,
        stop_event=stop,
        on_external=guard.on_external,
    )
    armed = True

    def on_sigterm(signum: int, frame: Any) -> None:
        if armed and ctx.stop_signal is None:
            ctx.stop_by(SIGTERM_NAME)  # cancels running external launches
            if not launching_in_this_thread():  # else launch_external raises once cancelled
                raise Stopped(SIGTERM_NAME)

    with _signal_handler(signal.SIGTERM, on_sigterm):
        try:
            try:
                launch_data = LaunchData.from_argv(argv, environment)
                ctx = HandlerContext.from_launch_data(
                    reporter, launch_data, stop_event=stop, on_external=guard.on_external
                )
                reporter.sink = _report_sink(launch_data, lambda message: ctx.log(message))
                if stop.is_set():  # stopped while the context was being built
                    raise Stopped(SIGTERM_NAME)
                for warning in launch_data.warnings:
                    ctx.log(f"warning: {warning}")
                if metadata := launch_data.metadata():
                    ctx.log(
                        "Operation metadata - "
                        + " ".join(f"{k} : {v}" for k, v in metadata.items())
                    )
                raw_payload = launch_data.payload_text()
                ctx.raw_payload_text = raw_payload
                ctx.payload = load_payload(payload_model_of(func), _parse_json(raw_payload))
            except PopError as exc:
                ctx.fail(exc.message, permanent=isinstance(exc, PermanentError | InputError))
            else:
                invoke(func, ctx)
            armed = False
        except KeyboardInterrupt:
            armed = False
            name = ctx.operation_name or "(unnamed)"
            return _ended(
                ctx, reporter, f"Handler interrupted for operation {name}", EXIT_INTERRUPTED
            )
        except Stopped as exc:
            armed = False
            name = ctx.operation_name or "(unnamed)"
            return _ended(ctx, reporter, f"Handler {exc} for operation {name}", EXIT_TERMINATED)
        finally:
            guard.close()  # the guard stops whatever external launch has not ended
            if reporter.sink is not None:
                reporter.sink.close()  # the final report is on the pod already
    status = "succeeded" if ctx.succeeded else "failed"
    elapsed_ms = int((time.monotonic() - started) * 1000)
    ctx.log(
        f"operation={ctx.operation_name or '(unnamed)'} conclusionStatus={status} "
        f"elapsedTime={elapsed_ms}ms"
    )
    reporter.write_line(HANDLER_COMPLETE)
    return ctx.exit_code


SIGTERM_NAME = "SIGTERM"
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM


@contextlib.contextmanager
def _signal_handler(signum: int, handler: Callable[[int, Any], None]) -> Iterator[None]:
    """``handler`` for ``signum`` while the block runs (restored after); nothing outside the
    main thread, where Python cannot install one."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _report_sink(launch_data: LaunchData, warn: Callable[[str], None]) -> ReportSink | None:
    """The sink the stdout reports are teed into: on kubernetes (``MY_POD_NAME`` set) the
    annotations of the handler's own pod, configured from the standard arguments
    (``oauthCertPath``, ``oauthTokenPath``) and properties (``pop.kubernetes.masterUrl``,
    ``pop.kubernetes.namespace``); None elsewhere."""
    args = launch_data.args
    return create_report_sink(
        launch_data.launch_type,
        launch_data.env,
        oauth_cert_path=str(args.oauth_cert_path) if args.oauth_cert_path else None,
        oauth_token_path=str(args.oauth_token_path) if args.oauth_token_path else None,
        master_url=launch_data.get_property(MASTER_URL_PROPERTY),
        namespace=launch_data.get_property(NAMESPACE_PROPERTY),
        warn=warn,
    )


MASTER_URL_PROPERTY = "pop.kubernetes.masterUrl"
NAMESPACE_PROPERTY = "pop.kubernetes.namespace"


def _parse_json(raw_payload: str | None) -> Any:
    if raw_payload is None or not raw_payload.strip():
        return None
    try:
        return json.loads(raw_payload)
    except ValueError as exc:
        raise PermanentError(f"Failed to parse the payload as JSON: {exc}") from exc


def _ended(ctx: HandlerContext, reporter: StdoutReporter, message: str, exit_code: int) -> int:
    """The final report of a run that was interrupted or stopped: failed with ``message``
    (unless it already completed), then ``HandlerComplete``."""
    ctx.fail(message)
    reporter.write_line(HANDLER_COMPLETE)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pop.handlers module.path:function [standard args]``."""
    from pop.handlers import load_handler

    args = list(sys.argv if argv is None else argv)
    if len(args) < 2 or args[1] in HELP_ARGS or asks_for_help(args[2:]):
        helped = len(args) >= 2
        print(
            f"usage: python -m pop.handlers module.path:function {USAGE}",
            file=sys.stdout if helped else sys.stderr,
        )
        return 0 if helped else 2
    try:
        func = load_handler(args[1])
    except InputError as exc:
        func = _failing_handler(exc.message)
    return run_handler(func, args[2:])


def _failing_handler(message: str) -> Callable[[HandlerContext], Any]:
    def run(ctx: HandlerContext) -> Any:
        raise PermanentError(message)

    return run


# -- the launch guard: a launched handler's externals do not outlive it ------------------------

GUARD_GRACE_SECONDS = 2.0
# The guard process: it reads what the handler started and ended, one JSON line each, until the
# handler's end of the pipe closes (the handler exited, was killed, even with SIGKILL), then
# stops what is still running. Only json and sys until then, so it starts in milliseconds and
# holds little memory; pop is imported only when there is something to stop.
_GUARD_SCRIPT = """
import json, sys
header = json.loads(sys.stdin.readline() or "{}")
running = {}
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if "start" in message:
        running[message["start"]] = message["record"]
    else:
        running.pop(message.get("end"), None)
if running:
    sys.path.insert(0, header["path"])
    from pop.handlers.external import stop_launches
    stop_launches(list(running.values()), header.get("options") or {}, header["grace"])
"""


class LaunchGuard:
    """Makes sure a launched handler's external launches die with it, however it dies.

    Given to the handler's context as its ``on_external`` (see
    :meth:`pop.handlers.context.HandlerContext.launch_external`) by the SDK entry point. At the
    first launch it starts a small guard process in a session of its own (so a signal to the
    handler's process group, SIGKILL included, does not reach it) that reads, through a pipe
    only the handler holds, which launches started and ended. When the pipe closes, because the
    handler ended or was killed, the guard stops every launch that had not ended, through its
    runtime (``Launcher.stop`` from its record, built with the run's runtime ``options``).
    Thread-safe; a guard that cannot start is reported to ``log`` and the launches run
    unguarded.
    """

    def __init__(
        self,
        options: Mapping[str, str] | None = None,
        *,
        grace_seconds: float = GUARD_GRACE_SECONDS,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self._options = dict(options or {})
        self._grace_seconds = grace_seconds
        self._log = log
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed = False
        self.process: subprocess.Popen[bytes] | None = None  # the guard, once started

    def on_external(self, event: Mapping[str, Any]) -> None:
        """One event of an external launch (see :data:`pop.handlers.external.ExternalReporter`):
        about to launch (the guard process is started now, so that only the write of the start
        message stands between the launch and its guard), started (its record), or ended."""
        name = event.get("launchName")
        if event.get(LAUNCHING_KEY):
            self._send(None, start=True)
        elif ENDED_KEY in event:
            self._send({"end": name}, start=False)
        else:
            record = {key: event[key] for key in ("runtime", "ref", "details") if key in event}
            self._send({"start": name, "record": record}, start=True)

    def close(self) -> None:
        """Close the pipe: the guard stops whatever has not ended, then exits. Idempotent."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _send(self, message: Mapping[str, Any] | None, *, start: bool) -> None:
        with self._lock:
            if self._fd is None and (not start or self._failed or not self._start()):
                return
            assert self._fd is not None
            if message is None:
                return
            try:
                os.write(self._fd, (json.dumps(message) + "\n").encode())
            except OSError as exc:  # the guard died: nothing to tell any more
                self._fail(f"the launch guard stopped listening: {exc}")

    def _start(self) -> bool:
        read_end, write_end = os.pipe()  # not inherited by anything the handler starts
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _GUARD_SCRIPT],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            os.close(write_end)
            self._fail(f"cannot start the launch guard: {exc}")
            return False
        finally:
            os.close(read_end)
        self.process, self._fd = process, write_end
        header = {"path": _POP_PARENT, "options": self._options, "grace": self._grace_seconds}
        os.write(write_end, (json.dumps(header) + "\n").encode())
        return True

    def _fail(self, message: str) -> None:
        self._failed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._log is not None:
            self._log(f"warning: {message}; external launches may outlive this handler")


_POP_PARENT = str(Path(__file__).resolve().parent.parent.parent)  # where ``import pop`` works
