"""The data reaper: deletes completed agendas older than a cutoff, with everything they left.

Layer: services. Called by ``pop reap data`` (through :mod:`pop.api`) and by the executor daemon
on an interval. (Pods and containers have their own reapers.)

An agenda goes when it is COMPLETE, its ``completedTime`` is older than the cutoff, it holds no
live lease and it is not queued: WAITING, EXECUTING and queued work is never touched. With it go
its agenda row, AgendaProgress, OperationProgress rows, attempt rows, any ready-queue row, its
log folder ``$POP_HOME/logs/<id>/`` and its work directory. Store rows are deleted ``batch``
agendas per transaction (POP deleted 25 per call), each batch chosen again inside its
transaction; folders are removed after the batch is committed.

Work directories: the default one, ``$POP_HOME/work/<id>/``, is pop's own and always goes. A
``params.workDir`` the user gave is removed only when it lies inside ``$POP_HOME/work/`` and no
other stored agenda names it; anywhere else (your own folders, media next to your files) it is
never deleted and is reported as kept.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pop.config import Settings
from pop.errors import InputError
from pop.models import now_ms
from pop.store import Store


@dataclass(frozen=True)
class ReapedAgenda:
    """One completed agenda the reaper deleted (or would delete, in a dry run).

    ``folders`` are the folders removed (or that would be); ``kept`` names folders left in place
    and why.
    """

    agenda_id: str
    message: str
    completed_time: int
    deleted: bool
    folders: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "agendaId": self.agenda_id,
            "processingState": "COMPLETE",
            "processingStateMessage": self.message,
            "completedTime": self.completed_time,
            "deleted": self.deleted,
            "folders": list(self.folders),
            "kept": list(self.kept),
        }


@dataclass(frozen=True)
class ReapReport:
    """What one reaper pass did: the agendas, the cutoff (epoch ms), batches committed."""

    dry_run: bool
    cutoff: int
    agendas: list[ReapedAgenda]
    batches: int

    def to_json(self) -> list[dict[str, Any]]:
        return [agenda.to_json() for agenda in self.agendas]


def reap_data(
    store: Store,
    settings: Settings,
    *,
    older_than: float,
    batch: int = 25,
    dry_run: bool = False,
    now: int | None = None,
) -> ReapReport:
    """Delete COMPLETE agendas completed more than ``older_than`` seconds before ``now`` (epoch
    ms, default the current time), ``batch`` per transaction; ``dry_run`` deletes nothing and
    reports what would go."""
    if batch < 1:
        raise InputError(f"the batch size must be at least 1 (got {batch})")
    if older_than < 0:
        raise InputError(f"the age must not be negative (got {older_than:g} s)")
    now = now_ms() if now is None else now
    cutoff = now - int(older_than * 1000)
    if dry_run:
        found = store.progress.reap_candidates(cutoff, now=now)
        going = {row["agendaId"] for row in found}
        listed = [
            _shared_check(store, _plan(settings, row, deleted=False), row, going=going)
            for row in found
        ]
        return ReapReport(dry_run=True, cutoff=cutoff, agendas=listed, batches=0)
    agendas: list[ReapedAgenda] = []
    batches = 0
    while True:
        with store.transaction():
            rows = store.progress.reap_candidates(cutoff, now=now, limit=batch)
            if not rows:
                break
            agenda_ids = [row["agendaId"] for row in rows]
            store.attempts.delete_for(agenda_ids)
            for agenda_id in agenda_ids:
                store.queue.remove(agenda_id)
            store.progress.delete_agendas_progress([row["id"] for row in rows])
            store.agendas.delete_many(agenda_ids)
        batches += 1
        for row in rows:
            planned = _shared_check(store, _plan(settings, row, deleted=True), row, going=set())
            agendas.append(_remove_folders(planned))
    return ReapReport(dry_run=False, cutoff=cutoff, agendas=agendas, batches=batches)


def _plan(settings: Settings, row: dict[str, Any], *, deleted: bool) -> ReapedAgenda:
    """The agenda's existing folders that may go, and those that must stay."""
    agenda_id = str(row["agendaId"])
    folders: list[str] = []
    kept: list[str] = []
    candidates = [(settings.logs_dir / agenda_id, settings.logs_dir)]
    given = row.get("workDir")
    if isinstance(given, str) and given.strip():
        candidates.append((Path(given).expanduser(), settings.work_root))
    else:
        candidates.append((settings.work_root / agenda_id, settings.work_root))
    for folder, root in candidates:
        if not folder.exists():
            continue
        if _strictly_inside(folder, root):
            folders.append(str(folder))
        else:
            kept.append(f"{folder}: not inside {root} (never deleted)")
    return ReapedAgenda(
        agenda_id=agenda_id,
        message=str(row["message"] or ""),
        completed_time=int(row["completedTime"] or 0),
        deleted=deleted,
        folders=folders,
        kept=kept,
    )


def _shared_check(
    store: Store, planned: ReapedAgenda, row: dict[str, Any], *, going: set[str]
) -> ReapedAgenda:
    """Keep a given ``params.workDir`` that a stored agenda which stays still names (``going``:
    agendas deleted with this one whose rows are still there, in a dry run)."""
    given = row.get("workDir")
    if not isinstance(given, str) or not given.strip():
        return planned
    path = str(Path(given).expanduser())
    if path not in planned.folders or not set(store.agendas.using_work_dir(given)) - going:
        return planned
    return replace(
        planned,
        folders=[folder for folder in planned.folders if folder != path],
        kept=[*planned.kept, f"{path}: another stored agenda uses it"],
    )


def _remove_folders(planned: ReapedAgenda) -> ReapedAgenda:
    removed: list[str] = []
    kept = list(planned.kept)
    for folder in planned.folders:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            continue
        except OSError as exc:
            kept.append(f"{folder}: cannot remove: {exc.strerror or exc}")
            continue
        removed.append(folder)
    return replace(planned, folders=removed, kept=kept)


def _strictly_inside(folder: Path, root: Path) -> bool:
    """True when ``folder`` (symlinks resolved) is below ``root`` and is not ``root`` itself."""
    resolved, base = folder.resolve(), root.resolve()
    return resolved != base and resolved.is_relative_to(base)
