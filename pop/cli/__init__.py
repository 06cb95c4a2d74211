"""The ``pop`` command: a thin typer app over :mod:`pop.api`.

Layer: cli (top). ``main()`` catches PopError once, prints ``error: <message>`` (plus a hint) on
stderr and exits with the error's code (DESIGN §5); ``--debug`` (or ``POP_DEBUG=1``) prints the
traceback first and keeps that exit code.
The lines :mod:`pop.cli.quick` knows (``pop --help``, ``status``, ``list``, ``logs``) run
without typer, rich or pydantic; the others go to the typer app (:mod:`pop.cli.app`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # no typing at run time: every command starts here
if TYPE_CHECKING:
    from collections.abc import Sequence


def _print_error(message: str, hint: str | None = None) -> None:
    text = " ".join(message.split("\n")) if message else "unknown error"
    sys.stderr.write(f"error: {text}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


def _usage_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(usage errors, exit exceptions) of typer's vendored copy of click, and of click itself when
    something loaded it (importing click only to catch its errors would cost 5-10 ms)."""
    try:
        from typer._click import exceptions as vendored  # typer >= 0.2x vendors click
    except ImportError:  # an older typer: click's own
        import click

        return (click.ClickException,), (click.exceptions.Exit,)
    usage: list[type[BaseException]] = [vendored.ClickException]
    exits: list[type[BaseException]] = [vendored.Exit]
    click_module = sys.modules.get("click")
    if click_module is not None:
        usage.append(click_module.ClickException)
        exits.append(click_module.exceptions.Exit)
    return tuple(usage), tuple(exits)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pop`` console script (and ``python -m pop``).

    Run as the command (``argv`` None), pop leaves with ``os._exit`` once its output is flushed:
    tearing the interpreter down (pydantic, PyAV and sqlite-utils modules) costs over 100 ms and
    does nothing a finished command needs, as the store commits every write when it is made and
    no threads or child processes outlive a command. Called with ``argv`` (tests, scripts), it
    raises SystemExit as usual."""
    code = _run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:
        _fast_exit(code)
    sys.exit(code)


def _fast_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
            if code == 0 and stream is sys.stdout:
                code = 1
    os._exit(code)


def _run(args: list[str]) -> int:
    """Run the command line; the exit code (errors printed on stderr). The fast front end
    (:mod:`pop.cli.quick`) answers the lines it knows; the typer app answers the rest."""
    from pop.errors import EXIT_INTERRUPTED, PopError

    debug = "--debug" in args or os.environ.get("POP_DEBUG") == "1"
    if "--debug" in args:
        args.remove("--debug")
    try:
        from pop.cli.quick import run_quick

        code = run_quick(args)
        return _run_typer(args) if code is None else code
    except PopError as exc:
        if debug:  # the traceback, then the same error line and exit code as without --debug
            import traceback

            traceback.print_exc()
        _print_error(exc.message, exc.hint)
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return EXIT_INTERRUPTED


def _run_typer(args: list[str]) -> int:
    """The typer app's answer to the line (PopError and KeyboardInterrupt go to the caller)."""
    from pop.cli.app import build_app
    from pop.errors import EXIT_BAD_INPUT

    app = build_app(args[0] if args else "--help")  # no words: pop prints its help
    usage_errors, exits = _usage_errors()
    try:
        code = app(args=args, prog_name="pop", standalone_mode=False)
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.stdout.write(exc.format_message() + "\n")  # type: ignore[attr-defined]
            return 0
        _print_error(exc.format_message(), "run `pop --help` (or `pop COMMAND --help`)")  # type: ignore[attr-defined]
        return EXIT_BAD_INPUT
    # click returns a typer.Exit code instead of raising it when standalone_mode is off
    return code if isinstance(code, int) else 0
