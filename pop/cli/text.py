"""Plain-text building blocks of the human views: aligned columns, state words, colours.

Layer: cli. No rich here: tables of agendas and ops are plain aligned columns (as ``kubectl get``
prints them), so they read the same in a terminal and in a pipe, start fast and never pass any
text through markup or emoji parsing. Colour (ANSI) only on a terminal and never with
``NO_COLOR``; a column marked ``flex`` is cut with an ellipsis to fit the terminal's width, never
in a pipe.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # no typing or models at run time: `pop status` and `pop list` start fast
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

    from pop.models.views import AgendaProgressLike, OperationProgressLike

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1", "cyan": "36"}


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour_enabled(stream: TextIO) -> bool:
    return is_terminal(stream) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def terminal_width(stream: TextIO) -> int | None:
    """The terminal's width in columns, or None for a pipe or file (nothing is cut)."""
    if not is_terminal(stream):
        return None
    return columns()


def columns() -> int:
    """The terminal's columns as ``shutil.get_terminal_size((80, 24))`` says (``COLUMNS``
    first), without importing shutil (and the compression modules it loads)."""
    try:
        given = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        given = 0
    if given > 0:
        return given
    try:
        measured = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        measured = 0
    return measured or 80


def paint(text: str, colour: str | None, *, enabled: bool) -> str:
    if not enabled or not colour or not text:
        return text
    return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"


def one_line(text: str | None) -> str:
    """``text`` with every run of white space (newlines included) as one space."""
    return " ".join((text or "").split())


def cut(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def state_name(state: Any) -> str:
    return str(getattr(state, "value", state) or "")


def state_word(state: Any, message: str | None) -> str:
    """One word for a state: waiting, running, succeeded or failed."""
    name = state_name(state)
    if name == "COMPLETE":
        return (message or "complete").lower()
    return {"WAITING": "waiting", "EXECUTING": "running"}.get(name, name.lower() or "?")


def agenda_word(progress: AgendaProgressLike) -> str:
    """An agenda's state word; ``cancelled`` for one that failed after ``pop cancel``."""
    word = state_word(progress.processing_state, progress.processing_state_message)
    if word == "failed" and (progress.model_extra or {}).get("cancelRequested"):
        return "cancelled"
    return word


def pop_state(state: Any, message: str | None) -> str:
    """POP's words: ``COMPLETE/failed``, ``EXECUTING``, ``WAITING/pending``."""
    name = state_name(state) or "?"
    if name in ("COMPLETE", "WAITING"):
        return f"{name}/{message or ('pending' if name == 'WAITING' else '')}"
    return name


def word_colour(word: str) -> str | None:
    return {
        "succeeded": "green",
        "failed": "red",
        "cancelled": "red",
        "running": "yellow",
        "waiting": "dim",
    }.get(word)


def duration(start: int | None, end: int | None) -> str:
    if not start:
        return ""
    seconds = max(0.0, ((end or int(time.time() * 1000)) - start) / 1000)
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.1f}h"


def percent(value: float | None) -> str:
    return f"{value or 0:.0f}%"


def op_word(operation: OperationProgressLike) -> str:
    return state_word(operation.processing_state, operation.processing_state_message)


class Columns:
    """Rows of cells printed as aligned columns; the last column may be cut to the width."""

    def __init__(self, headers: Sequence[str], *, right: Sequence[int] = ()) -> None:
        self.headers = list(headers)
        self.right = set(right)
        self.rows: list[tuple[list[str], list[str | None]]] = []

    def add(self, cells: Sequence[str], colours: Sequence[str | None] = ()) -> None:
        padded = list(colours) + [None] * (len(cells) - len(colours))
        self.rows.append(([one_line(cell) for cell in cells], padded))

    def lines(self, *, width: int | None, colour: bool) -> list[str]:
        """The header and rows as lines; with ``width`` the last column is cut to fit."""
        header: tuple[list[str], list[str | None]] = (self.headers, [None] * len(self.headers))
        every = [header, *self.rows]
        widths = [max(len(cells[i]) for cells, _ in every) for i in range(len(self.headers) - 1)]
        lines = []
        for index, (cells, colours) in enumerate(every):
            parts = []
            for column, cell in enumerate(cells[:-1]):
                padded = (
                    cell.rjust(widths[column])
                    if column in self.right
                    else cell.ljust(widths[column])
                )
                parts.append(paint(padded, colours[column], enabled=colour and index > 0))
            used = sum(widths) + 2 * len(widths)
            last = cells[-1]
            if width is not None:
                last = cut(last, width - used)
            parts.append(paint(last, colours[-1], enabled=colour and index > 0))
            line = "  ".join(parts).rstrip()
            lines.append(paint(line, "bold", enabled=colour) if index == 0 else line)
        return lines

    def write(self, stream: TextIO | None = None, *, cut: bool = True) -> None:
        """The lines on ``stream`` (stdout), cut to a terminal's width unless ``cut`` is off."""
        stream = stream or sys.stdout
        width = terminal_width(stream) if cut else None
        text = self.lines(width=width, colour=colour_enabled(stream))
        stream.write("".join(line + "\n" for line in text))
