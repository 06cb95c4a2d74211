"""Ctrl-C on ``pop run-local``: running handlers are stopped, the agenda fails as cancelled (a
cancel request, as ``pop cancel`` makes), exit 130."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any


def test_ctrl_c_stops_the_run_and_exits_130(
    start_pop: Any, run_pop: Any, wait_for: Any, tmp_path: Path
) -> None:
    sleeper = {"action": "log", "paramsMap": {"logMessage": "zz", "sleepMilliseconds": 30000}}
    agenda = {"operations": [{"name": "nap", "type": "sample", "payload": {"actions": [sleeper]}}]}
    path = tmp_path / "nap.json"
    path.write_text(json.dumps(agenda))
    process = start_pop("run-local", str(path), "--json", "-q")

    def running() -> Any:
        listed = json.loads(run_pop("list", "--json").stdout or "[]")
        return listed and listed[0]["operationProgress"][0]["processingState"] == "EXECUTING"

    wait_for(running, what="the nap op to run")
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 130
    progress = json.loads(out)
    assert progress["processingStateMessage"] == "failed"
    messages = [event["message"] for event in progress["diagnosticEvents"]]
    assert "interrupted (Ctrl-C)" in messages
    assert progress["operationProgress"][0]["processingStateMessage"] == "failed"
    assert progress["cancelRequested"] is True
    listed = run_pop("list")
    assert listed.stdout.splitlines()[1].split()[1] == "cancelled", listed.stdout
    status = run_pop("status", progress["agendaId"])
    assert "COMPLETE/failed (cancelled)" in status.stdout
    assert "cancelled by local:" in status.stdout  # the change record of the request
