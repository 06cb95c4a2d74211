"""``pop reclaim``, ``pop retry``, ``pop reap data`` and ``pop reap containers``: one pass of a
service, on demand.

Layer: cli. Each command parses its options (durations through :func:`pop.config.parse_duration`,
so a bad one is an ``error:`` line and exit 2), calls one :class:`pop.api.Client` method and prints
one line per agenda (or, with ``--json``, a JSON array of result objects). The executor daemon runs
the same passes on intervals.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from pop.cli.options import (
    ContextOption,
    JsonFlag,
    KubeconfigOption,
    NamespaceOption,
    runtime_options,
)

reap_app = typer.Typer(
    help="Delete old data: `pop reap data` removes completed agendas, their logs and work "
    "directories; `pop reap containers` and `pop reap pods` remove finished containers and "
    "pods pop left behind.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add reclaim and retry to the app (``reap`` is added as ``reap_app``)."""
    app.command("reclaim")(reclaim)
    app.command("retry")(retry)


def reclaim(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Reclaim agendas whose lease expired longer ago than this (30s, 5m, 1h; "
            "default POP_RECLAIM_GRACE, 60s).",
        ),
    ] = None,
    docker_host: Annotated[
        str | None,
        typer.Option(
            "--docker-host",
            metavar="URL",
            help="Docker engine of the containers to stop (default: the one stored with each "
            "agenda).",
        ),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option(
            "--kubeconfig",
            metavar="FILE",
            help="Kubeconfig for stopping pods (default: the one stored with each agenda, "
            "else KUBECONFIG).",
        ),
    ] = None,
    context: ContextOption = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            metavar="NS",
            help="Namespace for pods whose record names none (each record's own comes first).",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Take back agendas whose executor died: stop what it launched, requeue the agendas
    (continue semantics) or fail them "timed out" when their attempts are spent."""
    from pop.api import Client
    from pop.config import parse_duration

    seconds = None if older_than is None else parse_duration(older_than, what="--older-than")
    given = runtime_options(docker_host, kubeconfig, context, namespace)
    results = Client().reclaim(older_than=seconds, runtime_options=given)
    if _printed_json(json_output, results):
        return
    if not results:
        typer.echo("nothing to reclaim")
    for result in results:
        typer.echo(f"{result.action:<9} {result.agenda_id}  {result.message}")
        for stopped in result.stopped:
            typer.echo(f"          stopped {stopped}")
        for problem in result.problems:
            typer.echo(f"          warning: {problem}")


def retry(
    json_output: JsonFlag = False,
) -> None:
    """Rerun failed agendas whose failure is retryable (continue semantics) while attempts
    remain, after their backoff; list those still waiting."""
    from pop.api import Client

    results = Client().retry()
    if _printed_json(json_output, results):
        return
    if not results:
        typer.echo("nothing to retry")
    for result in results:
        note = result.message
        if result.action == "waiting":
            note = (
                f"after {result.last_outcome}; attempt {result.attempts_completed + 1} of "
                f"{result.maximum_attempts} at {_clock(result.retry_time)}"
            )
        typer.echo(f"{result.action:<9} {result.agenda_id}  {note}")


@reap_app.command("data")
def reap_data(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="Delete agendas completed longer ago than this (default POP_REAP_DATA_AGE, 3d).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Agendas deleted per transaction.")] = 25,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    json_output: JsonFlag = False,
) -> None:
    """Delete completed agendas older than the cutoff: their rows, logs and work directories.
    Waiting, running and queued agendas are never touched."""
    from pop.api import Client
    from pop.config import parse_duration

    seconds = None if older_than is None else parse_duration(older_than, what="--older-than")
    report = Client().reap_data(older_than=seconds, batch=batch, dry_run=dry_run)
    if _printed_json(json_output, report.agendas):
        return
    verb = "would delete" if dry_run else "deleted"
    for agenda in report.agendas:
        typer.echo(
            f"{verb} {agenda.agenda_id}  COMPLETE/{agenda.message}  "
            f"completed {_clock(agenda.completed_time)}"
        )
        for folder in agenda.folders:
            typer.echo(f"  {'would remove' if dry_run else 'removed'} {folder}")
        for kept in agenda.kept:
            typer.echo(f"  kept {kept}")
    count = len(report.agendas)
    summary = f"{verb} {count} agenda{'' if count == 1 else 's'} completed before "
    summary += _clock(report.cutoff)
    typer.echo(summary + ("" if dry_run else f" ({report.batches} batches)"))


@reap_app.command("containers")
def reap_containers(
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Remove containers that finished longer ago than this."),
    ] = "24h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")
    ] = False,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector",
            metavar="K=V[,K=V]",
            help="Only containers with these labels (e.g. pop.agendaId=ID).",
        ),
    ] = None,
    docker_host: Annotated[
        str | None,
        typer.Option(
            "--docker-host",
            metavar="URL",
            help="Docker engine to clean (default: DOCKER_HOST, else the local socket).",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Remove finished containers that pop started (its managed-by label) older than the
    cutoff, as kept by --keep or left by a dead executor. Running containers and those of
    attempts still open in the store are never touched. One line per container."""
    from pop.api import Client
    from pop.config import parse_duration

    seconds = parse_duration(older_than, what="--older-than")
    labels = _label_selector(selector)
    reaped = Client().reap_containers(
        older_than=seconds, dry_run=dry_run, docker_host=docker_host, selector=labels
    )
    if _printed_json(json_output, reaped):
        return
    from pop.cli.render import print_table

    rows = []
    for launch in reaped:
        where = _where(launch)
        if launch.info.labels.get("pop.role") == "external":
            where += " (external)"
        rows.append(
            [launch.ref[:12], launch.name or "-", where, _age(launch.age_seconds), launch.status]
        )
    print_table([], rows)
    verb = "would remove" if dry_run else "removed"
    typer.echo(_reaped_summary(reaped, verb, "container", f"cutoff {older_than}"))


@reap_app.command("pods")
def reap_pods(
    older_than: Annotated[
        str,
        typer.Option("--older-than", help="Delete pods that finished longer ago than this."),
    ] = "24h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be deleted; delete nothing.")
    ] = False,
    selector: Annotated[
        str | None,
        typer.Option(
            "--selector",
            metavar="K=V[,K=V]",
            help="Only pods with these labels (e.g. pop.agendaId=ID).",
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Pods deleted at once (default 50).")
    ] = 50,
    max_runtime: Annotated[
        str | None,
        typer.Option("--max-runtime", help="Start no new batch after this long (e.g. 5m)."),
    ] = None,
    orphans: Annotated[
        bool,
        typer.Option(
            "--orphans",
            help="Also delete running pods this store no longer needs (their attempt ended or "
            "their agenda completed), whatever their age.",
        ),
    ] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Delete finished pods that pop started (its managed-by label) older than the cutoff, in
    batches (POP's pod reaper). Running pods (unless --orphans) and those of attempts still
    open in the store are never touched. One line per pod."""
    from pop.api import Client
    from pop.config import parse_duration

    seconds = parse_duration(older_than, what="--older-than")
    runtime = None if max_runtime is None else parse_duration(max_runtime, what="--max-runtime")
    kube = runtime_options(None, kubeconfig, context, namespace) or {}
    reaped = Client().reap_pods(
        older_than=seconds,
        dry_run=dry_run,
        kube=kube,
        selector=_label_selector(selector),
        batch_size=batch_size,
        max_runtime=runtime,
        orphans=orphans,
    )
    if _printed_json(json_output, reaped):
        return
    from pop.cli.render import print_table

    print_table(
        [],
        [
            [launch.name or launch.ref, _where(launch), _age(launch.age_seconds), launch.status]
            for launch in reaped
        ],
    )
    verb = "would delete" if dry_run else "deleted"
    batches = len({launch.batch for launch in reaped if launch.batch is not None})
    note = f"cutoff {older_than}" + ("" if dry_run else f", {batches} batches")
    orphaned = sum(1 for launch in reaped if launch.orphan and launch.action != "kept")
    if orphans:
        note += f", {orphaned} orphan{'' if orphaned == 1 else 's'}"
    typer.echo(_reaped_summary(reaped, verb, "pod", note))


def _where(launch: Any) -> str:
    """``<agenda id prefix>/<op>`` from a reaped launch's labels, ``-`` without an agenda."""
    labels = launch.info.labels
    agenda = labels.get("pop.agendaId", "")
    return f"{agenda[:8]}/{labels.get('pop.operation', '')}" if agenda else "-"


def _reaped_summary(reaped: list[Any], verb: str, noun: str, note: str) -> str:
    gone = sum(1 for launch in reaped if launch.action != "kept")
    return f"{verb} {gone} {noun}{'' if gone == 1 else 's'}, kept {len(reaped) - gone} ({note})"


def _label_selector(text: str | None) -> dict[str, str] | None:
    """``k=v,k2=v2`` as a dict; InputError (exit 2) for a pair without ``=``."""
    if text is None:
        return None
    from pop.errors import InputError

    labels: dict[str, str] = {}
    for pair in (part.strip() for part in text.split(",")):
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise InputError(
                f"invalid --selector {text!r}: each item is LABEL=VALUE",
                hint="e.g. --selector pop.agendaId=ID,pop.operation=transcode",
            )
        labels[key.strip()] = value.strip()
    return labels


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "age ?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def _printed_json(wanted: bool, results: list[Any]) -> bool:
    if wanted:
        from pop.cli.render import print_json

        print_json([result.to_json() for result in results])
    return wanted


def _clock(epoch_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))
