"""``pop executor``: the puller and executor in one process.

Layer: cli. Parses the options, calls :meth:`pop.api.Client.run_executor` and says what happened
on stderr, one line per agenda as it happens: ``succeeded``/``failed`` for each agenda it ran,
``retried`` for each failed agenda the retrier reran (attempt n of m), ``reclaimed`` for each
agenda the reclaimer took back from a dead executor, ``reaped`` for each orphan container or pod
it deleted. The summary (or ``--json``) goes to stdout. ``--alive-file`` (``POP_ALIVE_FILE``)
names the file the claim loop touches after each answered ask for work; ``pop alive`` (here too)
is the check a liveness probe runs on it: POP's alive check.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pop.cli.options import (
    EXTERNAL_LAUNCH_HELP,
    KEEP_HELP,
    LAUNCH_HELP,
    ContextOption,
    DockerHostOption,
    JsonFlag,
    KubeconfigOption,
    NamespaceOption,
    TokenFileOption,
    runtime_options,
)

if TYPE_CHECKING:
    from pop.services.daemon import DaemonOptions, DaemonReport, ServiceResult


ALIVE_ENV = "POP_ALIVE_FILE"
ALIVE_THRESHOLD = "30s"

AliveFileOption = Annotated[
    str | None,
    typer.Option(
        "--alive-file",
        envvar=ALIVE_ENV,
        show_envvar=False,
        metavar="PATH",
        help=f"The file the executor touches after each answered ask for work (default: "
        f"{ALIVE_ENV}; none: nothing written); `pop alive` checks it.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("executor")(executor)
    app.command("alive")(alive)


def executor(
    insight: Annotated[
        list[str] | None, typer.Option("--insight", help="Only these insights (repeatable).")
    ] = None,
    launch: Annotated[str, typer.Option("--launch", help=LAUNCH_HELP)] = "local",
    external_launch: Annotated[
        str | None, typer.Option("--external-launch", help=EXTERNAL_LAUNCH_HELP)
    ] = None,
    docker_host: DockerHostOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Registry file.")] = None,
    max_running: Annotated[
        int, typer.Option("--max-running", min=1, help="Agendas at once in this process.")
    ] = 4,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Ops at once within an agenda.")
    ] = 50,
    cpus: Annotated[
        float | None,
        typer.Option(
            "--cpus",
            help="CPU budget shared by every agenda this executor runs; no effect on kubernetes "
            "pods (the cluster schedules their CPUs).",
        ),
    ] = None,
    max_agendas: Annotated[
        int | None, typer.Option("--max-agendas", min=1, help="Stop after N agendas.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Exit 0 when out of work.")] = False,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between queue polls.")] = 1.0,
    keep: Annotated[bool, typer.Option("--keep", help=KEEP_HELP)] = False,
    services: Annotated[
        bool,
        typer.Option(
            "--services/--no-services",
            help="Also run the retrier, the reclaimer and (docker, kubernetes) the orphan pass "
            "on their intervals (--no-services: claims only).",
        ),
    ] = True,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="Pull from this pop serve (getAgenda) instead of the local store; needs "
            "--insight. The token comes from POP_TOKEN or --token-file.",
        ),
    ] = None,
    token_file: TokenFileOption = None,
    alive_file: AliveFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Claim queued agendas atomically and run them, and rerun or take back failed and lost
    ones (one stderr line each); SIGTERM stops claiming and finishes the running agendas (a
    second SIGTERM stops them too)."""
    from pop.api import Client
    from pop.engine.executor import RunOptions
    from pop.errors import InputError
    from pop.services.daemon import DaemonOptions, ExecutorDaemon

    options = DaemonOptions(
        run=RunOptions(
            launch=launch,
            external_launch=external_launch,
            concurrency=concurrency,
            cpus=cpus,
            keep=keep,
            runtime_options=runtime_options(docker_host, kubeconfig, context, namespace) or {},
        ),
        insight_ids=insight or None,
        max_running=max_running,
        max_agendas=max_agendas,
        once=once,
        poll_seconds=poll,
        services=services,
        alive_file=_alive_path(alive_file),
    )

    if server is None and token_file is not None:
        raise InputError("--token-file needs --server")
    if server is not None:
        if not insight:
            raise InputError(
                "--server needs --insight: the insights this executor pulls from the server",
                hint="for example --insight default",
            )
        _run_remote(server, token_file, registry, options, insight, json_output=json_output)
        return

    def on_daemon(daemon: ExecutorDaemon) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)

    def on_finished(progress: Any) -> None:
        if not json_output:
            from pop.cli.render import agenda_line

            sys.stderr.write(agenda_line(progress) + "\n")

    def on_service(result: ServiceResult) -> None:
        if not json_output:
            sys.stderr.write("".join(line + "\n" for line in service_lines(result)))

    report = Client(registry_path=registry).run_executor(
        options, on_daemon=on_daemon, on_finished=on_finished, on_service=on_service
    )
    _print_report(report, json_output=json_output)


def _alive_path(given: str | None) -> Path | None:
    """The alive file to touch; InputError (exit 2, before anything runs) when its folder is
    missing or it is a folder."""
    from pop.errors import InputError

    if not given:
        return None
    path = Path(given)
    if path.is_dir():
        raise InputError(f"--alive-file {given!r} is a folder", hint="name a file in a folder")
    if not path.parent.is_dir():
        raise InputError(
            f"--alive-file {given!r}: no folder {str(path.parent)!r}",
            hint="name a file in an existing folder, e.g. /tmp/pop-alive",
        )
    return path


def alive(
    alive_file: AliveFileOption = None,
    threshold: Annotated[
        str,
        typer.Option(
            "--threshold",
            metavar="DURATION",
            help="How long ago the last answered ask for work may be (30s, 2m; plain seconds).",
        ),
    ] = ALIVE_THRESHOLD,
) -> None:
    """Check that `pop executor --alive-file` asked for work within the threshold (a liveness
    probe): exit 0 if so or if it has not asked yet (no file), else 1 with one stderr line."""
    import os
    import time

    from pop.config import parse_duration
    from pop.errors import InputError

    if not alive_file:
        raise InputError(
            "pop alive needs the executor's alive file",
            hint=f"give --alive-file PATH or set {ALIVE_ENV}, as for pop executor",
        )
    seconds = parse_duration(threshold, what="--threshold")
    if seconds <= 0:
        raise InputError(f"invalid --threshold {threshold!r}: it must be more than 0")
    try:
        modified = os.stat(alive_file).st_mtime
    except FileNotFoundError:
        return  # no ask for work yet: alive (POP's rule)
    except OSError as exc:
        raise InputError(f"cannot read the alive file {alive_file!r}: {exc.strerror}") from exc
    age = time.time() - modified
    if age > seconds:
        sys.stderr.write(
            f"not alive: last successful ask for work {int(age)} s ago (threshold {seconds:g} s)\n"
        )
        raise typer.Exit(1)


def _run_remote(
    server: str,
    token_file: Path | None,
    registry: Path | None,
    options: DaemonOptions,
    insight_ids: list[str],
    *,
    json_output: bool,
) -> None:
    """``pop executor --server``: pull from the server and run (no local store, no services)."""
    from pop.api.remote import RemoteClient, read_token
    from pop.api.remote_executor import RemoteExecutor, run_remote_executor
    from pop.config import Settings
    from pop.registry import Registry

    settings = Settings.from_env()
    client = RemoteClient(server, read_token(token_file))

    def on_executor(remote: RemoteExecutor) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, remote.stop)

    def on_finished(progress: Any) -> None:
        if not json_output:
            from pop.cli.render import agenda_line

            sys.stderr.write(agenda_line(progress) + "\n")

    report = run_remote_executor(
        client,
        Registry.load(registry, settings=settings),
        settings,
        options,
        insight_ids,
        on_executor=on_executor,
        on_finished=on_finished,
        on_note=lambda line: print(line, file=sys.stderr),
    )
    _print_report(report, json_output=json_output)


def _print_report(report: DaemonReport, *, json_output: bool) -> None:
    if json_output:
        from pop.cli.render import print_json

        print_json(report_json(report))
    else:
        sys.stdout.write(summary(report) + "\n")
        for error in report.errors:
            sys.stderr.write(f"warning: {error}\n")


def service_lines(result: ServiceResult) -> list[str]:
    """The stderr lines of one agenda the retrier reran or the reclaimer took back:
    ``retried   ID  attempt 2 of 3 after failed``, ``reclaimed ID  <what was done>`` (then a
    line per launch it stopped and a warning per launch it could not stop); ``reaped    ID
    kubernetes <pod>: removed (orphan: its attempt ended)`` for an orphan removed."""
    from pop.services.launch_reaper import ReapedLaunch
    from pop.services.retrier import RetryResult

    if isinstance(result, RetryResult):
        return [f"{'retried':<9} {result.agenda_id}  {result.message}"]
    if isinstance(result, ReapedLaunch):
        agenda = result.info.labels.get("pop.agendaId") or "-"
        what = f"{result.info.record.runtime} {result.name or result.ref}"
        return [f"{'reaped':<9} {agenda}  {what}: {result.status}"]
    lines = [f"{'reclaimed':<9} {result.agenda_id}  {result.message}"]
    lines += [f"          stopped {stopped}" for stopped in result.stopped]
    lines += [f"warning: {result.agenda_id}: {problem}" for problem in result.problems]
    return lines


def summary(report: DaemonReport) -> str:
    """``ran 3 agendas: 2 succeeded, 1 failed`` (plus what the retrier and reclaimer did)."""
    ran = len(report.agendas)
    text = (
        f"ran {ran} agenda{'' if ran == 1 else 's'}: {report.succeeded} succeeded, "
        f"{report.failed} failed"
    )
    if report.retried or report.reclaimed:
        text += f"; retried {len(report.retried)}, reclaimed {len(report.reclaimed)}"
    if report.orphans:
        removed = sum(1 for reaped in report.orphans if reaped.action != "kept")
        text += f"; reaped {removed} orphan{'' if removed == 1 else 's'}"
    return text


def report_json(report: DaemonReport) -> dict[str, Any]:
    return {
        "agendas": report.agendas,
        "succeeded": report.succeeded,
        "failed": report.failed,
        "retried": [result.to_json() for result in report.retried],
        "reclaimed": [result.to_json() for result in report.reclaimed],
        "orphans": [reaped.to_json() for reaped in report.orphans],
        "errors": report.errors,
    }
