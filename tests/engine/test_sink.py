"""The progress sink seam (issue 13, item 6): an agenda's run reads and writes only through its
ProgressSink, in the order pop/engine/sink.py documents; only the sink module touches the store."""

from __future__ import annotations

import ast
import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pop.engine.executor import AgendaRunner, RunOptions
from pop.engine.sink import ProgressSink
from pop.engine.store_sink import StoreSink
from pop.errors import PopError
from pop.models import AgendaProgress
from pop.runtimes.base import LaunchSpec
from pop.runtimes.fake import FakeLauncher, FakeRun, protocol_handler_script
from pop.runtimes.local import LocalLauncher
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings, store_agenda

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"
SINK_METHODS = {name for name in vars(ProgressSink) if not name.startswith("_")}
OP_WRITES = {"start_attempt", "record_launch", "op_progress", "op_outcome", "op_retry"}
LEASE_CALLS = {"renew_lease", "cancel_requested"}
# api-side writes and the views' reads: not part of a run, they use the store itself
STORE_USERS = {"store_sink.py", "submission.py", "rerun.py", "templates.py", "outputs.py"}


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any = None


@dataclass
class RecordingSink:
    """A ProgressSink that hands every call to another and notes it, in order."""

    inner: ProgressSink
    calls: list[Call] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def record(*args: Any, **kwargs: Any) -> Any:
            call = Call(name, args, kwargs)
            self.calls.append(call)
            call.result = method(*args, **kwargs)
            return call.result

        return record

    def names(self) -> list[str]:
        return [call.name for call in self.calls]


def forbidden_store(touched: list[str]) -> Any:
    """Stands where the runner's store would be: any use of it is noted and fails."""

    class ForbiddenStore:
        def __getattribute__(self, name: str) -> Any:
            touched.append(name)
            raise AssertionError(f"the run used the store, not its sink: store.{name}")

    return ForbiddenStore()


def run_through_sink(
    tmp_path: Path, agenda: dict[str, Any], launcher: Any, **settings_changes: Any
) -> tuple[AgendaProgress, RecordingSink, Store]:
    settings = make_settings(tmp_path, **settings_changes)
    store = Store.open(settings.store_path)
    agenda_id = store_agenda(store, agenda)
    sink = RecordingSink(StoreSink(store))
    touched: list[str] = []
    runner = AgendaRunner(
        forbidden_store(touched),
        make_registry(tmp_path),
        launcher,
        settings,
        RunOptions(launch=launcher.name),
        sink=sink,
    )
    progress = asyncio.run(runner.run(agenda_id))
    assert touched == []
    return progress, sink, store


def assert_documented_order(calls: list[Call]) -> None:
    """The order of pop/engine/sink.py: reads, claim, begin; per attempt its start, then its
    launch records and reports, then one end; finish, then the read of the result."""
    names = [call.name for call in calls]
    assert set(names) <= SINK_METHODS
    assert names[:4] == ["agenda", "progress", "claim", "begin"]
    assert names[-2:] == ["finish", "progress"]
    agenda_id = calls[0].args[0]
    assert calls[2].result == calls[2].args[1]  # claimed: the lease is the runner's
    assert calls[-2].kwargs["attempt_id"] == calls[3].result  # the agenda attempt begun
    assert calls[-2].result is True
    started: dict[int, str] = {}  # attempt id -> op
    ended: set[int] = set()
    running: set[str] = set()
    invalid: set[str] = set()
    generated_at: int | None = None
    for index, call in enumerate(calls[4:-2], start=4):
        assert call.name in OP_WRITES | LEASE_CALLS | {"op_invalid", "add_generated"}, call
        if call.name in LEASE_CALLS:
            assert call.args[0] == agenda_id
        elif call.name == "start_attempt":
            operation = call.args[2]
            assert operation not in running and operation not in invalid
            started[call.result] = operation
            running.add(operation)
        elif call.name == "record_launch":
            assert call.args[0] in started and call.args[0] not in ended
        elif call.name == "op_progress":
            assert call.args[1] in running
        elif call.name in ("op_outcome", "op_retry"):
            attempt_id = call.args[2]
            assert started[attempt_id] == call.args[1] and attempt_id not in ended
            ended.add(attempt_id)
            running.discard(call.args[1])
        elif call.name == "op_invalid":
            assert call.args[1] not in running and call.args[1] not in started.values()
            invalid.add(call.args[1])
        elif call.name == "add_generated":
            generated_at = index
            following = calls[index + 1]  # the success of the generator that added them
            assert following.name == "op_outcome" and following.args[1] in running
    assert running == set() and set(started) == ended  # every attempt ended before finish
    if generated_at is not None:
        names_added = {op.operation for op in calls[generated_at].args[2]}
        for call in calls[:generated_at]:
            assert call.name != "start_attempt" or call.args[2] not in names_added


def test_hello_runs_through_its_sink_in_the_documented_order(tmp_path: Path) -> None:
    agenda = json.loads((EXAMPLES / "hello.json").read_text(encoding="utf-8"))
    progress, sink, store = run_through_sink(
        tmp_path, agenda, LocalLauncher(), lease_renew_seconds=0.2
    )
    assert progress.succeeded, progress.diagnostic_events
    assert_documented_order(sink.calls)
    names = sink.names()
    assert {"renew_lease", "cancel_requested"} <= set(names)  # the lease keeper's, via the sink
    ended = {c.args[1]: i for i, c in enumerate(sink.calls) if c.name == "op_outcome"}
    started = {c.args[2]: i for i, c in enumerate(sink.calls) if c.name == "start_attempt"}
    assert set(ended) == set(started) == {"prepare", "shout", "whisper", "note", "combine"}
    assert started["shout"] > ended["prepare"] and started["whisper"] > ended["prepare"]
    assert started["combine"] > max(ended["shout"], ended["whisper"], ended["note"])
    # what the sink wrote is what the store holds
    stored = store.progress.get(progress.agenda_id or "")
    assert stored is not None and stored.succeeded
    assert stored.to_wire() == progress.to_wire()


def test_retries_invalid_and_generated_ops_use_every_method_of_the_sink(tmp_path: Path) -> None:
    """A generator adds ``child`` (failing once, then retried) and ``ghost`` (whose reference
    into child's output does not resolve): every ProgressSink method is called, in order."""
    generated = [
        {
            "name": "child",
            "type": "sample",
            "params": {"retries": {"limit": 1, "backoffSeconds": 0}},
        },
        {"name": "ghost", "type": "sample", "payload": {"x": "@<child.out::/missing>"}},
    ]

    def script(spec: LaunchSpec) -> FakeRun:
        op, attempt = spec.labels["pop.operation"], spec.labels["pop.attempt"]
        report = 'Progress: {"processingState":"EXECUTING","percentComplete":40}'
        if op == "gen":
            payload = "Payload: " + json.dumps({"operations": generated})
            done = 'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}'
            return FakeRun([report, done, payload, "HandlerComplete"])
        if op == "child" and attempt == "1":
            return FakeRun([report, "boom"], exit_code=1)
        if op == "child":
            return FakeRun([report, *protocol_handler_script(spec).lines], duration=0.5)
        return protocol_handler_script(spec)

    agenda = {
        "operations": [
            {
                "name": "gen",
                "type": "sample",
                "params": {"agenda.operation.generator": {"operationsJsonPointer": "/operations"}},
            }
        ]
    }
    progress, sink, _ = run_through_sink(
        tmp_path, agenda, FakeLauncher(script=script), lease_renew_seconds=0.1
    )
    assert progress.failed
    assert_documented_order(sink.calls)
    assert set(sink.names()) == SINK_METHODS
    (retry,) = [call for call in sink.calls if call.name == "op_retry"]
    assert retry.args[1] == "child"
    (invalid,) = [call for call in sink.calls if call.name == "op_invalid"]
    assert invalid.args[1] == "ghost"
    child = progress.operation("child")
    assert child is not None and child.succeeded and child.attempt_count == 2


def test_a_runner_needs_a_store_or_a_sink(tmp_path: Path) -> None:
    with pytest.raises(PopError, match="a store or a progress sink"):
        AgendaRunner(
            None, make_registry(tmp_path), FakeLauncher(), make_settings(tmp_path), RunOptions()
        )


def _store_uses(path: Path) -> list[str]:
    """Each ``store.<x>`` / ``<y>.store.<x>`` in a module: a use of the store itself."""
    uses = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        named = (isinstance(owner, ast.Name) and owner.id == "store") or (
            isinstance(owner, ast.Attribute) and owner.attr == "store"
        )
        if named:
            uses.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return uses


def test_only_the_store_sink_and_the_api_side_modules_touch_the_store() -> None:
    engine = REPO_ROOT / "pop" / "engine"
    assert {"store_sink.py", "sink.py", "executor.py"} <= {p.name for p in engine.glob("*.py")}
    uses = [use for path in sorted(engine.glob("*.py")) for use in _store_uses(path)]
    assert [use for use in uses if use.split(":")[0] not in STORE_USERS] == []
    assert any(use.startswith("store_sink.py") for use in uses)  # the check sees store uses
