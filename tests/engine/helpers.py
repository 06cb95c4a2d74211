"""Shared helpers for engine tests: a store in tmp_path, a registry, a runner."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pop.config import Settings
from pop.engine.executor import AgendaRunner, RunEvent, RunOptions
from pop.engine.submission import prepare, store_submission
from pop.models import Agenda, AgendaProgress
from pop.registry import Registry
from pop.runtimes.base import Launcher
from pop.store import Store

TEST_HANDLERS: dict[str, Any] = {
    "true": {"command": ["true"]},
    "false": {"command": ["false"]},
    "echo": {"command": ["echo"]},
    "sh": {"command": ["sh", "-c"]},
    "heavy": {"handler": "pop.handlers.sample:run", "cpuMinRequestCount": "2.0"},
    "python": {"command": ["python3", "-c"], "protocol": "pop"},
}


@dataclass
class Run:
    progress: AgendaProgress
    store: Store
    events: list[RunEvent]
    agenda_id: str

    def op(self, name: str) -> Any:
        found = self.progress.operation(name)
        assert found is not None, name
        return found

    def attempts(self, operation: str | None = None) -> list[dict[str, Any]]:
        return [
            row
            for row in self.store.attempts.list(self.agenda_id)
            if row["operation"] is not None and (operation is None or row["operation"] == operation)
        ]


def make_settings(tmp_path: Path, **changes: Any) -> Settings:
    settings = Settings(home=tmp_path / "home", handler_complete_grace_seconds=1.0)
    return settings.with_changes(**changes) if changes else settings


def make_registry(tmp_path: Path, extra: dict[str, Any] | None = None) -> Registry:
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"handlers": {**TEST_HANDLERS, **(extra or {})}}))
    return Registry.load(path)


def store_agenda(store: Store, agenda: dict[str, Any]) -> str:
    prepared, progress, operations = prepare(Agenda.model_validate(agenda))
    store_submission(store, prepared, progress, operations, queue=False)
    return prepared.id or ""


def run_agenda(
    tmp_path: Path,
    agenda: dict[str, Any],
    launcher: Launcher,
    *,
    options: RunOptions | None = None,
    registry: Registry | None = None,
    settings: Settings | None = None,
    during: Any = None,
) -> Run:
    settings = settings or make_settings(tmp_path)
    store = Store.open(settings.store_path)
    agenda_id = store_agenda(store, agenda)
    events: list[RunEvent] = []
    runner = AgendaRunner(
        store,
        registry or make_registry(tmp_path),
        launcher,
        settings,
        options or RunOptions(launch=launcher.name),
        observer=events.append,
    )

    async def main() -> AgendaProgress:
        task = asyncio.ensure_future(runner.run(agenda_id))
        if during is not None:
            await during(runner, store, agenda_id)
        return await task

    progress = asyncio.run(main())
    return Run(progress=progress, store=store, events=events, agenda_id=agenda_id)
