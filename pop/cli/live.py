"""Live views: ``run-local``'s progress while it runs and ``status --watch``.

Layer: cli. On a terminal they draw with rich (imported here only), with markup and emoji off
so program text shows verbatim; into a pipe or file they write one plain line per change and
never import rich (a pipe costs what ``--json`` costs).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from pop.cli import render, text
from pop.engine.state import RunEvent
from pop.models import AgendaProgress

WAITING_NOTICE_SECONDS = 5.0


def _console(*, stderr: bool) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


class LiveRun:
    """The live view of ``run-local`` on stderr: on a terminal one bar for the agenda and one
    per running op (a failed op's line ends with its cause); otherwise one line per start and
    end (``failed    transcode: <cause>``)."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.interactive = enabled and text.is_terminal(sys.stderr)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None
        self._done = 0
        self._total = 0

    def __enter__(self) -> LiveRun:
        if self.interactive:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%", markup=False),
                TimeElapsedColumn(),
                console=_console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: RunEvent) -> None:
        if not self.enabled:
            return
        if self._progress is None:
            self._line(event)
            return
        if event.kind == "agenda_started":
            self._total = event.total
            self._overall = self._progress.add_task("agenda", total=100)
        elif event.kind == "op_started":
            self._total = max(self._total, event.total)
            self._tasks[event.operation or ""] = self._progress.add_task(
                f"  {event.operation}", total=100
            )
        elif event.kind == "op_progress":
            task = self._tasks.get(event.operation or "")
            if task is not None:
                self._progress.update(task, completed=event.percent)
        elif event.kind == "op_finished":
            self._done += 1
            task = self._tasks.pop(event.operation or "", None)
            label = f"{'✓' if event.succeeded else '✗'} {event.operation}"
            if task is not None:
                self._progress.update(
                    task, completed=100 if event.succeeded else event.percent, description=label
                )
            if not event.succeeded:  # the cause above the bars, whole (the terminal wraps it)
                note = f": {text.one_line(event.message)}" if event.message else ""
                self._progress.console.print(f"failed    {event.operation}{note}", soft_wrap=True)
        elif event.kind == "agenda_finished":
            self._progress.update(self._overall, completed=event.percent)
        if self._overall is not None and self._total and event.kind != "agenda_finished":
            self._progress.update(self._overall, completed=self._done * 100 / self._total)

    @staticmethod
    def _line(event: RunEvent) -> None:
        if event.kind == "op_started":
            line = f"started   {event.operation}\n"
        elif event.kind == "op_finished":
            word = "succeeded" if event.succeeded else "failed"
            note = (
                f": {text.one_line(event.message)}" if event.message and not event.succeeded else ""
            )
            line = f"{word:<9} {event.operation}{note}\n"
        else:
            return
        sys.stderr.write(line)


def waiting_notice(progress: AgendaProgress, waited: float, queued: bool | None) -> str | None:
    """What a watched WAITING agenda waits for, once it has waited a while (None before)."""
    if text.state_name(progress.processing_state) != "WAITING" or waited < WAITING_NOTICE_SECONDS:
        return None
    if (progress.params or {}).get("doNotRun") is not None:
        return "stored with params.doNotRun: no executor will run it"
    if queued is False:
        return (
            f"not queued: run it with `pop run-local --resume {progress.agenda_id}` "
            f"or queue it with `pop rerun {progress.agenda_id} --continue`"
        )
    return f"queued {waited:.0f}s, not claimed by any executor: start one with `pop executor`"


def watch(
    fetch: Callable[[], AgendaProgress],
    *,
    queued: Callable[[], bool | None] = lambda: None,
    outputs: Callable[[AgendaProgress], Any] = lambda progress: None,
    interval: float = 0.5,
) -> AgendaProgress:
    """Redraw an agenda's status view until it is COMPLETE; returns the last progress."""
    progress = fetch()
    started = time.monotonic()
    if not text.is_terminal(sys.stdout):
        return _watch_lines(fetch, progress, queued, outputs, interval)
    from rich.live import Live
    from rich.text import Text

    console = _console(stderr=False)

    def view(current: AgendaProgress) -> Any:
        lines = render.progress_lines(current, width=console.width, colour=True)
        lines.extend(_running_bars(current, console.width))
        notice = waiting_notice(current, time.monotonic() - started, queued())
        if notice:
            lines.append(notice)
        return Text.from_ansi("\n".join(lines))

    with Live(view(progress), console=console, refresh_per_second=4, transient=True) as live:
        while text.state_name(progress.processing_state) != "COMPLETE":
            time.sleep(interval)
            progress = fetch()
            live.update(view(progress))
    render.print_progress(progress, outputs=outputs(progress))
    return progress


def _running_bars(progress: AgendaProgress, width: int) -> list[str]:
    """One line per running op: its name, a bar, its percent and message (each on its own line,
    so no label ever starts on the previous bar's line)."""
    running = [
        op
        for op in progress.operation_progress or []
        if text.state_name(op.processing_state) == "EXECUTING"
    ]
    if not running:
        return []
    name_width = min(24, max(len(op.operation or "") for op in running))
    lines = []
    for op in running:
        percent = max(0.0, min(100.0, op.percent_complete or 0.0))
        filled = round(percent / 5)
        bar = "█" * filled + "░" * (20 - filled)
        line = f"{text.cut(op.operation or '', name_width):<{name_width}} {bar} {percent:3.0f}%"
        message = text.one_line(op.processing_state_message)
        if message:
            line += "  " + message
        lines.append(text.cut(line, width))
    return lines


def _watch_lines(
    fetch: Callable[[], AgendaProgress],
    progress: AgendaProgress,
    queued: Callable[[], bool | None],
    outputs: Callable[[AgendaProgress], Any],
    interval: float,
) -> AgendaProgress:
    """``--watch`` into a pipe or file: one line whenever a running op's percent or message
    moves (``HH:MM:SS op percent% message``), a notice while nobody runs a waiting agenda,
    then the final status view."""
    seen: dict[str, tuple[float, str]] = {}
    started = time.monotonic()
    noticed = False
    while True:
        for op in progress.operation_progress or []:
            if text.state_name(op.processing_state) != "EXECUTING":
                continue
            now = (round(op.percent_complete or 0.0, 1), text.one_line(op.processing_state_message))
            if seen.get(op.operation or "") != now:
                seen[op.operation or ""] = now
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} {op.operation} {now[0]:.1f}% {now[1]}".rstrip(), flush=True)
        notice = None if noticed else waiting_notice(progress, time.monotonic() - started, queued())
        if notice:
            noticed = True
            print(f"{time.strftime('%H:%M:%S')} {notice}", flush=True)
        if text.state_name(progress.processing_state) == "COMPLETE":
            break
        time.sleep(interval)
        progress = fetch()
    render.print_progress(progress, outputs=outputs(progress))
    return progress


def watch_link(fetch: Callable[[], Any], *, interval: float = 0.5) -> Any:
    """Redraw a link group (one line per agenda) until the group is COMPLETE."""
    summary = fetch()

    def lines(current: Any, width: int | None) -> list[str]:
        percent = current.processing_percent
        shown = "n/a (a member failed)" if percent is None else f"{percent:.0f}%"
        table = render.list_columns(current.progress_list)
        return [
            f"{current.processing_state.value}  {shown}",
            *table.lines(width=width, colour=False),
        ]

    if not text.is_terminal(sys.stdout):
        while summary.processing_state.value != "COMPLETE":
            time.sleep(interval)
            summary = fetch()
        sys.stdout.write("".join(line + "\n" for line in lines(summary, None)))
        return summary
    from rich.live import Live
    from rich.text import Text

    console = _console(stderr=False)
    with Live(
        Text("\n".join(lines(summary, console.width))), console=console, refresh_per_second=4
    ) as live:
        while summary.processing_state.value != "COMPLETE":
            time.sleep(interval)
            summary = fetch()
            live.update(Text("\n".join(lines(summary, console.width))))
    return summary
