"""The CPU budget: its arithmetic, what each op takes, and one budget shared by several agendas."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pop.engine.budget import CpuBudget, op_cpus
from pop.engine.executor import AgendaRunner, RunOptions
from pop.engine.launching import external_env_value
from pop.runtimes.fake import FakeLauncher
from pop.store import Store

from .helpers import make_registry, make_settings, store_agenda


def test_budget_takes_what_fits_and_gives_back() -> None:
    budget = CpuBudget(2)
    assert budget.try_take(1) and budget.try_take(1)
    assert not budget.try_take(1)
    assert budget.used == 2
    budget.give(1)
    assert budget.try_take(1)


def test_an_oversized_request_starts_when_nothing_is_held() -> None:
    budget = CpuBudget(2)
    assert budget.try_take(8)
    assert not budget.try_take(0.5)
    assert budget.try_take(0)  # zero always fits
    budget.give(8)
    assert budget.used == 0


def test_listeners_hear_when_cpu_comes_back_until_they_stop() -> None:
    budget = CpuBudget(1)
    heard: list[int] = []
    stop = budget.listen(lambda: heard.append(1))
    budget.try_take(1)
    budget.give(1)
    stop()
    budget.try_take(1)
    budget.give(1)
    assert heard == [1]


def test_acquirers_wait_in_order_and_a_cancelled_one_takes_nothing() -> None:
    async def main() -> list[str]:
        budget = CpuBudget(2)
        served: list[str] = []
        assert budget.try_take(2)

        async def take(name: str, cpus: float) -> None:
            await budget.acquire(cpus)
            served.append(name)

        big = asyncio.ensure_future(take("big", 2))
        small = asyncio.ensure_future(take("small", 1))
        gone = asyncio.ensure_future(take("gone", 1))
        await asyncio.sleep(0)
        gone.cancel()
        assert not budget.try_take(1)  # someone is waiting: no jumping the queue
        budget.give(1)  # 1 free: "big" (first) does not fit yet, so nobody behind it is served
        await asyncio.sleep(0)
        assert served == []
        budget.give(1)
        await asyncio.sleep(0)
        assert served == ["big"] and budget.used == 2
        budget.give(2)
        await asyncio.gather(big, small)
        assert served == ["big", "small"] and budget.used == 1
        assert gone.cancelled()
        return served

    asyncio.run(main())


def test_op_cpus_counts_external_binaries(tmp_path: Path) -> None:
    registry = make_registry(
        tmp_path,
        {
            "plain": {"command": ["true"], "cpuMinRequestCount": "0.5"},
            "media": {
                "handler": "pop.handlers.sample:run",
                "cpuMinRequestCount": "1.0",
                "external": {"ffmpeg": {"cpuMinRequestCount": "3"}},
            },
            "resident": {"handler": "pop.handlers.log:run", "resident": True},
            "residentMedia": {
                "handler": "pop.handlers.log:run",
                "resident": True,
                "external": {"ffmpeg": {"cpuMinRequestCount": "1500m"}, "probe": {}},
            },
        },
    )
    assert op_cpus(registry.lookup("plain")) == 0.5
    assert op_cpus(registry.lookup("media")) == 3.0
    assert op_cpus(registry.lookup("resident")) == 0.0
    # an external without its own request asks as much as the handler (1.0 by default)
    assert registry.lookup("residentMedia").external_cpus == {"ffmpeg": 1.5, "probe": 1.0}
    assert op_cpus(registry.lookup("residentMedia")) == 0.0  # its launches take theirs


def test_external_settings_reach_the_handler_as_json(tmp_path: Path) -> None:
    registry = make_registry(
        tmp_path,
        {
            "media": {
                "handler": "pop.handlers.sample:run",
                "image": "pop-handlers:1",
                "external": {"ffmpeg": {"cpuMinRequestCount": "2", "image": "pop-ffmpeg:1"}},
            }
        },
    )
    settings = json.loads(external_env_value(registry.lookup("media")))
    ffmpeg = settings.pop("ffmpeg")
    assert (ffmpeg["cpus"], ffmpeg["image"]) == (2.0, "pop-ffmpeg:1")
    # its pod: the entry's fields overlaid by its own; undeclared binaries get the entry's
    assert (ffmpeg["pod"]["image"], ffmpeg["pod"]["cpuMinRequestCount"]) == ("pop-ffmpeg:1", "2")
    assert settings == {
        "*": {"pod": ffmpeg["pod"] | {"image": "pop-handlers:1", "cpuMinRequestCount": "1.0"}}
    }


def _sleepers(count: int) -> dict[str, Any]:
    return {
        "operations": [
            {"name": f"op{i}", "type": "true", "payload": {"fake": {"durationSeconds": 0.2}}}
            for i in range(count)
        ]
    }


def test_agendas_sharing_a_budget_never_oversubscribe_it(tmp_path: Path) -> None:
    """Three agendas of three 1-CPU ops each, run side by side on a 2-CPU budget: at most two
    ops ever overlap, and every agenda still succeeds (waiting for CPU is not a deadlock)."""
    settings = make_settings(tmp_path)
    store = Store.open(settings.store_path)
    registry = make_registry(tmp_path)
    launcher = FakeLauncher()
    ids = [store_agenda(store, _sleepers(3)) for _ in range(3)]
    budget = CpuBudget(2)

    async def main() -> list[Any]:
        runners = [
            AgendaRunner(store, registry, launcher, settings, RunOptions(), budget=budget)
            for _ in ids
        ]
        return await asyncio.gather(
            *(runner.run(agenda_id) for runner, agenda_id in zip(runners, ids, strict=True))
        )

    results = asyncio.run(main())
    assert all(progress.succeeded for progress in results)
    assert budget.used == 0
    spans = [(launch.started_at, launch.ended_at or 0.0) for launch in launcher.launches]
    assert len(spans) == 9
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2


def test_without_a_shared_budget_each_agenda_has_its_own(tmp_path: Path) -> None:
    """The control for the test above: separate budgets let the three agendas overlap more."""
    settings = make_settings(tmp_path)
    store = Store.open(settings.store_path)
    registry = make_registry(tmp_path)
    launcher = FakeLauncher()
    ids = [store_agenda(store, _sleepers(2)) for _ in range(3)]

    async def main() -> list[Any]:
        runners = [
            AgendaRunner(store, registry, launcher, settings, RunOptions(cpus=2)) for _ in ids
        ]
        return await asyncio.gather(
            *(runner.run(agenda_id) for runner, agenda_id in zip(runners, ids, strict=True))
        )

    assert all(progress.succeeded for progress in asyncio.run(main()))
    spans = [(launch.started_at, launch.ended_at or 0.0) for launch in launcher.launches]
    assert max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans) > 2
