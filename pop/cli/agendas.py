"""Agenda commands: submit, run-local, status, list, logs, cancel.

Layer: cli. Each command parses options, calls one ``pop.api`` function and renders the result.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pop.cli.options import (
    EXTERNAL_LAUNCH_HELP,
    LAUNCH_HELP,
    ContextOption,
    DockerHostOption,
    JsonFlag,
    KubeconfigOption,
    NamespaceOption,
    ServerOption,
    TokenFileOption,
    runtime_options,
)
from pop.config import uses_server


def _client(registry: Path | None = None) -> Any:
    from pop.api import Client

    return Client(registry_path=registry)


def _connect(server: str | None, token_file: Path | None, registry: Path | None = None) -> Any:
    """The local client, or the remote one for ``--server``/``POP_SERVER``."""
    from pop.api.remote import connect

    return connect(server=server, token_file=token_file, registry_path=registry)


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("run-local")(run_local)
    app.command("status")(status)
    app.command("list")(list_agendas)
    app.command("logs")(logs)
    app.command("cancel")(cancel)
    app.command("outputs")(outputs)


def submit(
    agenda_file: Annotated[str, typer.Argument(help="Agenda JSON file (- for stdin).")],
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="Group agendas.")] = None,
    priority: Annotated[int | None, typer.Option("--priority", help="Higher runs first.")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Validate an agenda, store it and queue it for `pop executor`."""
    submission = _connect(server, token_file, registry).submit(
        agenda_file, customer_id=customer, link_id=link_id, priority=priority
    )
    if json_output:
        from pop.cli.render import print_json, submission_json

        print_json(submission_json(submission.agenda.to_wire(), queued=submission.queued))
    else:
        typer.echo(submission.agenda.id)


def run_local(
    agenda_file: Annotated[str | None, typer.Argument(help="Agenda JSON file.")] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Run a stored agenda (continue semantics); the launch options given here "
            "replace its stored ones, the others keep theirs.",
        ),
    ] = None,
    launch: Annotated[str | None, typer.Option("--launch", help=LAUNCH_HELP)] = None,
    external_launch: Annotated[
        str | None, typer.Option("--external-launch", help=EXTERNAL_LAUNCH_HELP)
    ] = None,
    docker_host: DockerHostOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Ops at once (default 50).")
    ] = None,
    cpus: Annotated[
        float | None,
        typer.Option(
            "--cpus",
            help="CPU budget (default: cores); no effect on kubernetes pods (the cluster "
            "schedules their CPUs).",
        ),
    ] = None,
    keep: Annotated[
        bool | None,
        typer.Option(
            "--keep/--no-keep",
            help="Keep containers and pods after they end (no effect on local; default: no).",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    json_output: JsonFlag = False,
) -> None:
    """Store an agenda and run it now in this process; exit 0 succeeded, 1 failed."""
    from pop.cli.live import LiveRun
    from pop.cli.render import print_json, print_progress
    from pop.engine.executor import AgendaRunner
    from pop.errors import EXIT_INTERRUPTED, InputError, RuntimeUnavailableError

    if (agenda_file is None) == (resume is None):
        raise InputError("give an agenda file or --resume ID (not both)")
    # only the options given on this command line: on resume each replaces its stored value
    launch_options = {
        "launch": launch,
        "externalLaunch": external_launch,
        "concurrency": concurrency,
        "cpus": cpus,
        "keep": keep,
        "runtimeOptions": runtime_options(docker_host, kubeconfig, context, namespace),
    }
    runners: list[AgendaRunner] = []
    interrupted: list[int] = []

    def on_runner(runner: AgendaRunner) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _interrupt, runner, signum)
        runners.append(runner)

    def _interrupt(runner: AgendaRunner, signum: int) -> None:
        import contextlib

        from pop.errors import PopError

        interrupted.append(signum)
        agenda = getattr(runner, "agenda", None)  # set once its run has begun
        if len(interrupted) == 1 and agenda is not None:
            # a cancel request, as `pop cancel` makes: the agenda shows as cancelled and the
            # retrier leaves it (PopError: it ended meanwhile, nothing to cancel)
            with contextlib.suppress(PopError):
                client.cancel(agenda.id or "")
        runner.cancel("interrupted (Ctrl-C)" if signum == signal.SIGINT else "stopped (SIGTERM)")

    client = _client(registry)
    try:
        with LiveRun(enabled=not quiet and not json_output) as live:
            progress = client.run_local(
                agenda_file,
                resume_id=resume,
                launch_options=launch_options,
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
        print_progress(progress, outputs=client.outputs_of(progress))
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if progress.succeeded else 1)


AgendaId = Annotated[
    str, typer.Argument(help="Agenda id, its progress id, or a unique prefix of either.")
]


def status(
    agenda_id: Annotated[
        str | None,
        typer.Argument(help="Agenda id, its progress id, or a unique prefix of either."),
    ] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="All agendas of a link.")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Live view until done.")] = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Show an agenda's progress, the cause of a failure and where its outputs are (or every
    agenda of a link)."""
    from pop.errors import InputError

    if (
        link_id is None
        and not watch
        and agenda_id is not None
        and not uses_server(server, token_file)
    ):
        from pop.cli.reads import show_status

        show_status(agenda_id, json_output=json_output)
        return
    from pop.cli import render

    client = _connect(server, token_file)
    if link_id is not None:
        if watch and not json_output:
            from pop.cli.live import watch_link

            watch_link(lambda: client.progress_summary(link_id))
            return
        items = client.list(link_id=link_id)
        if json_output:
            render.print_json(items)
        else:
            for item in items:
                render.print_progress(item, outputs=client.outputs_of(item))
        return
    if agenda_id is None:
        raise InputError("give an agenda id or --link-id")
    if watch and not json_output:
        from pop.cli.live import watch as watch_agenda

        full_id = client.resolve_id(agenda_id)
        watch_agenda(
            lambda: client.status(full_id),
            queued=lambda: client.queued(full_id),
            outputs=client.outputs_of,
        )
        return
    progress = client.status(agenda_id)
    changes = render.changes_of(client, progress.agenda_id or agenda_id)
    if json_output:
        render.print_json({**progress.to_wire(), "changes": changes})
    else:
        render.print_progress(progress, outputs=client.outputs_of(progress), changes=changes)


def list_agendas(
    state: Annotated[str | None, typer.Option("--state", help="WAITING|EXECUTING|COMPLETE")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Customer id.")] = None,
    link_id: Annotated[str | None, typer.Option("--link-id", help="Link id.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N agendas.")] = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", "-w", help="Full ids, progress ids, customer, link and title; nothing cut."
        ),
    ] = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """List agendas, one line each: a short id you can paste, state, and the cause of a
    failure (or the running ops)."""
    if not uses_server(server, token_file):
        from pop.cli.reads import show_list

        show_list(
            state=state,
            customer=customer,
            link_id=link_id,
            limit=limit,
            wide=wide,
            json_output=json_output,
        )
        return
    from pop.cli import render

    client = _connect(server, token_file)
    items = client.list(state=state, customer_id=customer, link_id=link_id, limit=limit)
    if json_output:
        render.print_json(items)
        return
    ids = [item.agenda_id or "" for item in items]
    render.print_list(items, ids=ids if wide else client.short_ids(ids), wide=wide)


def logs(
    agenda_id: AgendaId,
    operation: Annotated[str | None, typer.Argument(help="Only this operation.")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Print what each attempt of an agenda's operations logged (resident handlers too)."""
    if not uses_server(server, token_file):
        from pop.cli.reads import show_logs

        show_logs(agenda_id, operation, json_output=json_output)
        return
    from pop.cli import render

    items = _connect(server, token_file).logs(agenda_id, operation)
    if json_output:
        render.print_json(
            [
                {"operation": i.operation, "attempt": i.attempt, "path": i.path, "tail": i.tail}
                for i in items
            ]
        )
    else:
        render.print_logs([_shown_log(item) for item in items])


def _shown_log(item: Any) -> Any:
    """A log as ``print_logs`` shows it: a server's carries the file's text read there (not a
    path to open here), given as its lines (what ``print_logs`` prints for a missing file)."""
    text = getattr(item, "text", None)
    if not hasattr(item, "text"):
        return item  # a local one: print_logs reads its file
    from pop.api import OperationLog

    lines = item.tail if text is None else text.split("\n")
    if text is not None and lines and lines[-1] == "":
        lines = lines[:-1]
    return OperationLog(operation=item.operation, attempt=item.attempt, path=None, tail=lines)


def outputs(
    agenda_id: AgendaId,
    operation: Annotated[str | None, typer.Argument(help="Only this operation.")] = None,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """List where an agenda's outputs are: each op's folder and the files its result names
    (renditions, playlists, thumbnails, sprites), one path per line."""
    from pop.cli import render

    items = _connect(server, token_file).outputs(agenda_id, operation)
    if json_output:
        render.print_json([item.to_json() for item in items])
    else:
        render.print_outputs(items)


def cancel(
    agenda_id: AgendaId,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Stop an agenda: running handlers are stopped, nothing new starts; it ends failed."""
    from pop.cli import render

    progress = _connect(server, token_file).cancel(agenda_id)
    if json_output:
        render.print_json(progress)
    else:
        sys.stdout.write(f"cancel requested for {progress.agenda_id}\n")
