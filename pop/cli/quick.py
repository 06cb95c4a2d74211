"""The fast front end: ``pop --help``, ``pop --version``, ``pop status``, ``pop list``,
``pop logs`` and ``pop submit`` parsed and run before typer, rich or pydantic is imported.

Layer: cli. :func:`run_quick` answers a command line it fully understands and returns its exit
code; for any other (another command, an option it does not know, ``-h`` after a command,
``--server``, a repeated or malformed option) it returns None before doing anything, and the
typer app parses the line as usual. Both run the same code (:mod:`pop.cli.reads`,
:mod:`pop.cli.listing`; ``submit``: :mod:`pop.cli.quick_submit`, which declines whatever needs
pydantic); tests check that they print the same for the same line. ``POP_QUICK=0``
turns this front end off.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

HELP_WORDS = ("--help", "-h")


class _Declined(Exception):
    """The line is not one this front end answers: typer parses it."""


class _Line:
    """One command line's options and arguments, parsed as click parses the options given."""

    def __init__(
        self, args: list[str], *, values: dict[str, str], flags: dict[str, str], most: int
    ) -> None:
        self.options: dict[str, str] = {}
        self.arguments: list[str] = []
        words = list(args)
        while words:
            word = words.pop(0)
            if word == "--" or word in HELP_WORDS:
                raise _Declined
            name, given = word, None
            if word.startswith("--") and "=" in word:
                name, given = word.split("=", 1)
            if name in values:
                key = values[name]
                if given is None:
                    if not words or words[0].startswith("-"):
                        raise _Declined
                    given = words.pop(0)
                self._set(key, given)
            elif name in flags and given is None:
                self._set(flags[name], "")
            elif word.startswith("-") and word != "-":
                raise _Declined  # an option this front end does not know (typer says why)
            else:
                self.arguments.append(word)
        if len(self.arguments) > most:
            raise _Declined

    def _set(self, key: str, value: str) -> None:
        if key in self.options:
            raise _Declined  # given twice: typer decides
        self.options[key] = value

    def value(self, key: str) -> str | None:
        return self.options.get(key)

    def flag(self, key: str) -> bool:
        return key in self.options

    def argument(self, index: int) -> str | None:
        return self.arguments[index] if index < len(self.arguments) else None


def _local(line: _Line) -> None:
    """Decline a line meant for a server (POP_SERVER): the remote client has its own path."""
    from pop.config import uses_server

    if uses_server():
        raise _Declined


def _status(args: list[str]) -> int:
    line = _Line(args, values={}, flags={"--json": "json"}, most=1)
    agenda_id = line.argument(0)
    if agenda_id is None:
        raise _Declined
    _local(line)
    from pop.cli.reads import show_status

    show_status(agenda_id, json_output=line.flag("json"))
    return 0


def _list(args: list[str]) -> int:
    line = _Line(
        args,
        values={
            "--state": "state",
            "--customer": "customer",
            "--link-id": "link",
            "--limit": "limit",
        },
        flags={"--wide": "wide", "-w": "wide", "--json": "json"},
        most=0,
    )
    limit_text = line.value("limit")
    try:
        limit = None if limit_text is None else int(limit_text)
    except ValueError:
        raise _Declined from None
    _local(line)
    from pop.cli.reads import show_list

    show_list(
        state=line.value("state"),
        customer=line.value("customer"),
        link_id=line.value("link"),
        limit=limit,
        wide=line.flag("wide"),
        json_output=line.flag("json"),
    )
    return 0


def _logs(args: list[str]) -> int:
    line = _Line(args, values={}, flags={"--json": "json"}, most=2)
    agenda_id = line.argument(0)
    if agenda_id is None:
        raise _Declined
    _local(line)
    from pop.cli.reads import show_logs

    show_logs(agenda_id, line.argument(1), json_output=line.flag("json"))
    return 0


def _submit(args: list[str]) -> int:
    line = _Line(
        args,
        values={
            "--customer": "customer",
            "--link-id": "link",
            "--priority": "priority",
            "--registry": "registry",
        },
        flags={"--json": "json"},
        most=1,
    )
    source = line.argument(0)
    priority_text = line.value("priority")
    try:
        priority = None if priority_text is None else int(priority_text)
    except ValueError:
        raise _Declined from None
    if source is None:
        raise _Declined
    _local(line)
    from pop.cli.quick_submit import submit

    stored = submit(
        source,
        customer=line.value("customer"),
        link_id=line.value("link"),
        priority=priority,
        registry=line.value("registry"),
        json_output=line.flag("json"),
    )
    if not stored:
        raise _Declined
    return 0


def _help(args: list[str]) -> int:
    from pop.cli.listing import LISTING

    sys.stdout.write(LISTING)
    return 0


def _version(args: list[str]) -> int:
    from pop import __version__

    sys.stdout.write(f"pop {__version__}\n")
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "status": _status,
    "list": _list,
    "logs": _logs,
    "submit": _submit,
}


def run_quick(args: list[str]) -> int | None:
    """The exit code of a command line answered here, or None (nothing done) for typer's."""
    if os.environ.get("POP_QUICK") == "0":
        return None
    if not args or (len(args) == 1 and args[0] in HELP_WORDS):
        from pop.cli.text import columns

        return _help(args) if columns() >= 80 else None  # click wraps it narrower
    if args == ["--version"]:
        return _version(args)
    command = COMMANDS.get(args[0])
    if command is None:
        return None
    try:
        return command(args[1:])
    except _Declined:
        return None
