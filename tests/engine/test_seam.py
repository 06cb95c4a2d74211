"""The runtime seam as the engine sees it (issue 11, item 1): capabilities instead of runtime
names, runtime options in every attempt, unexpected exceptions as failed ops, cleanup after the
outcome is recorded and on cancellation, stop kinds as enums, collision-free names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pop.engine.executor import RunOptions
from pop.engine.state import (
    DONE_FAILED,
    OpState,
    OutcomeKind,
    Stop,
    StopKind,
    failure_kind,
)
from pop.models import DiagnosticEvent, Operation, ProcessingState
from pop.runtimes.base import Capabilities, LaunchSpec
from pop.runtimes.fake import FakeHandle, FakeLauncher, FakeRun
from pop.runtimes.names import dns_label, file_name, launch_name
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings, run_agenda


def _agenda(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"operations": list(ops)}


def _quiet(spec: LaunchSpec) -> FakeRun:
    return FakeRun(["ok"], 0, 0.0)


def test_a_handler_starts_with_the_interpreter_the_launcher_declares(tmp_path: Path) -> None:
    registry = make_registry(tmp_path, {"built": {"handler": "pop.handlers.sample:run"}})
    launcher = FakeLauncher(_quiet, capabilities=Capabilities(python="/opt/py/bin/python9"))
    run_agenda(
        tmp_path,
        _agenda({"name": "b", "type": "built", "payload": {}}),
        launcher,
        registry=registry,
    )
    (launch,) = launcher.launches
    assert launch.spec.command[:3] == ["/opt/py/bin/python9", "-m", "pop.handlers"]


def test_a_launch_is_labelled_with_its_agenda_op_attempt_and_insight(tmp_path: Path) -> None:
    launcher = FakeLauncher(_quiet)
    run = run_agenda(tmp_path, _agenda({"name": "t", "type": "true"}), launcher)
    (launch,) = launcher.launches
    labels = launch.spec.labels
    assert labels["pop.agendaId"] == run.progress.agenda_id
    assert (labels["pop.operation"], labels["pop.attempt"]) == ("t", "1")
    assert labels["pop.insightId"] == "default"  # the queue it was routed to
    assert labels["app.kubernetes.io/managed-by"] == "pop"


def test_launched_ops_hold_host_cpus_only_where_the_runtime_uses_them(tmp_path: Path) -> None:
    """Two 2-CPU ops with a 2-CPU budget: one at a time on a host runtime, both at once where
    the cluster schedules CPU (host_cpus False)."""
    registry = make_registry(tmp_path, {"big": {"command": ["true"], "cpuMinRequestCount": "2"}})
    agenda = _agenda({"name": "a", "type": "big"}, {"name": "b", "type": "big"})

    def overlapped(capabilities: Capabilities, folder: str, seconds: float) -> bool:
        launcher = FakeLauncher(lambda spec: FakeRun([], 0, seconds), capabilities=capabilities)
        run_agenda(
            tmp_path / folder,
            agenda,
            launcher,
            registry=registry,
            options=RunOptions(launch="fake", cpus=2),
        )
        first, second = launcher.launches
        assert first.ended_at is not None
        return second.started_at < first.ended_at

    assert not overlapped(Capabilities(host_cpus=True), "host", 0.3)
    # long enough that a busy machine still starts the second before the first ends
    assert overlapped(Capabilities(host_cpus=False), "cluster", 3.0)


def test_every_attempt_is_told_its_number_the_runtime_options_and_keep(tmp_path: Path) -> None:
    launcher = FakeLauncher(_quiet)
    options = RunOptions(launch="fake", keep=True, runtime_options={"docker_host": "tcp://h:1"})
    run_agenda(tmp_path, _agenda({"name": "t", "type": "true"}), launcher, options=options)
    (launch,) = launcher.launches
    env = launch.spec.env
    assert env["POP_ATTEMPT"] == "1"
    assert json.loads(env["POP_RUNTIME_OPTIONS"]) == {"docker_host": "tcp://h:1"}
    assert env["POP_KEEP"] == "1"
    assert env["POP_LAUNCH_NAME"] == launch.spec.name


class ExplodingLauncher(FakeLauncher):
    """A runtime whose SDK raises something pop does not expect, for one op only."""

    async def launch(self, spec: LaunchSpec) -> FakeHandle:
        if spec.labels.get("pop.operation") == "boom":
            raise RuntimeError("the engine said something odd")
        return await super().launch(spec)


def test_an_unexpected_exception_fails_its_op_and_the_agenda_completes(tmp_path: Path) -> None:
    launcher = ExplodingLauncher(_quiet)
    run = run_agenda(
        tmp_path,
        _agenda({"name": "fine", "type": "true"}, {"name": "boom", "type": "true"}),
        launcher,
    )
    assert run.progress.processing_state == ProcessingState.COMPLETE
    assert not run.progress.succeeded
    boom = run.op("boom")
    messages = [d.message for d in boom.diagnostic_events or []]
    assert messages == ["internal error: RuntimeError: the engine said something odd"]
    assert run.op("fine").succeeded
    (attempt,) = run.attempts("boom")
    log = Path(attempt["logPath"]).read_text()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: the engine said something odd" in log


class WatchedLauncher(FakeLauncher):
    """Records, at each cleanup, what the store said about the op at that moment."""

    def __init__(self, store_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_path = store_path
        self.seen_at_cleanup: list[tuple[str, str | None]] = []

    async def launch(self, spec: LaunchSpec) -> FakeHandle:
        handle = await super().launch(spec)
        original = handle.cleanup

        async def cleanup() -> None:
            store = Store.open(self.store_path)
            progress = store.progress.get(spec.labels["pop.agendaId"])
            assert progress is not None
            op = progress.operation(spec.labels["pop.operation"])
            assert op is not None
            self.seen_at_cleanup.append((str(op.processing_state), op.processing_state_message))
            await original()

        handle.cleanup = cleanup  # type: ignore[method-assign]
        return handle


def test_a_launch_is_cleaned_up_only_after_its_outcome_is_recorded(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    launcher = WatchedLauncher(settings.store_path, script=_quiet)
    run_agenda(tmp_path, _agenda({"name": "t", "type": "true"}), launcher, settings=settings)
    assert launcher.seen_at_cleanup == [("COMPLETE", "succeeded")]


def test_a_cancelled_attempt_task_stops_and_releases_its_launch(tmp_path: Path) -> None:
    from pop.engine.launched import LaunchedAttempt

    settings = make_settings(tmp_path)
    launcher = FakeLauncher(lambda spec: FakeRun(["up"], 0, 60.0))
    cleaned: list[bool] = []

    async def body() -> None:
        attempt = LaunchedAttempt(
            launcher,
            settings,
            clock=lambda: 0.0,
            on_progress=lambda progress: None,
            record_launch=lambda record: None,
            stopping=lambda: False,
        )
        state = OpState(operation=Operation(name="long", type="true"))
        entry = make_registry(tmp_path).lookup("true")
        task = asyncio.ensure_future(
            attempt.run(state, entry, LaunchSpec(name="long", command=["x"]), None, silence=None)
        )
        while not launcher.launches:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cleaned.append(attempt.handle is None)

    asyncio.run(asyncio.wait_for(body(), 20))
    (launch,) = launcher.launches
    assert launch.status is not None and launch.status.reason == "cancelled"
    assert cleaned == [True]


def _failed(outcome: str) -> OpState:
    state = OpState(operation=Operation(name="x", type="true"), status=DONE_FAILED)
    state.outcome = outcome
    return state


@pytest.mark.parametrize(
    ("stop", "expected"),
    [
        (Stop(StopKind.CANCELLED, "interrupted (Ctrl-C)"), "cancelled"),
        (Stop(StopKind.TIMEOUT, "any words at all"), "timeout"),
        (Stop(StopKind.LOST, "timed out, but the lease was lost"), "lost"),
    ],
)
def test_the_agenda_failure_kind_comes_from_the_stop_kind_not_its_words(
    stop: Stop, expected: str
) -> None:
    assert failure_kind([_failed(OutcomeKind.FAILED)], [], stop) == expected


def test_failure_kind_without_a_stop_reads_the_op_outcomes() -> None:
    assert failure_kind([_failed(OutcomeKind.FAILED)], [], None) == "failed"
    assert failure_kind([_failed(OutcomeKind.PERMANENT)], [], None) == "permanent"
    assert failure_kind([_failed(OutcomeKind.FAILED)], [DiagnosticEvent.of("deadlock")], None) == (
        "permanent"
    )


def test_safe_names_stay_and_unsafe_or_colliding_ones_get_a_hash() -> None:
    assert file_name("transcode_720p") == "transcode_720p"
    assert file_name("a.b") == "a.b"
    unsafe = [file_name(name) for name in ("a/b", "a b", "a:b")]
    assert len(set(unsafe)) == 3
    assert all(name.startswith("a_b-") and len(name) == len("a_b-") + 6 for name in unsafe)
    assert file_name("..") != ".." and file_name(".hidden") != ".hidden"
    assert dns_label("thumb-1") == "thumb-1"
    labels = {dns_label(name) for name in ("a_b", "a.b", "a b", "A-B")}
    assert len(labels) == 4
    assert all(len(label) <= 63 for label in labels)


def test_launch_names_hash_the_whole_agenda_id_and_fit_dns_rules() -> None:
    first = launch_name("0123456789-aaaa", "transcode", 1)
    second = launch_name("0123456789-bbbb", "transcode", 1)
    assert first != second  # same first 8 characters, different agendas
    long = launch_name("x" * 36, "Transcode The Whole Thing/" * 5, 12)
    assert len(long) <= 63 and long.endswith("-12")
    assert all((c.isalnum() and c.islower()) or c.isdigit() or c == "-" for c in long)


def test_two_ops_whose_names_differ_only_in_unsafe_characters_keep_apart(tmp_path: Path) -> None:
    registry = make_registry(tmp_path, {"write": {"command": ["sh", "-c", "echo $0 > out.txt"]}})
    agenda = _agenda(
        {"name": "a/b", "type": "write", "payload": {"args": ["slash"]}},
        {"name": "a b", "type": "write", "payload": {"args": ["space"]}},
    )
    from pop.runtimes.local import LocalLauncher

    run = run_agenda(tmp_path, agenda, LocalLauncher(), registry=registry)
    assert run.progress.succeeded
    logs = {Path(row["logPath"]).name for row in run.attempts()}
    assert len(logs) == 2
    work_dir = make_settings(tmp_path).work_root / run.agenda_id
    written = sorted(path.read_text().strip() for path in work_dir.glob("*/1/out.txt"))
    assert written == ["slash", "space"]


class FaultyWhileRunning(FakeLauncher):
    """A runtime whose wait() fails while the op runs (an engine fault mid-run)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cleaned: list[str] = []

    async def launch(self, spec: LaunchSpec) -> FakeHandle:
        handle = await super().launch(spec)
        if spec.labels.get("pop.operation") != "boom":
            return handle
        cleanup = handle.cleanup

        async def wait() -> Any:
            await asyncio.sleep(0.2)
            raise ConnectionResetError("the engine hung up")

        async def cleaned() -> None:
            self.cleaned.append(spec.name)
            await cleanup()

        handle.wait = wait  # type: ignore[method-assign]
        handle.cleanup = cleaned  # type: ignore[method-assign]
        return handle


def test_an_engine_fault_while_an_op_runs_fails_it_and_releases_the_launch(
    tmp_path: Path,
) -> None:
    launcher = FaultyWhileRunning(script=lambda spec: FakeRun(["working"], 0, 5.0))
    run = run_agenda(
        tmp_path,
        _agenda({"name": "boom", "type": "true"}, {"name": "fine", "type": "true"}),
        launcher,
    )
    assert run.progress.processing_state == ProcessingState.COMPLETE
    boom = run.op("boom")
    assert [d.message for d in boom.diagnostic_events or []] == [
        "internal error: ConnectionResetError: the engine hung up"
    ]
    assert len(launcher.cleaned) == 1


def test_a_secret_env_entry_never_reaches_a_process_as_text(tmp_path: Path) -> None:
    """``secretKeyRef`` values are for pods; local and docker launches get the plain ones only."""
    registry = make_registry(
        tmp_path,
        {
            "withEnv": {
                "command": ["true"],
                "envVars": {"PLAIN": "1", "TOKEN": {"secretKeyRef": {"name": "s", "key": "k"}}},
            }
        },
    )
    launcher = FakeLauncher(_quiet)
    run_agenda(tmp_path, _agenda({"name": "e", "type": "withEnv"}), launcher, registry=registry)
    (launch,) = launcher.launches
    assert launch.spec.env["PLAIN"] == "1"
    assert "TOKEN" not in launch.spec.env
