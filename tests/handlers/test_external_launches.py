"""External launches are first-class (issue 11): the registry's image and CPUs, the run's keep
and runtime options, and pop's labels reach the launcher and the LaunchSpec; each launch is
reported when it starts, with the record another process needs to stop it, and when it ends."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import pop.runtimes
from pop.handlers.context import HandlerContext
from pop.handlers.launchdata import LaunchArgs, LaunchData
from pop.handlers.reporting import CallbackReporter
from pop.runtimes.base import Handle, Launcher, LaunchSpec


class SpyLauncher:
    """A real launcher that remembers how it was built and what it launched."""

    def __init__(self, inner: Launcher, keep: bool, options: Any) -> None:
        self.inner, self.keep, self.options = inner, keep, options
        self.specs: list[LaunchSpec] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def launch(self, spec: LaunchSpec) -> Handle:
        self.specs.append(spec)
        return await self.inner.launch(spec)


@pytest.fixture
def launchers(monkeypatch: pytest.MonkeyPatch) -> list[SpyLauncher]:
    built: list[SpyLauncher] = []
    real = pop.runtimes.create_launcher

    def create(name: str, *, keep: bool = False, options: Any = None) -> Launcher:
        spy = SpyLauncher(real(name, keep=keep, options=options), keep, options)
        built.append(spy)
        return spy  # type: ignore[return-value]

    monkeypatch.setattr(pop.runtimes, "create_launcher", create)
    return built


def context(tmp_path: Path, env: dict[str, str], events: list[dict[str, Any]]) -> HandlerContext:
    return HandlerContext(
        CallbackReporter(lambda progress: None),
        LaunchData(args=LaunchArgs(external_launch_type="local"), env=env),
        operation_name="encode",
        work_dir=tmp_path / "work",
        op_dir=tmp_path / "work" / "encode" / "3",
        log=lambda line: None,
        on_external=events.append,
    )


RUN_ENV = {
    "AGENDA_ID": "agenda-1",
    "POP_ATTEMPT": "3",
    "POP_KEEP": "1",
    "POP_RUNTIME_OPTIONS": json.dumps({"docker_host": "unix:///run/test.sock"}),
    "POP_EXTERNAL": json.dumps({"ffmpeg": {"cpus": 2.0, "image": "pop-handlers:test"}}),
    "POP_LAUNCH_NAME": "pop-encode-0a1b2c",
}


def test_a_launch_carries_the_registry_image_and_cpus_the_runs_keep_and_options_and_labels(
    tmp_path: Path, launchers: list[SpyLauncher]
) -> None:
    events: list[dict[str, Any]] = []
    outside = tmp_path / "inputs" / "clip.mp4"
    inside = tmp_path / "work" / "probe.json"

    result = context(tmp_path, RUN_ENV, events).launch_external(
        ["true"], name="ffmpeg", inputs=[outside, inside]
    )

    assert result.ok
    (launcher,) = launchers
    assert (launcher.keep, launcher.options) == (True, {"docker_host": "unix:///run/test.sock"})
    (spec,) = launcher.specs
    assert spec.image == "pop-handlers:test"
    assert (spec.cpus, spec.cpu_limit) == (2.0, 2.0)
    assert spec.labels == {
        "app.kubernetes.io/managed-by": "pop",
        "pop.role": "external",
        "pop.agendaId": "agenda-1",
        "pop.operation": "encode",
        "pop.attempt": "3",
        "pop.parent": "pop-encode-0a1b2c",
    }
    assert spec.name.startswith("pop-ext-ffmpeg-")
    assert spec.cwd == str(tmp_path / "work" / "encode" / "3")
    mounts = {(mount.source, mount.target, mount.read_only) for mount in spec.mounts}
    work = str(tmp_path / "work")
    assert mounts == {(work, work, False), (str(outside), str(outside), True)}


def test_without_registry_settings_a_launch_takes_one_cpu_no_image_and_fewer_labels(
    tmp_path: Path, launchers: list[SpyLauncher]
) -> None:
    context(tmp_path, {}, []).launch_external(["true"])

    (launcher,) = launchers
    assert (launcher.keep, launcher.options) == (False, {})
    (spec,) = launcher.specs
    assert (spec.image, spec.cpus) == (None, 1.0)
    assert spec.labels == {
        "app.kubernetes.io/managed-by": "pop",
        "pop.role": "external",
        "pop.operation": "encode",
    }


def test_each_launch_is_reported_before_it_starts_while_it_runs_and_when_it_ended(
    tmp_path: Path,
) -> None:
    events: list[dict[str, Any]] = []
    running_when_reported: list[bool] = []

    def on_external(event: dict[str, Any]) -> None:
        if "ref" in event:  # the launch started: its process runs now
            pid = int(event["details"]["pid"])
            running_when_reported.append(Path(f"/proc/{pid}").exists())
        events.append(event)

    ctx = context(tmp_path, {"POP_EXTERNAL": json.dumps({"sh": {"cpus": 1.5}})}, events)
    ctx.on_external = on_external

    result = ctx.launch_external(["sh", "-c", "sleep 0.3; exit 3"])

    assert result.exit_code == 3
    launching, started, ended = events
    assert launching == {"launchName": started["launchName"], "launching": True}
    assert running_when_reported == [True]
    assert started["runtime"] == "local"
    assert started["ref"] == f"pgid:{started['details']['pid']}"
    assert (started["name"], started["cpus"]) == ("sh", 1.5)
    assert started["launchName"].startswith("pop-ext-sh-")
    assert ended == {
        "launchName": started["launchName"],
        "endedTime": ended["endedTime"],
        "reason": "exited",
        "exitCode": 3,
    }
    assert ended["endedTime"] >= started["startedTime"]


def test_runtime_options_that_are_not_a_json_object_count_as_none() -> None:
    for raw in ("{not json", "[1, 2]", ""):
        assert LaunchData(env={"POP_RUNTIME_OPTIONS": raw}).runtime_options == {}
    data = LaunchData(env={"POP_RUNTIME_OPTIONS": '{"namespace": "media", "retries": 2}'})
    assert data.runtime_options == {"namespace": "media", "retries": "2"}
    assert LaunchData(env={"POP_ATTEMPT": "x"}).attempt is None
    assert LaunchData(env={"POP_KEEP": "0"}).keep is False


def test_a_stop_before_the_launch_starts_nothing(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    ctx = context(tmp_path, {}, events)
    ctx.stop_event = threading.Event()
    ctx.stop_event.set()

    result = ctx.launch_external(["sh", "-c", f"touch '{tmp_path / 'ran'}'"])

    assert result.reason == "cancelled"
    assert events == []
    assert not (tmp_path / "ran").exists()
