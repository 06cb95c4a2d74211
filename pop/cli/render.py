"""Every piece of CLI output: JSON on stdout, plain aligned views, rich only where it draws.

Layer: cli. Agendas, ops, lists, logs and outputs are plain text (:mod:`pop.cli.text`), so they
pipe well and no handler, program or user text ever passes through markup or emoji parsing;
live views are in :mod:`pop.cli.live`. A failed op or agenda always shows its real cause
(:mod:`pop.models.causes`) with the program's last lines verbatim.
"""

from __future__ import annotations

import json
import os
import sys
import time

from pop.cli import text
from pop.models.causes import OPERATION_FAILED, FailureCause, agenda_cause, operation_cause

TYPE_CHECKING = False  # no typing or models at run time: `pop status` and `pop list` start fast
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, TextIO

    from pop.engine.outputs import OperationOutputs
    from pop.models.views import AgendaProgressLike, OperationProgressLike


def _plain(value: Any) -> Any:
    """A model or view as POP's JSON (``to_wire``), an object with ``to_json`` as its JSON."""
    if hasattr(value, "to_wire"):
        return value.to_wire()
    return value.to_json() if hasattr(value, "to_json") else value


def print_json(value: Any) -> None:
    """``value`` (a model, a view, a list of them, or JSON) as indented JSON on stdout."""
    value = [_plain(item) for item in value] if isinstance(value, list) else _plain(value)
    sys.stdout.write(json.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def op_note(operation: OperationProgressLike) -> str:
    """What the NOTE column says of an op: its failure's cause, or its running message."""
    cause = operation_cause(operation)
    if cause is not None:
        return cause.one_line()
    if text.state_name(operation.processing_state) == "EXECUTING":
        return operation.processing_state_message or ""
    return ""


def cause_lines(cause: FailureCause) -> list[str]:
    """A cause in full: ``failed: op: message`` and the program's last lines, verbatim."""
    lines = [f"failed: {cause.operation + ': ' if cause.operation else ''}{cause.message}"]
    lines.extend(f"  | {line}" for line in cause.lines)
    return lines


def progress_lines(
    progress: AgendaProgressLike,
    *,
    width: int | None = None,
    colour: bool = False,
    outputs: Sequence[OperationOutputs] | None = None,
) -> list[str]:
    """The status view of an agenda: a header, one row per op, then the cause and outputs."""
    word = text.agenda_word(progress)
    state = text.pop_state(progress.processing_state, progress.processing_state_message)
    if word == "cancelled":
        state += " (cancelled)"
    header = (
        f"agenda {progress.agenda_id}  {text.paint(state, text.word_colour(word), enabled=colour)}"
        f"  {text.percent(progress.percent_complete)}"
    )
    lines = [header]
    table = text.Columns(["OPERATION", "STATE", "%", "TIME", "NOTE"], right=(2, 3))
    for operation in progress.operation_progress or []:
        op_word = text.op_word(operation)
        table.add(
            [
                operation.operation or "",
                op_word,
                text.percent(operation.percent_complete),
                text.duration(operation.started_time, operation.completed_time),
                op_note(operation),
            ],
            [None, text.word_colour(op_word)],
        )
    lines.extend(table.lines(width=width, colour=colour))
    cause = agenda_cause(progress)
    if cause is not None:
        lines.extend(cause_lines(cause))
    for event in progress.diagnostic_events or []:
        message = event.message or ""
        if not OPERATION_FAILED.match(message) and (cause is None or cause.message != message):
            lines.append(f"diagnostic: {message}")
    lease = (progress.model_extra or {}).get("lease")
    if lease and text.state_name(progress.processing_state) != "COMPLETE":
        until = lease.get("expiresTime")
        when = time.strftime("%H:%M:%S", time.localtime(until / 1000)) if until else "?"
        lines.append(f"run by {lease.get('owner')} (lease until {when})")
    if outputs:
        lines.extend(outputs_summary(outputs))
    return lines


def outputs_summary(outputs: Sequence[OperationOutputs]) -> list[str]:
    """``outputs (in <folder>/):`` and one line per op and file, relative to that folder: the
    files each op's result names, or the op's folder when it names none."""
    shown = [item for item in outputs if item.folder or item.files]
    if not shown:
        return []
    rows: list[tuple[str, str]] = []
    for item in shown:
        paths = [output.path for output in item.files] or [f"{item.folder}/"]
        rows.extend((item.operation, path) for path in paths)
    root = os.path.commonpath([path.rstrip("/") for _, path in rows])
    if any(path.rstrip("/") == root and not path.endswith("/") for _, path in rows):
        root = os.path.dirname(root)  # one file alone: its folder
    lines = [f"outputs (in {root}/):"]
    name_width = max(len(name) for name, _ in rows)
    previous = None
    for name, path in rows:
        label = name if name != previous else ""
        previous = name
        shown_path = os.path.relpath(path, root) + ("/" if path.endswith("/") else "")
        lines.append(f"  {label:<{name_width}}  {shown_path}")
    return lines


CHANGE_WORDS = {
    "submit": "submitted",
    "run-template": "submitted from a template",
    "run-local": "run here",
    "cancel": "cancelled",
    "rerun": "rerun",
    "agenda.put": "changed",
    "agenda.delete": "deleted",
    "batch": "submitted by a batch",
    "batch.resume": "resumed by a batch",
    "retry": "retried",
}


def change_lines(changes: Sequence[dict[str, Any]]) -> list[str]:
    """One line per change record (``Client.changes``, wire form), oldest first:
    ``submitted by token:alice/tok_1a2b3c4d at 2026-12-01T17:47:25Z``."""
    from pop.models.states import iso_time

    lines = []
    for change in changes:
        action = str(change.get("action") or "")
        when = change.get("time")
        at = f" at {iso_time(int(when))}" if isinstance(when, int) else ""
        lines.append(f"{CHANGE_WORDS.get(action, action)} by {change.get('actor')}{at}")
    return lines


def changes_of(client: Any, agenda_id: str) -> list[dict[str, Any]]:
    """The agenda's change records as JSON (``Client.changes``); none from a client without
    them (a remote client of an older server)."""
    read = getattr(client, "changes", None)
    return [record.to_wire() for record in read(agenda_id)] if read is not None else []


def print_progress(
    progress: AgendaProgressLike,
    *,
    outputs: Sequence[OperationOutputs] | None = None,
    changes: Sequence[dict[str, Any]] | None = None,
    stream: TextIO | None = None,
) -> None:
    """The status view (:func:`progress_lines`), then who changed the agenda (``changes``)."""
    stream = stream or sys.stdout
    lines = progress_lines(
        progress,
        width=text.terminal_width(stream),
        colour=text.colour_enabled(stream),
        outputs=outputs,
    )
    lines.extend(change_lines(changes or []))
    stream.write("".join(line + "\n" for line in lines))
    stream.flush()


def agenda_message(progress: AgendaProgressLike) -> str:
    """One line on an agenda: the cause of its failure, its running ops, or its title."""
    cause = agenda_cause(progress)
    if cause is not None:
        return cause.one_line(with_operation=True)
    if text.state_name(progress.processing_state) == "EXECUTING":
        running = [
            f"{op.operation} {text.percent(op.percent_complete)}"
            for op in progress.operation_progress or []
            if text.state_name(op.processing_state) == "EXECUTING"
        ]
        if running:
            return ", ".join(running)
    return progress.title or ""


def agenda_line(progress: AgendaProgressLike) -> str:
    """``succeeded <id>`` or ``failed    <id>: <op>: <cause>`` (``pop executor``'s lines)."""
    word = text.agenda_word(progress)
    cause = agenda_cause(progress)
    note = f": {cause.one_line(with_operation=True)}" if cause is not None else ""
    return f"{word:<9} {progress.agenda_id}{note}"


def list_columns(
    items: Sequence[AgendaProgressLike], *, ids: Sequence[str] | None = None, wide: bool = False
) -> text.Columns:
    """``pop list``: one line per agenda (ID STATE % TIME MESSAGE); ``wide`` adds every fact."""
    shown_ids = list(ids) if ids is not None else [item.agenda_id or "" for item in items]
    headers = ["ID", "STATE", "%", "OPS", "TIME", "MESSAGE"]
    if wide:
        headers = [
            "ID",
            "PROGRESS ID",
            "STATE",
            "%",
            "OPS",
            "CUSTOMER",
            "LINK",
            "TIME",
            "TITLE",
            "MESSAGE",
        ]
    table = text.Columns(headers, right=(3, 4) if wide else (2, 3))
    for item, shown in zip(items, shown_ids, strict=True):
        word = text.agenda_word(item)
        operations = item.operation_progress or []
        done = sum(1 for op in operations if text.state_name(op.processing_state) == "COMPLETE")
        ops = f"{done}/{len(operations)}"
        elapsed = text.duration(item.started_time, item.completed_time)
        message = agenda_message(item)
        if wide:
            cells = [
                shown,
                item.id or "",
                word,
                text.percent(item.percent_complete),
                ops,
                item.customer_id or "",
                item.link_id or "",
                elapsed,
                item.title or "",
                message,
            ]
            colours: list[str | None] = [None, None, text.word_colour(word)]
        else:
            cells = [shown, word, text.percent(item.percent_complete), ops, elapsed, message]
            colours = [None, text.word_colour(word)]
        table.add(cells, colours)
    return table


def print_list(
    items: Sequence[AgendaProgressLike], *, ids: Sequence[str] | None = None, wide: bool = False
) -> None:
    if not items:
        sys.stderr.write("no agendas\n")
        return
    list_columns(items, ids=ids, wide=wide).write(cut=not wide)


def print_logs(logs: Sequence[Any]) -> None:
    """Each attempt's log, verbatim, under a ``==> op (attempt n) <==`` header."""
    out = sys.stdout
    for log in logs:
        out.write(f"==> {log.operation} (attempt {log.attempt}) <==\n")
        content = None
        if log.path:
            try:
                with open(log.path, encoding="utf-8", errors="replace") as handle:
                    content = handle.read()
            except OSError:
                content = None
        if content is None:
            content = "".join(line + "\n" for line in log.tail)
        if not content:
            content = "(the attempt logged nothing)\n"
        elif not content.endswith("\n"):
            content += "\n"
        out.write(content)
    out.flush()


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}B"


def print_outputs(outputs: Sequence[OperationOutputs]) -> None:
    """``pop outputs``: one line per file (OPERATION SIZE PATH); an op that names no file shows
    its folder; an op with no outputs at all is left out."""
    table = text.Columns(["OPERATION", "SIZE", "PATH"], right=(1,))
    for item in outputs:
        for output in item.files:
            table.add([item.operation, _size(output.size), output.path])
        if not item.files and item.folder:
            table.add([item.operation, "", item.folder + "/"])
    if not table.rows:
        sys.stderr.write("no outputs (no op wrote files)\n")
        return
    table.write(cut=False)


def submission_json(agenda: Mapping[str, Any], *, queued: bool) -> dict[str, Any]:
    """What ``submit --json`` and ``template run --json`` print for a stored agenda (its JSON,
    ``Agenda.to_wire()``)."""
    from pop.models.wire import DEFAULT_CUSTOMER_ID

    return {
        "agendaId": agenda.get("id"),
        "progressId": agenda.get("progressId"),
        "customerId": agenda.get("customerId") or DEFAULT_CUSTOMER_ID,
        "linkId": agenda.get("linkId"),
        "insightId": (agenda.get("agendaInsight") or {}).get("insightId"),
        "queued": queued,
    }


def _added(epoch_ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000)) if epoch_ms else ""


def print_templates(templates: Sequence[Any]) -> None:
    """``pop template list``: one line per AgendaTemplate (ID TITLE CUSTOMER OPS ADDED
    STATIC PARAMETERS)."""
    table = text.Columns(["ID", "TITLE", "CUSTOMER", "OPS", "ADDED", "STATIC PARAMETERS"],
                         right=(3,))  # fmt: skip
    for template in templates:
        operations = template.agenda.operations if template.agenda else []
        table.add(
            [
                template.id or "",
                template.title or "",
                template.customer_id or "",
                str(len(operations)),
                _added(template.added_time),
                ", ".join(sorted(template.static_parameters)),
            ]
        )
    table.write()


def print_template(template: Any) -> None:
    """``pop template show``: the template's facts, its static parameters and operations."""
    from pop.refs import references_in

    out = sys.stdout
    for label, value in (
        ("template", template.id),
        ("title", template.title),
        ("customer", template.customer_id),
        ("added", _added(template.added_time)),
    ):
        if value:
            out.write(f"{label}: {value}\n")
    if template.static_parameters:
        out.write("\nstatic parameters:\n")
        parameters = text.Columns(["NAME", "VALUE"])
        for name, value in sorted(template.static_parameters.items()):
            parameters.add([name, json.dumps(value)])
        parameters.write()
    out.write("\noperations:\n")
    operations = text.Columns(["OPERATION", "TYPE", "REFERENCES"])
    for operation in template.agenda.operations if template.agenda else []:
        names = dict.fromkeys(ref.name for ref in references_in(operation.payload))
        operations.add([operation.name or "", operation.type or "", ", ".join(names)])
    operations.write()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Plain aligned columns on stdout: a header line, then one line per row (no header line
    when ``headers`` is empty); program text as it is."""
    lines = [headers, *rows] if headers else list(rows)
    if not lines:
        return
    widths = [max(len(line[index]) for line in lines) for index in range(len(lines[0]))]
    for line in lines:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        sys.stdout.write(cells.rstrip() + "\n")
