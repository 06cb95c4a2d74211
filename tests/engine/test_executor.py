"""The executor: DAG walk, fail-fast, deadlock, references, concurrency, CPU budget, progress."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pop.engine.executor import AgendaRunner, RunOptions
from pop.errors import RuntimeUnavailableError
from pop.runtimes.base import LaunchSpec
from pop.runtimes.fake import FakeLauncher, FakeRun, protocol_handler_script
from pop.runtimes.local import LocalLauncher
from pop.store import Store
from tests.engine.helpers import make_registry, make_settings, run_agenda, store_agenda


def sample(result: Any = None, *, seconds: float = 0.0, fail: bool = False) -> dict[str, Any]:
    """A fake-runtime payload of the sample type: succeed with ``result`` after ``seconds``."""
    payload: dict[str, Any] = {"resultPayload": result if result is not None else {}}
    if seconds or fail:
        lines = [
            'Progress: {"processingState":"EXECUTING","percentComplete":50}',
            "some output",
        ]
        if fail:
            lines += [
                'Progress: {"processingState":"COMPLETE","processingStateMessage":"failed",'
                '"diagnosticEvents":[{"message":"boom"}]}',
                "HandlerComplete",
            ]
        else:
            lines += [
                'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}',
                "Payload: " + json.dumps(payload["resultPayload"]),
                "HandlerComplete",
            ]
        payload["fake"] = {"lines": lines, "durationSeconds": seconds, "exitCode": 1 if fail else 0}
    return payload


def op(name: str, payload: Any = None, *, type_: str = "sample", **params: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, "payload": payload or {}, "params": params}


def overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a["startedTime"] < b["endedTime"] and b["startedTime"] < a["endedTime"]


def test_outputs_flow_through_references_with_their_json_types(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            op("a", sample({"n": 7, "flag": True, "list": [1, 2]})),
            op("b", sample({"n": "@<a.out::/n>", "flag": "@<a.out::/flag>", "all": "@<a.out>"})),
            op("c", sample({"text": "n=@<b.out::/n> id=@<pop.agendaId> me=@<pop.operationName>"})),
        ]
    }
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.succeeded
    assert run.op("b").result_payload == {
        "n": 7,
        "flag": True,
        "all": {"n": 7, "flag": True, "list": [1, 2]},
    }
    assert run.op("c").result_payload == {"text": f"n=7 id={run.agenda_id} me=c"}
    assert run.progress.percent_complete == 100.0


def test_independent_ops_overlap_in_time_on_the_local_runtime(tmp_path: Path) -> None:
    sleeper = {
        "actions": [{"action": "log", "paramsMap": {"logMessage": "x", "sleepMilliseconds": 600}}]
    }
    agenda = {"operations": [op("left", sleeper), op("right", sleeper), op("third", sleeper)]}
    run = run_agenda(tmp_path, agenda, LocalLauncher(), options=RunOptions(cpus=4))
    assert run.progress.succeeded
    left, right, third = (run.attempts(name)[0] for name in ("left", "right", "third"))
    assert overlaps(left, right) and overlaps(right, third) and overlaps(left, third)


def test_attempt_rows_record_the_launched_process_group(tmp_path: Path) -> None:
    run = run_agenda(tmp_path, {"operations": [op("t", type_="true")]}, LocalLauncher())
    (attempt,) = run.attempts("t")
    assert attempt["launched"]["runtime"] == "local"
    assert attempt["launched"]["ref"].startswith("pgid:")
    assert attempt["launched"]["details"]["pgid"] > 0
    assert attempt["outcome"] == "succeeded" and attempt["exitCode"] == 0


def test_a_plain_command_result_is_its_exit_code_unless_it_prints_a_payload(
    tmp_path: Path,
) -> None:
    agenda = {
        "operations": [
            op("plain", type_="true"),
            op("talks", {"args": ['echo "Payload: {\\"files\\": 3}"']}, type_="sh"),
            op("args", {"args": ["hello", "@<talks.out::/files>"]}, type_="echo"),
        ]
    }
    run = run_agenda(tmp_path, agenda, LocalLauncher())
    assert run.progress.succeeded, run.progress.diagnostic_events
    assert run.op("plain").result_payload == {"exitCode": 0}
    assert run.op("talks").result_payload == {"files": 3}
    assert run.store.progress.output_tail(run.progress.id or "", "args") == ["hello 3"]


def test_first_failure_stops_new_starts_and_running_ops_finish(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            op("slow", sample({"done": True}, seconds=0.4)),
            op("bad", sample(fail=True, seconds=0.1)),
            op("after_bad", sample({"x": "@<bad.out>"})),
            op("after_slow", sample({"x": "@<slow.out>"})),
        ]
    }
    launcher = FakeLauncher()
    run = run_agenda(tmp_path, agenda, launcher)
    assert run.progress.failed
    assert run.op("slow").succeeded
    assert run.op("bad").processing_state_message == "failed"
    for name in ("after_bad", "after_slow"):
        assert run.op(name).processing_state == "WAITING"
        assert run.attempts(name) == []
    launched = [launch.spec.labels["pop.operation"] for launch in launcher.launches]
    assert sorted(launched) == ["bad", "slow"]
    messages = [d.message or "" for d in run.progress.diagnostic_events or []]
    assert any("operation 'bad' failed: boom" in m for m in messages)


def test_a_failed_op_keeps_the_last_lines_of_its_output(tmp_path: Path) -> None:
    lines = [f"line {i}" for i in range(30)] + [
        'Progress: {"processingState":"COMPLETE","processingStateMessage":"failed"}',
        "HandlerComplete",
    ]
    agenda = {"operations": [op("noisy", {"fake": {"lines": lines, "exitCode": 1}})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    last = run.op("noisy").diagnostic_events[-1]
    assert last.payload == [f"line {i}" for i in range(20, 30)]


def test_an_invalid_pointer_fails_its_op_without_launching_it(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            op("a", sample({"x": 1})),
            op("b", sample({"y": "@<a.out::/missing>"})),
        ]
    }
    launcher = FakeLauncher()
    run = run_agenda(tmp_path, agenda, launcher)
    assert run.progress.failed
    assert [launch.spec.labels["pop.operation"] for launch in launcher.launches] == ["a"]
    message = run.op("b").diagnostic_events[0].message
    assert "@<a.out::/missing>" in message
    assert run.attempts("b") == []


def test_a_deadlock_names_the_blocked_ops_and_what_they_wait_for(tmp_path: Path) -> None:
    ghost_op = {"name": "ghost", "type": "sample", "payload": {"x": "@<never" + ".out>"}}

    def script(spec: LaunchSpec) -> FakeRun:
        return FakeRun(
            [
                'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}',
                "Payload: " + json.dumps({"operations": [ghost_op]}),
                "HandlerComplete",
            ]
        )

    generator = {"operationsJsonPointer": "/operations"}
    agenda = {"operations": [op("gen", {}, **{"agenda.operation.generator": generator})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher(script=script))
    assert run.progress.failed
    text = " ".join(d.message or "" for d in run.progress.diagnostic_events or [])
    assert "deadlock" in text and "ghost waits for never (no such operation)" in text


def test_generated_operations_join_the_running_and_the_stored_agenda(tmp_path: Path) -> None:
    child = {
        "name": "child",
        "type": "sample",
        "payload": {"resultPayload": {"from": "@<gen.out::/tag>"}},
    }
    output = {"operations": [child], "tag": "t1"}

    def script(spec: LaunchSpec) -> FakeRun:
        if spec.labels["pop.operation"] != "gen":
            return protocol_handler_script(spec)
        return FakeRun(
            [
                'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}',
                "Payload: " + json.dumps(output),
                "HandlerComplete",
            ]
        )

    generator = {"operationsJsonPointer": "operations"}
    agenda = {"operations": [op("gen", {}, **{"agenda.operation.generator": generator})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher(script=script))
    assert run.progress.succeeded, run.progress.diagnostic_events
    assert run.op("child").result_payload == {"from": "t1"}
    stored = run.store.agendas.get(run.agenda_id)
    assert [o.name for o in stored.operations] == ["gen", "child"]
    assert stored.operations[1].params["generatedOperationParent"] == "gen"


def test_a_generator_whose_pointer_is_missing_fails(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            op("gen", sample({}), **{"agenda.operation.generator": {"operationsJsonPointer": "/x"}})
        ]
    }
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.failed
    assert "not found" in (run.op("gen").diagnostic_events[0].message or "")


def max_overlap(launcher: FakeLauncher) -> int:
    points = []
    for launch in launcher.launches:
        points += [(launch.started_at, 1), (launch.ended_at or 0.0, -1)]
    current = best = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        current += delta
        best = max(best, current)
    return best


def test_concurrency_bounds_the_ops_running_at_once(tmp_path: Path) -> None:
    agenda = {"operations": [op(f"o{i}", sample(seconds=0.05)) for i in range(12)]}
    launcher = FakeLauncher()
    run = run_agenda(tmp_path, agenda, launcher, options=RunOptions(concurrency=3, cpus=100))
    assert run.progress.succeeded
    assert max_overlap(launcher) == 3


def test_the_cpu_budget_keeps_heavy_ops_from_overcommitting_the_cores(tmp_path: Path) -> None:
    agenda = {"operations": [op(f"h{i}", sample(seconds=0.05), type_="heavy") for i in range(4)]}
    launcher = FakeLauncher()
    run = run_agenda(tmp_path, agenda, launcher, options=RunOptions(concurrency=50, cpus=4))
    assert run.progress.succeeded
    assert max_overlap(launcher) == 2
    order = [launch.spec.labels["pop.operation"] for launch in launcher.launches]
    assert order == ["h0", "h1", "h2", "h3"]


def test_a_handler_that_reports_success_but_exits_nonzero_fails_saying_so(tmp_path: Path) -> None:
    lines = [
        'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}',
        "HandlerComplete",
    ]
    agenda = {"operations": [op("liar", {"fake": {"lines": lines, "exitCode": 3}})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.failed
    assert "reported succeeded but exited with code 3" in (
        run.op("liar").diagnostic_events[-1].message or ""
    )


def test_a_handler_without_a_final_report_fails_with_its_last_lines(tmp_path: Path) -> None:
    agenda = {"operations": [op("mute", {"fake": {"lines": ["crashed here"], "exitCode": 0}})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    last = run.op("mute").diagnostic_events[-1]
    assert "without reporting completion" in (last.message or "")
    assert last.payload == ["crashed here"]


def test_a_handler_that_never_prints_handler_complete_fails(tmp_path: Path) -> None:
    lines = ['Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}']
    agenda = {"operations": [op("noend", {"fake": {"lines": lines}})]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert "HandlerComplete" in (run.op("noend").diagnostic_events[-1].message or "")


def test_progress_is_rolled_up_into_the_agenda_percent(tmp_path: Path) -> None:
    seen: list[float] = []

    async def watch(runner: AgendaRunner, store: Store, agenda_id: str) -> None:
        for _ in range(1200):  # until the agenda completes, however slow the machine is
            await asyncio.sleep(0.05)
            progress = store.progress.get(agenda_id)
            assert progress is not None
            seen.append(progress.percent_complete or 0.0)
            if progress.processing_state == "COMPLETE":
                return

    agenda = {"operations": [op("done", sample()), op("half", sample(seconds=1.5))]}
    settings = make_settings(tmp_path, progress_interval_seconds=0.0)
    run_agenda(tmp_path, agenda, FakeLauncher(), settings=settings, during=watch)
    # one op done (100) and one at 50 % of two ops → 75 %
    assert 75.0 in seen


def test_an_unreachable_runtime_leaves_the_agenda_waiting(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    store = Store.open(settings.store_path)
    agenda_id = store_agenda(store, {"operations": [op("a", sample())]})
    runner = AgendaRunner(
        store, make_registry(tmp_path), FakeLauncher(available=False), settings, RunOptions()
    )
    with pytest.raises(RuntimeUnavailableError):
        asyncio.run(runner.run(agenda_id))
    progress = store.progress.get(agenda_id)
    assert progress is not None and progress.processing_state == "WAITING"
    assert store.progress.lease_of(agenda_id) == (None, None)


def test_a_cancel_request_in_the_store_stops_running_handlers(tmp_path: Path) -> None:
    async def cancel_soon(runner: AgendaRunner, store: Store, agenda_id: str) -> None:
        for _ in range(1200):  # once "long" runs (not after a fixed sleep: a busy machine lags)
            progress = store.progress.get(agenda_id)
            long = progress.operation("long") if progress is not None else None
            if long is not None and long.processing_state == "EXECUTING":
                break
            await asyncio.sleep(0.05)
        store.progress.request_cancel(agenda_id)

    agenda = {
        "operations": [op("long", sample(seconds=30)), op("next", sample({"x": "@<long.out>"}))]
    }
    run = run_agenda(tmp_path, agenda, FakeLauncher(), during=cancel_soon)
    assert run.progress.failed
    assert run.op("long").processing_state_message == "failed"
    assert run.op("next").processing_state == "WAITING"
    text = " ".join(d.message or "" for d in run.progress.diagnostic_events or [])
    assert "cancel" in text
    assert run.store.progress.lease_of(run.agenda_id) == (None, None)


def test_handlers_get_the_work_directory_and_their_own_attempt_folder(tmp_path: Path) -> None:
    launcher = FakeLauncher(script=lambda spec: FakeRun(["Payload: {}"], exit_code=0))
    agenda = {"operations": [op("t", type_="true")]}
    settings = make_settings(tmp_path)
    run = run_agenda(tmp_path, agenda, launcher, settings=settings)
    spec = launcher.launches[0].spec
    work = settings.work_root / run.agenda_id
    assert spec.env["POP_WORK_DIR"] == str(work)
    assert spec.env["POP_OP_DIR"] == str(work / "t" / "1")
    assert (work / "t" / "1").is_dir()
    assert spec.env["OPERATION_NAME"] == "t" and spec.env["AGENDA_ID"] == run.agenda_id


def test_handler_output_goes_to_a_capped_log_file(tmp_path: Path) -> None:
    lines = [f"{i:04d} " + "x" * 95 for i in range(100)]
    launcher = FakeLauncher(script=lambda spec: FakeRun(lines))
    settings = make_settings(tmp_path, log_cap_bytes=2000)
    run = run_agenda(tmp_path, {"operations": [op("t", type_="true")]}, launcher, settings=settings)
    (attempt,) = run.attempts("t")
    text = Path(attempt["logPath"]).read_text()
    assert text.startswith("0000 ")
    assert "log capped at 2000 bytes" in text
    assert len(text) < 2400
    tail = run.store.progress.output_tail(run.progress.id or "", "t")
    assert tail[-1].startswith("0099 ")


def test_resident_handlers_run_inside_the_executor(tmp_path: Path) -> None:
    agenda = {
        "operations": [
            op("log", {"logMessages": ["hi"]}, type_="logMessages"),
            op("n", {}, type_="noop", dependsOn="log"),
        ]
    }
    launcher = FakeLauncher()
    run = run_agenda(tmp_path, agenda, launcher)
    assert run.progress.succeeded
    assert launcher.launches == []
    assert run.attempts("n")[0]["runtime"] == "resident"


def test_an_op_past_its_timeout_is_stopped_and_fails_naming_the_timeout(tmp_path: Path) -> None:
    agenda = {"operations": [op("slow", sample(seconds=30), timeoutSeconds=0.3)]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.failed
    message = run.op("slow").diagnostic_events[-1].message or ""
    assert "timed out after 0.3 s" in message
    assert run.attempts("slow")[0]["outcome"] == "timeout"


def test_an_op_of_a_type_the_registry_lacks_fails_without_stopping_the_run(tmp_path: Path) -> None:
    agenda = {"operations": [op("a", sample()), op("ghost", {}, type_="vanished")]}
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.failed
    assert run.op("a").succeeded
    assert "vanished" in (run.op("ghost").diagnostic_events[0].message or "")
    assert run.store.progress.lease_of(run.agenda_id) == (None, None)


def test_a_log_only_generator_adds_no_operations(tmp_path: Path) -> None:
    child = {"name": "child", "type": "sample", "payload": {}}
    generator = {"operationsJsonPointer": "/operations", "logOnly": True}
    agenda = {
        "operations": [
            op("gen", sample({"operations": [child]}), **{"agenda.operation.generator": generator})
        ]
    }
    run = run_agenda(tmp_path, agenda, FakeLauncher())
    assert run.progress.succeeded
    assert [o.operation for o in run.progress.operation_progress or []] == ["gen"]
    assert [o.name for o in run.store.agendas.get(run.agenda_id).operations] == ["gen"]
