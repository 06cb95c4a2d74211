"""The data reaper: only old completed agendas go, with their rows, logs and work directories
(POP-REFERENCE §11.3; issue 4 item 7 and the acceptance line on reap data)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pop.errors import InputError
from pop.models import ProcessingState, now_ms
from pop.services.reaper import reap_data
from pop.store import Store
from tests.conftest import store_snapshot
from tests.services.store_state import (
    DAY_MS,
    DEAD_EXECUTOR,
    executing_under_dead_lease,
    finish,
    make_settings,
    op_succeeded,
    set_columns,
    store_agenda,
)

THREE_DAYS = 3 * 86400.0


@dataclass
class Landscape:
    """Agendas of every kind, five days old unless named recent, with files on disk."""

    old_succeeded: str
    old_failed_custom_work: str
    old_outside_work: str
    recent: str
    waiting: str
    executing: str
    queued: str
    complete_but_queued: str
    complete_but_leased: str
    outside: Path

    @property
    def old(self) -> list[str]:
        return [self.old_succeeded, self.old_failed_custom_work, self.old_outside_work]

    @property
    def staying(self) -> list[str]:
        return [
            self.recent,
            self.waiting,
            self.executing,
            self.queued,
            self.complete_but_queued,
            self.complete_but_leased,
        ]


def with_files(home: Path, agenda_id: str, work: Path | None = None) -> None:
    logs = home / "logs" / agenda_id
    logs.mkdir(parents=True)
    (logs / "only.1.log").write_text("a log line\n")
    work = work or home / "work" / agenda_id
    (work / "only" / "1").mkdir(parents=True)
    (work / "only" / "1" / "media.bin").write_bytes(b"\0" * 64)


@pytest.fixture
def store(pop_home: Path) -> Any:
    with Store.open(make_settings(pop_home).store_path) as opened:
        yield opened


@pytest.fixture
def landscape(store: Store, pop_home: Path, tmp_path: Path) -> Landscape:
    old = now_ms() - 5 * DAY_MS
    custom = pop_home / "work" / "custom-folder"
    outside = tmp_path / "my-media"

    def completed(outcome: str, when: int, **params: Any) -> str:
        agenda_id = store_agenda(store, params=params)
        op_succeeded(store, agenda_id, "only", {"exitCode": 0})
        finish(store, agenda_id, outcome=outcome, completed_time=when)
        return agenda_id

    found = Landscape(
        old_succeeded=completed("succeeded", old),
        old_failed_custom_work=completed("failed", old, workDir=str(custom)),
        old_outside_work=completed("succeeded", old, workDir=str(outside)),
        recent=completed("succeeded", now_ms() - DAY_MS),
        waiting=store_agenda(store),
        executing=store_agenda(store),
        queued=store_agenda(store, queue=True),
        complete_but_queued=completed("failed", old),
        complete_but_leased=completed("failed", old),
        outside=outside,
    )
    executing_under_dead_lease(store, found.executing)
    store.queue.enqueue(found.complete_but_queued, insight_id="default", customer_id="default")
    store.progress.take_lease(found.complete_but_leased, DEAD_EXECUTOR, 60)
    for agenda_id in (found.waiting, found.executing, found.queued):
        set_columns(store, agenda_id, added_time=old, updated_time=old, completed_time=old)
    with_files(pop_home, found.old_succeeded)
    with_files(pop_home, found.old_failed_custom_work, custom)
    with_files(pop_home, found.old_outside_work, outside)
    for agenda_id in found.staying:
        with_files(pop_home, agenda_id)
    return found


def rows_of(home: Path, agenda_id: str) -> dict[str, int]:
    connection = sqlite3.connect(home / "pop.db")
    try:
        counts = {}
        for table, column in (
            ("agendas", "id"),
            ("agenda_progress", "agenda_id"),
            ("attempts", "agenda_id"),
            ("ready_queue", "agenda_id"),
        ):
            (counts[table],) = connection.execute(
                f"SELECT count(*) FROM {table} WHERE {column} = ?", (agenda_id,)
            ).fetchone()
        (counts["operation_progress"],) = connection.execute(
            """SELECT count(*) FROM operation_progress WHERE agenda_progress_id IN
                 (SELECT id FROM agenda_progress WHERE agenda_id = ?)""",
            (agenda_id,),
        ).fetchone()
        return counts
    finally:
        connection.close()


def test_a_dry_run_lists_the_old_completed_agendas_and_deletes_nothing(
    store: Store, landscape: Landscape, pop_home: Path
) -> None:
    before = store_snapshot(pop_home)
    files_before = sorted(pop_home.rglob("*"))

    report = reap_data(store, make_settings(pop_home), older_than=THREE_DAYS, dry_run=True)

    assert store_snapshot(pop_home) == before
    assert sorted(pop_home.rglob("*")) == files_before
    assert [agenda.agenda_id for agenda in report.agendas] == landscape.old
    assert report.dry_run and report.batches == 0
    by_id = {agenda.agenda_id: agenda for agenda in report.agendas}
    assert by_id[landscape.old_succeeded].folders == [
        str(pop_home / "logs" / landscape.old_succeeded),
        str(pop_home / "work" / landscape.old_succeeded),
    ]
    assert by_id[landscape.old_failed_custom_work].folders[-1] == str(
        pop_home / "work" / "custom-folder"
    )
    outside = by_id[landscape.old_outside_work]
    assert outside.folders == [str(pop_home / "logs" / landscape.old_outside_work)]
    assert outside.kept == [f"{landscape.outside}: not inside {pop_home / 'work'} (never deleted)"]
    assert not any(agenda.deleted for agenda in report.agendas)


def test_only_old_completed_agendas_go_with_their_rows_logs_and_work(
    store: Store, landscape: Landscape, pop_home: Path
) -> None:
    report = reap_data(store, make_settings(pop_home), older_than=THREE_DAYS, batch=2)

    assert sorted(agenda.agenda_id for agenda in report.agendas) == sorted(landscape.old)
    assert report.batches == 2
    empty = dict.fromkeys(
        ("agendas", "agenda_progress", "attempts", "ready_queue", "operation_progress"), 0
    )
    for agenda_id in landscape.old:
        assert rows_of(pop_home, agenda_id) == empty
        assert not (pop_home / "logs" / agenda_id).exists()
        assert not (pop_home / "work" / agenda_id).exists()
    assert not (pop_home / "work" / "custom-folder").exists()
    assert (landscape.outside / "only" / "1" / "media.bin").exists()  # the user's own folder
    for agenda_id in landscape.staying:
        counts = rows_of(pop_home, agenda_id)
        assert counts["agendas"] == counts["agenda_progress"] == 1
        assert counts["operation_progress"] == 1
        assert (pop_home / "logs" / agenda_id / "only.1.log").exists()
        assert (pop_home / "work" / agenda_id / "only" / "1" / "media.bin").exists()
    assert store.queue.contains(landscape.queued)
    executing = store.progress.get(landscape.executing, with_operations=False)
    assert executing is not None and executing.processing_state == ProcessingState.EXECUTING
    assert reap_data(store, make_settings(pop_home), older_than=THREE_DAYS).agendas == []


def test_a_work_directory_another_agenda_still_names_is_kept(store: Store, pop_home: Path) -> None:
    shared = pop_home / "work" / "shared"
    old = store_agenda(store, params={"workDir": str(shared)})
    finish(store, old, outcome="succeeded", completed_time=now_ms() - 5 * DAY_MS)
    store_agenda(store, params={"workDir": str(shared)})  # waiting, same folder
    shared.mkdir(parents=True)

    [reaped] = reap_data(store, make_settings(pop_home), older_than=THREE_DAYS).agendas

    assert reaped.agenda_id == old
    assert reaped.kept == [f"{shared}: another stored agenda uses it"]
    assert shared.is_dir()


def test_a_real_runs_logs_and_work_directory_are_reaped(
    run_pop: Any, pop_home: Path, tmp_path: Path
) -> None:
    agenda_file = tmp_path / "agenda.json"
    operation = {"name": "a", "type": "sample", "payload": {"actions": [{"action": "log"}]}}
    agenda_file.write_text(json.dumps({"title": "t", "operations": [operation]}))
    completed = run_pop("run-local", str(agenda_file), "--json")
    assert completed.returncode == 0, completed.stderr
    agenda_id = json.loads(completed.stdout)["agendaId"]
    assert (pop_home / "logs" / agenda_id).is_dir()
    assert (pop_home / "work" / agenda_id).is_dir()

    listed = run_pop("reap", "data", "--older-than", "0", "--dry-run", "--json")
    assert listed.returncode == 0, listed.stderr
    [item] = json.loads(listed.stdout)
    assert (item["agendaId"], item["deleted"]) == (agenda_id, False)
    assert (pop_home / "logs" / agenda_id).is_dir()

    reaped = run_pop("reap", "data", "--older-than", "0s")
    assert reaped.returncode == 0, reaped.stderr
    assert reaped.stdout.startswith(f"deleted {agenda_id}  COMPLETE/succeeded")
    assert "deleted 1 agenda completed before" in reaped.stdout
    assert not (pop_home / "logs" / agenda_id).exists()
    assert not (pop_home / "work" / agenda_id).exists()
    assert run_pop("status", agenda_id).returncode == 4


def test_the_default_age_keeps_recent_work(store: Store, pop_home: Path, run_pop: Any) -> None:
    recent = store_agenda(store)
    finish(store, recent, outcome="succeeded", completed_time=now_ms() - 2 * DAY_MS)
    before = store_snapshot(pop_home)

    completed = run_pop("reap", "data", "--json")

    assert (completed.returncode, json.loads(completed.stdout)) == (0, [])
    assert store_snapshot(pop_home) == before


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--older-than", "3 days"), "invalid --older-than '3 days'"),
        (("--older-than", "-1d"), "invalid --older-than '-1d'"),
        (("--batch", "0"), "the batch size must be at least 1"),
    ],
)
def test_bad_input_is_one_error_line_exit_2_and_nothing_deleted(
    store: Store, pop_home: Path, run_pop: Any, args: tuple[str, ...], named: str
) -> None:
    old = store_agenda(store)
    finish(store, old, outcome="succeeded", completed_time=now_ms() - 5 * DAY_MS)
    before = store_snapshot(pop_home)

    completed = run_pop("reap", "data", *args)

    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: {named}")
    assert store_snapshot(pop_home) == before


def test_the_library_rejects_a_batch_below_one(store: Store, pop_home: Path) -> None:
    with pytest.raises(InputError, match="batch size"):
        reap_data(store, make_settings(pop_home), older_than=0, batch=0)
