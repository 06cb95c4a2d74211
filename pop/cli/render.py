"""Every piece of CLI output: JSON on stdout, rich tables and live progress on a terminal.

Layer: cli. The only module that imports rich (lazily, inside functions).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from pop.engine.executor import RunEvent
from pop.models import AgendaProgress, OperationProgress, WireModel


def print_json(value: Any) -> None:
    if isinstance(value, WireModel):
        value = value.to_wire()
    elif isinstance(value, list):
        value = [item.to_wire() if isinstance(item, WireModel) else item for item in value]
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def _state_text(state: Any, message: str | None) -> str:
    state_name = getattr(state, "value", state) or "?"
    if state_name == "COMPLETE":
        return f"COMPLETE/{message}"
    if state_name == "WAITING":
        return "WAITING/pending" if not message or message == "pending" else f"WAITING/{message}"
    return str(state_name)


def _style(state: Any, message: str | None) -> str:
    name = getattr(state, "value", state)
    if name == "COMPLETE":
        return "green" if (message or "").lower() == "succeeded" else "red"
    return "yellow" if name == "EXECUTING" else "dim"


def _duration(start: int | None, end: int | None) -> str:
    if not start:
        return ""
    seconds = ((end or int(time.time() * 1000)) - start) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _op_note(op: OperationProgress) -> str:
    if op.diagnostic_events:
        return op.diagnostic_events[0].message or ""
    if getattr(op.processing_state, "value", None) == "EXECUTING":
        return op.processing_state_message or ""
    return ""


def progress_table(progress: AgendaProgress) -> Any:
    from rich.table import Table

    state, message = progress.processing_state, progress.processing_state_message
    title = (
        f"agenda {progress.agenda_id}  [{_style(state, message)}]"
        f"{_state_text(state, message)}[/]  {progress.percent_complete or 0:.0f}%"
    )
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("operation", "state", "%", "time", "note"):
        table.add_column(column, justify="right" if column in ("%", "time") else "left")
    for op in progress.operation_progress or []:
        table.add_row(
            op.operation or "",
            f"[{_style(op.processing_state, op.processing_state_message)}]"
            f"{_state_text(op.processing_state, op.processing_state_message)}[/]",
            f"{op.percent_complete or 0:.0f}",
            _duration(op.started_time, op.completed_time),
            _op_note(op)[:100],
        )
    return table


def print_progress(progress: AgendaProgress) -> None:
    from rich.console import Console

    console = Console()
    console.print(progress_table(progress))
    for event in progress.diagnostic_events or []:
        console.print(f"[red]diagnostic:[/] {event.message}", markup=True, highlight=False)
    lease = (progress.model_extra or {}).get("lease")
    if lease:
        console.print(f"lease: {lease.get('owner')} until {lease.get('expiresTime')}")


def _list_table(items: Sequence[AgendaProgress]) -> Any:
    from rich.table import Table

    table = Table(expand=False)
    for column in ("agenda", "state", "%", "ops", "customer", "link", "title", "time"):
        table.add_column(column, justify="right" if column in ("%", "ops") else "left")
    for progress in items:
        table.add_row(
            progress.agenda_id or "",
            f"[{_style(progress.processing_state, progress.processing_state_message)}]"
            f"{_state_text(progress.processing_state, progress.processing_state_message)}[/]",
            f"{progress.percent_complete or 0:.0f}",
            str(len(progress.operation_progress or [])),
            progress.customer_id or "",
            progress.link_id or "",
            progress.title or "",
            _duration(progress.started_time, progress.completed_time),
        )
    return table


def print_list(items: Sequence[AgendaProgress]) -> None:
    from rich.console import Console

    Console().print(_list_table(items))


class LiveRun:
    """The live view of ``run-local``: one bar for the agenda, one per running op (stderr).

    On a terminal it draws rich progress bars; otherwise it prints one line per transition.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.enabled = enabled
        self.interactive = enabled and self.console.is_terminal
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None
        self._done = 0
        self._total = 0

    def __enter__(self) -> LiveRun:
        if self.interactive:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                console=self.console,
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
        if event.kind == "agenda_started":
            self._total = event.total
            if self._progress is not None:
                self._overall = self._progress.add_task("agenda", total=100)
            return
        if event.kind == "op_started":
            self._total = max(self._total, event.total)
            if self._progress is not None:
                self._tasks[event.operation or ""] = self._progress.add_task(
                    f"  {event.operation}", total=100
                )
            else:
                self.console.print(f"started   {event.operation}", highlight=False)
        elif event.kind == "op_progress" and self._progress is not None:
            task = self._tasks.get(event.operation or "")
            if task is not None:
                self._progress.update(task, completed=event.percent)
        elif event.kind == "op_finished":
            self._done += 1
            word = "succeeded" if event.succeeded else "failed"
            if self._progress is not None:
                task = self._tasks.pop(event.operation or "", None)
                mark = "[green]✓[/]" if event.succeeded else "[red]✗[/]"
                if task is not None:
                    self._progress.update(
                        task,
                        completed=100 if event.succeeded else event.percent,
                        description=f"{mark} {event.operation}",
                    )
                else:
                    self._progress.console.print(f"{mark} {event.operation}: {event.message}")
            else:
                note = f": {event.message}" if event.message and not event.succeeded else ""
                self.console.print(f"{word:<9} {event.operation}{note}", highlight=False)
        elif event.kind == "agenda_finished" and self._progress is not None:
            self._progress.update(self._overall, completed=event.percent)
        if self._progress is not None and self._overall is not None and self._total:
            self._progress.update(self._overall, completed=self._done * 100 / self._total)


def watch(fetch: Any, *, interval: float = 0.5) -> AgendaProgress:
    """Redraw the progress table of an agenda until it is COMPLETE; returns the last progress."""
    from rich.console import Group
    from rich.live import Live
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    def view(progress: AgendaProgress) -> Any:
        parts: list[Any] = [progress_table(progress)]
        for op in progress.operation_progress or []:
            if getattr(op.processing_state, "value", None) == "EXECUTING":
                message = op.processing_state_message or ""
                parts.append(Text(f"{op.operation}  {op.percent_complete or 0:.0f}%  {message}"))
                parts.append(ProgressBar(total=100, completed=op.percent_complete or 0, width=40))
        return Group(*parts)

    progress: AgendaProgress = fetch()
    if not sys.stdout.isatty():
        return _watch_lines(fetch, progress, interval)
    with Live(view(progress), refresh_per_second=4, transient=False) as live:
        while getattr(progress.processing_state, "value", None) != "COMPLETE":
            time.sleep(interval)
            progress = fetch()
            live.update(view(progress))
    return progress


def _watch_lines(fetch: Any, progress: AgendaProgress, interval: float) -> AgendaProgress:
    """``--watch`` into a pipe or file: one line whenever a running op's percent or message
    moves (``HH:MM:SS op percent% message``), then the final table."""
    seen: dict[str, tuple[float, str]] = {}
    while True:
        for op in progress.operation_progress or []:
            if getattr(op.processing_state, "value", None) != "EXECUTING":
                continue
            now = (round(op.percent_complete or 0.0, 1), op.processing_state_message or "")
            if seen.get(op.operation or "") != now:
                seen[op.operation or ""] = now
                stamp = time.strftime("%H:%M:%S")
                print(f"{stamp} {op.operation} {now[0]:.1f}% {now[1]}".rstrip(), flush=True)
        if getattr(progress.processing_state, "value", None) == "COMPLETE":
            break
        time.sleep(interval)
        progress = fetch()
    print_progress(progress)
    return progress


def watch_link(fetch: Any, *, interval: float = 0.5) -> Any:
    """Redraw a link group (one row and bar per agenda) until the group is COMPLETE."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    def view(summary: Any) -> Any:
        percent = summary.processing_percent
        shown = "n/a (a member failed)" if percent is None else f"{percent:.0f}%"
        header = Text(f"{summary.processing_state.value}  {shown}")
        return Group(header, _list_table(summary.progress_list))

    summary = fetch()
    with Live(view(summary), refresh_per_second=4, transient=False) as live:
        while summary.processing_state.value != "COMPLETE":
            time.sleep(interval)
            summary = fetch()
            live.update(view(summary))
    return summary


def print_logs(logs: Sequence[Any]) -> None:
    out = sys.stdout
    for log in logs:
        out.write(f"==> {log.operation} (attempt {log.attempt}) <==\n")
        text = None
        if log.path:
            try:
                with open(log.path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            except OSError:
                text = None
        if text is None:
            text = "".join(line + "\n" for line in log.tail)
        out.write(text)
    out.flush()


def submission_json(submission: Any) -> dict[str, Any]:
    """What ``submit --json`` and ``template run --json`` print for a stored agenda."""
    agenda = submission.agenda
    return {
        "agendaId": agenda.id,
        "progressId": agenda.progress_id,
        "customerId": agenda.effective_customer_id,
        "linkId": agenda.link_id,
        "insightId": agenda.agenda_insight.insight_id if agenda.agenda_insight else None,
        "queued": submission.queued,
    }


def _added(epoch_ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000)) if epoch_ms else ""


def print_templates(templates: Sequence[Any]) -> None:
    """``pop template list``: one row per AgendaTemplate."""
    from rich.console import Console
    from rich.table import Table

    table = Table(expand=False)
    for column in ("template", "title", "customer", "ops", "static parameters", "added"):
        table.add_column(
            column,
            justify="right" if column == "ops" else "left",
            overflow="fold" if column == "template" else "ellipsis",
        )
    for template in templates:
        operations = template.agenda.operations if template.agenda else []
        table.add_row(
            template.id or "",
            template.title or "",
            template.customer_id or "",
            str(len(operations)),
            ", ".join(sorted(template.static_parameters)),
            _added(template.added_time),
        )
    Console(markup=False, highlight=False).print(table)


def print_template(template: Any) -> None:
    """``pop template show``: the template's facts, its static parameters and operations."""
    from rich.console import Console
    from rich.table import Table

    console = Console(markup=False, highlight=False)
    for label, value in (
        ("template", template.id),
        ("title", template.title),
        ("customer", template.customer_id),
        ("added", _added(template.added_time)),
    ):
        if value:
            console.print(f"{label}: {value}")
    if template.static_parameters:
        parameters = Table(title="static parameters", title_justify="left", expand=False)
        parameters.add_column("name")
        parameters.add_column("value")
        for name, value in sorted(template.static_parameters.items()):
            parameters.add_row(name, json.dumps(value)[:100])
        console.print(parameters)
    from pop.refs import references_in

    operations = Table(title="operations", title_justify="left", expand=False)
    for column in ("operation", "type", "references"):
        operations.add_column(column)
    for operation in template.agenda.operations if template.agenda else []:
        names = dict.fromkeys(ref.name for ref in references_in(operation.payload))
        operations.add_row(operation.name or "", operation.type or "", ", ".join(names))
    console.print(operations)
