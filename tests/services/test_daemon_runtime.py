"""The executor daemon when its runtime goes away (issue 11): a claimed agenda goes back to the
queue with no attempt counted, and ``--once`` stops with exit 3 instead of polling."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pop.engine.executor import RunOptions
from pop.engine.submission import prepare, store_submission
from pop.errors import RuntimeUnavailableError
from pop.models import Agenda, ProcessingState
from pop.runtimes.fake import FakeLauncher
from pop.services.daemon import DaemonOptions, ExecutorDaemon
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings


class GoneAfterFirstCheck(FakeLauncher):
    """Answers the daemon's first check, then never again (the engine stopped)."""

    def __init__(self) -> None:
        super().__init__()
        self.checks = 0

    async def check(self) -> None:
        self.checks += 1
        if self.checks > 1:
            raise RuntimeUnavailableError("cannot reach the test runtime: it stopped")


def test_a_claimed_agenda_whose_runtime_is_gone_goes_back_with_no_attempt(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store.open(settings.store_path)
    agenda = Agenda.model_validate({"operations": [{"name": "t", "type": "true"}]})
    prepared, progress, operations = prepare(agenda)
    store_submission(store, prepared, progress, operations, queue=True)
    agenda_id = prepared.id or ""
    daemon = ExecutorDaemon(
        store,
        make_registry(tmp_path),
        GoneAfterFirstCheck(),
        settings,
        DaemonOptions(run=RunOptions(launch="fake"), once=True, services=False),
    )

    with pytest.raises(RuntimeUnavailableError, match="it stopped"):
        asyncio.run(daemon.run())

    final = store.progress.get(agenda_id, with_operations=False)
    assert final is not None
    assert final.processing_state == ProcessingState.WAITING
    assert final.processing_state_message == "waiting: cannot reach the test runtime: it stopped"
    assert store.queue.contains(agenda_id)
    assert store.progress.lease_of(agenda_id) == (None, None)
    assert store.attempts.list(agenda_id) == []
    assert daemon.report.agendas == []
