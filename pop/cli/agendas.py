"""Agenda commands: submit, run-local, status, list, logs, cancel.

Layer: cli. Each command parses options, calls one ``pop.api`` function and renders the result.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def _client(registry: Path | None = None) -> Any:
    from pop.api import Client

    return Client(registry_path=registry)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("run-local")(run_local)
    app.command("status")(status)
    app.command("list")(list_agendas)
    app.command("logs")(logs)
    app.command("cancel")(cancel)


def submit(
    agenda_file: Annotated[str, typer.Argument(help="Agenda JSON file (- for stdin).")],
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="Group agendas.")] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="Higher runs first.")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Validate an agenda, store it and queue it for `pop executor`."""
    submission = _client(registry).submit(
        agenda_file, customer_id=customer, link_id=link_id, priority=priority
    )
    if json_output:
        from pop.cli.render import print_json, submission_json

        print_json(submission_json(submission))
    else:
        typer.echo(submission.agenda.id)


def run_local(
    agenda_file: Annotated[str | None, typer.Argument(help="Agenda JSON file.")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="Run a stored agenda.")] = None,
    launch: Annotated[str, typer.Option("--launch", help="local|docker|kubernetes")] = "local",
    external_launch: Annotated[
        str | None, typer.Option("--external-launch", help="Runtime for external binaries.")
    ] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Ops at once.")] = 50,
    cpus: Annotated[
        float | None, typer.Option("--cpus", help="CPU budget (default: cores).")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep containers/pods.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Store an agenda and run it now in this process; exit 0 succeeded, 1 failed."""
    from pop.cli.render import LiveRun, print_json, print_progress
    from pop.engine.executor import AgendaRunner, RunOptions
    from pop.errors import EXIT_INTERRUPTED, InputError, RuntimeUnavailableError

    if (agenda_file is None) == (resume is None):
        raise InputError("give an agenda file or --resume ID (not both)")
    options = RunOptions(
        launch=launch,
        external_launch=external_launch,
        concurrency=concurrency,
        cpus=cpus,
        keep=keep,
    )
    runners: list[AgendaRunner] = []
    interrupted: list[int] = []

    def on_runner(runner: AgendaRunner) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _interrupt, runner, signum)
        runners.append(runner)

    def _interrupt(runner: AgendaRunner, signum: int) -> None:
        interrupted.append(signum)
        runner.cancel("interrupted (Ctrl-C)" if signum == signal.SIGINT else "stopped (SIGTERM)")

    client = _client(registry)
    try:
        with LiveRun(enabled=not quiet and not json_output) as live:
            progress = client.run_local(
                agenda_file,
                resume_id=resume,
                options=None if resume and launch == "local" and concurrency == 50 else options,
                observer=live,
                on_runner=on_runner,
            )
    except RuntimeUnavailableError as exc:
        if json_output and exc.agenda_id:  # DESIGN §5: --json prints the AgendaProgress anyway
            print_json(client.status(exc.agenda_id))
        raise
    if json_output:
        print_json(progress)
    elif not quiet:
        print_progress(progress)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if progress.succeeded else 1)


def status(
    agenda_id: Annotated[str | None, typer.Argument(help="Agenda id (or unique prefix).")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="All agendas of a link.")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Live view until done.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Show an agenda's progress (or every agenda of a link)."""
    from pop.cli import render
    from pop.errors import InputError

    client = _client()
    if link_id is not None:
        if watch and not json_output:
            render.watch_link(lambda: client.progress_summary(link_id))
            return
        items = client.list(link_id=link_id)
        if json_output:
            render.print_json(items)
        else:
            for item in items:
                render.print_progress(item)
        return
    if agenda_id is None:
        raise InputError("give an agenda id or --link-id")
    if watch and not json_output:
        full_id = client.resolve_id(agenda_id)
        render.watch(lambda: client.status(full_id))
        return
    progress = client.status(agenda_id)
    if json_output:
        render.print_json(progress)
    else:
        render.print_progress(progress)


def list_agendas(
    state: Annotated[str | None, typer.Option("--state", help="WAITING|EXECUTING|COMPLETE")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="Link id.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N agendas.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """List agendas with their progress."""
    from pop.cli import render

    items = _client().list(state=state, customer_id=customer, link_id=link_id, limit=limit)
    if json_output:
        render.print_json(items)
    else:
        render.print_list(items)


def logs(
    agenda_id: Annotated[str, typer.Argument(help="Agenda id (or unique prefix).")],
    operation: Annotated[str | None, typer.Argument(help="Only this operation.")] = None,
    json_output: JsonFlag = False,
) -> None:
    """Print the output of an agenda's operations (every attempt)."""
    from pop.cli import render

    items = _client().logs(agenda_id, operation)
    if json_output:
        render.print_json(
            [
                {"operation": i.operation, "attempt": i.attempt, "path": i.path, "tail": i.tail}
                for i in items
            ]
        )
    else:
        render.print_logs(items)


def cancel(
    agenda_id: Annotated[str, typer.Argument(help="Agenda id (or unique prefix).")],
    json_output: JsonFlag = False,
) -> None:
    """Stop an agenda: running handlers are stopped, nothing new starts; it ends failed."""
    from pop.cli import render

    progress = _client().cancel(agenda_id)
    if json_output:
        render.print_json(progress)
    else:
        sys.stdout.write(f"cancel requested for {progress.agenda_id}\n")
