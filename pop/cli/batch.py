"""``pop batch``: one agenda per input file from a template, N at a time, with a live view.

Layer: cli. The work is :meth:`pop.api.Client.batch_plan` and :meth:`pop.api.Client.batch_run`;
this module draws the overall progress (files done, running files, ETA) on stderr while it runs
and prints the summary table (or ``--json``) on stdout at the end. Exit 0 when every input
succeeded (or was already done), 1 when any failed, 130 when interrupted.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pop.cli.agendas import _client
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

if TYPE_CHECKING:
    from pop.services.batch import BatchItem, BatchReport, BatchRunner

REFRESH_SECONDS = 0.5


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)


def batch(
    template: Annotated[
        str, typer.Argument(help="Template file, or a stored template's id/title.")
    ],
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Input files (or directories with --glob).")
    ] = None,
    glob: Annotated[
        str | None,
        typer.Option(
            "--glob", metavar="PATTERN", help="Pick the files matching PATTERN in each directory."
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", min=1, help="Agendas at once (default: twice the CPU budget)."
        ),
    ] = None,
    link_id: Annotated[
        str | None, typer.Option("--link-id", help="Link id (default: batch-<template hash>).")
    ] = None,
    launch: Annotated[str, typer.Option("--launch", help=LAUNCH_HELP)] = "local",
    external_launch: Annotated[
        str | None, typer.Option("--external-launch", help=EXTERNAL_LAUNCH_HELP)
    ] = None,
    docker_host: DockerHostOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    cpus: Annotated[
        float | None,
        typer.Option(
            "--cpus",
            help="CPU budget shared by every agenda (default: cores); no effect on kubernetes "
            "pods (the cluster schedules their CPUs).",
        ),
    ] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    keep: Annotated[
        bool,
        typer.Option(
            "--keep", help="Keep containers and pods after they end (no effect on local)."
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
    server: ServerOption = None,
    token_file: TokenFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Run TEMPLATE once per input file (payload {"input": PATH, "name": STEM}), all linked;
    inputs whose agenda already succeeded are skipped. Exit 1 if any input failed."""
    from pop.cli.render import print_json
    from pop.engine.executor import RunOptions
    from pop.errors import EXIT_INTERRUPTED

    remote = _remote(server, token_file)
    if remote is not None:
        given = {
            "--concurrency": concurrency,
            "--launch": None if launch == "local" else launch,
            "--external-launch": external_launch,
            "--docker-host": docker_host,
            "--kubeconfig": kubeconfig,
            "--context": context,
            "--namespace": namespace,
            "--cpus": cpus,
            "--registry": registry,
            "--keep": keep or None,
        }
        _refuse_run_options([flag for flag, value in given.items() if value is not None])
        _remote_batch(remote, template, inputs, glob, link_id, quiet=quiet, json_output=json_output)
        return
    client = _client(registry)
    options = RunOptions(
        launch=launch,
        external_launch=external_launch,
        cpus=cpus,
        keep=keep,
        concurrency=50,
        runtime_options=runtime_options(docker_host, kubeconfig, context, namespace) or {},
    )
    report = client.batch_plan(
        template, list(inputs or []), glob=glob, link_id=link_id, options=options
    )
    interrupted: list[int] = []

    def on_runner(runner: BatchRunner) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, _interrupt, runner, signum)

    def _interrupt(runner: BatchRunner, signum: int) -> None:
        interrupted.append(signum)
        runner.cancel("interrupted (Ctrl-C)" if signum == signal.SIGINT else "stopped (SIGTERM)")

    import asyncio

    with BatchView(enabled=not quiet and not json_output) as view:
        view.started(report)
        asyncio.run(
            client.batch_run(
                report, concurrency, options, on_change=view.update, on_runner=on_runner
            )
        )
    if json_output:
        print_json(report.to_json())
    else:
        print_summary(report)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if report.ok else 1)


def _remote(server: str | None, token_file: Path | None) -> Any:
    """The remote client for ``--server``/``POP_SERVER``, else None (the batch runs here)."""
    from pop.api.remote import RemoteClient, connect

    client = connect(server=server, token_file=token_file)
    return client if isinstance(client, RemoteClient) else None


def _refuse_run_options(flags: list[str]) -> None:
    if flags:
        from pop.errors import InputError

        raise InputError(
            f"{', '.join(flags)}: how agendas run is the server's executors' choice, not "
            "this command's with --server",
            hint="start `pop executor` with these options on the server's machine",
        )


def _remote_batch(
    client: Any,
    template: str,
    inputs: list[str] | None,
    glob: str | None,
    link_id: str | None,
    *,
    quiet: bool,
    json_output: bool,
) -> None:
    """``pop batch --server``: plan here, submit there, follow there until every agenda ends;
    the same summary (or ``--json``) and exit codes as a local batch. Ctrl-C stops following
    (exit 130); the agendas keep running on the server."""
    from pop.api.remote_batch import follow_batch, plan_remote_batch
    from pop.cli.render import print_json
    from pop.errors import EXIT_INTERRUPTED

    report = plan_remote_batch(client, template, list(inputs or []), glob=glob, link_id=link_id)
    interrupted = False
    with BatchView(enabled=not quiet and not json_output) as view:
        view.started(report)
        try:
            follow_batch(client, report, on_change=view.update)
        except KeyboardInterrupt:
            interrupted = True
            report.ended = time.monotonic()
    if json_output:
        print_json(report.to_json())
    else:
        print_summary(report)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(0 if report.ok else 1)


class BatchView:
    """The live view on stderr: on a terminal, an overall bar with files done and ETA plus one
    line per running file; otherwise one line per finished file."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.console: Any = None
        if enabled:  # rich is imported only for a view (about 25 ms of start-up)
            from rich.console import Console

            self.console = Console(stderr=True, markup=False, emoji=False, highlight=False)
        self.interactive = enabled and self.console.is_terminal
        self._live: Any = None
        self._last = 0.0
        self._reported: set[int] = set()

    def __enter__(self) -> BatchView:
        if self.interactive:
            from rich.live import Live

            self._live = Live(console=self.console, transient=True, auto_refresh=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def started(self, report: BatchReport) -> None:
        if not self.enabled:
            return
        skipped = report.count("skipped")
        text = f"batch {report.link_id}: {len(report.items)} inputs"
        if skipped:
            text += f", {skipped} already succeeded (skipped)"
        self.console.print(text, highlight=False)

    def update(self, report: BatchReport) -> None:
        if not self.enabled:
            return
        if self._live is None:
            for index, item in enumerate(report.items):
                if item.state in ("succeeded", "failed") and index not in self._reported:
                    self._reported.add(index)
                    done = len(self._reported) + report.count("skipped")
                    self.console.print(
                        f"[{done}/{len(report.items)}] {item.state:<9} {item.input}",
                        highlight=False,
                    )
            return
        now = time.monotonic()
        if now - self._last < REFRESH_SECONDS and report.ended is None:
            return
        self._last = now
        self._live.update(self._render(report), refresh=True)

    def _render(self, report: BatchReport) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        total = len(report.items)
        finished = sum(1 for item in report.items if item.finished)
        overall = sum(100.0 if item.finished else item.percent for item in report.items)
        eta = report.eta_seconds()
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            f"files {finished}/{total}",
            ProgressBar(total=100 * total, completed=overall, width=30),
            f"{overall / max(total, 1):3.0f}%",
            f"failed {report.count('failed')}",
            "ETA " + (_duration(eta) if eta is not None else "--:--"),
        )
        for item in report.items:
            if item.state == "running":
                grid.add_row(f"  {Path(item.input).name}", "", f"{item.percent:3.0f}%", "", "")
        return grid


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return (
        f"{whole // 60}:{whole % 60:02d}"
        if whole < 3600
        else f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    )


def _detail(item: BatchItem) -> str:
    """A failed input's cause; a succeeded one's main output (and how to list the rest)."""
    if item.state != "succeeded":
        return " ".join((item.message or "").split())
    files = [output.path for outputs in item.outputs for output in outputs.files]
    if not files:
        folders = [outputs.folder for outputs in item.outputs if outputs.folder]
        return f"{folders[0]}/" if len(folders) == 1 else ""
    more = len(files) - 1
    short = (item.agenda_id or "")[:8]
    return files[0] + (f" (+{more} more: pop outputs {short})" if more else "")


def print_summary(report: BatchReport) -> None:
    """The table at the end (plain aligned columns, never cut, so it pipes well): one row per
    input, then the counts."""
    rows = [("INPUT", "STATE", "AGENDA", "TIME", "DETAIL")]
    for item in report.items:
        seconds = item.seconds
        rows.append(
            (
                item.input,
                item.state,
                (item.agenda_id or "")[:8],
                f"{seconds:.1f}s" if seconds is not None else "",
                _detail(item),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        typer.echo("  ".join([*cells, row[4]]).rstrip())
    elapsed = (report.ended or time.monotonic()) - report.started
    typer.echo(
        f"{report.count('succeeded')} succeeded, {report.count('failed')} failed, "
        f"{report.count('skipped')} skipped in {elapsed:.1f}s (link {report.link_id})"
    )
