"""The ``pop`` command: a thin typer app over :mod:`pop.api`.

Layer: cli (top). ``main()`` catches PopError once, prints ``error: <message>`` (plus a hint) on
stderr and exits with the error's code (DESIGN §5); tracebacks only with ``--debug``.
typer and rich are imported lazily so ``pop --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def _print_error(message: str, hint: str | None = None) -> None:
    text = " ".join(message.split("\n")) if message else "unknown error"
    sys.stderr.write(f"error: {text}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def _usage_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(usage errors, exit exceptions) of click and of typer's vendored copy of click."""
    import click

    usage: list[type[BaseException]] = [click.ClickException]
    exits: list[type[BaseException]] = [click.exceptions.Exit]
    try:
        from typer._click import exceptions as vendored  # typer >= 0.2x vendors click
    except ImportError:
        pass
    else:
        usage.append(vendored.ClickException)
        exits.append(vendored.Exit)
    return tuple(usage), tuple(exits)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pop`` console script."""
    from pop.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, PopError

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("POP_DEBUG") == "1"
    if "--debug" in args:
        args.remove("--debug")
    from pop.cli.app import build_app

    app = build_app()
    usage_errors, exits = _usage_errors()
    try:
        code = app(args=args, prog_name="pop", standalone_mode=False)
    except PopError as exc:
        if debug:
            raise
        _print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except exits as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.format_message() + "\n")  # type: ignore[attr-defined]
            sys.exit(0)
        _print_error(exc.format_message(), "run `pop --help` (or `pop COMMAND --help`)")  # type: ignore[attr-defined]
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        _print_error("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    # click returns a typer.Exit code instead of raising it when standalone_mode is off
    sys.exit(code if isinstance(code, int) else 0)
