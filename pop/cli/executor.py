"""``pop executor``: the puller and executor in one process.

Layer: cli.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("executor")(executor)


def executor(
    insight: Annotated[
        list[str] | None, typer.Option("--insight", help="Only these insights (repeatable).")
    ] = None,
    launch: Annotated[str, typer.Option("--launch", help="local|docker|kubernetes")] = "local",
    external_launch: Annotated[
        str | None, typer.Option("--external-launch", help="Runtime for external binaries.")
    ] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    max_running: Annotated[
        int, typer.Option("--max-running", min=1, help="Agendas at once in this process.")
    ] = 4,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Ops at once within an agenda.")
    ] = 50,
    cpus: Annotated[
        float | None,
        typer.Option("--cpus", help="CPU budget shared by every agenda this executor runs."),
    ] = None,
    max_agendas: Annotated[
        int | None, typer.Option("--max-agendas", min=1, help="Stop after N agendas.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Exit 0 when out of work.")] = False,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between queue polls.")] = 1.0,
    keep: Annotated[bool, typer.Option("--keep", help="Keep containers/pods.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Claim queued agendas atomically and run them; SIGTERM stops claiming and finishes the
    running agendas (a second SIGTERM stops them too)."""
    from pop.api import Client
    from pop.engine.executor import RunOptions
    from pop.services.daemon import DaemonOptions, ExecutorDaemon

    options = DaemonOptions(
        run=RunOptions(
            launch=launch,
            external_launch=external_launch,
            concurrency=concurrency,
            cpus=cpus,
            keep=keep,
        ),
        insight_ids=insight or None,
        max_running=max_running,
        max_agendas=max_agendas,
        once=once,
        poll_seconds=poll,
    )

    def on_daemon(daemon: ExecutorDaemon) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)

    def on_finished(progress: Any) -> None:
        if not json_output:
            word = "succeeded" if progress.succeeded else "failed"
            sys.stderr.write(f"{word:<9} {progress.agenda_id}\n")

    report = Client(registry_path=registry).run_executor(
        options, on_daemon=on_daemon, on_finished=on_finished
    )
    if json_output:
        from pop.cli.render import print_json

        print_json(
            {
                "agendas": report.agendas,
                "succeeded": report.succeeded,
                "failed": report.failed,
                "errors": report.errors,
            }
        )
    else:
        sys.stdout.write(
            f"ran {len(report.agendas)} agendas: {report.succeeded} succeeded, "
            f"{report.failed} failed\n"
        )
        for error in report.errors:
            sys.stderr.write(f"warning: {error}\n")
