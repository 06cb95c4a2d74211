"""A launched handler's output: protocol lines, the kept tail, and the capped log file.

Layer: engine. The executor feeds every output line to an :class:`OutputCollector`.

Protocol lines (DESIGN §6): ``Progress: <OperationProgress JSON>``, ``Payload: <result JSON>`` and
``HandlerComplete``. Every line (protocol or not) goes to the log file under
``$POP_HOME/logs/<agendaId>/`` until the size cap, and into a ring buffer whose tail is kept in
the store and quoted in failure diagnostics.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import IO, Any

from pop.models import OperationProgress

PROGRESS_PREFIX = "Progress: "
PAYLOAD_PREFIX = "Payload: "
COMPLETE_MARKER = "HandlerComplete"


class OutputCollector:
    """Reads one attempt's output lines: tracks reports, keeps a tail, writes the log file."""

    def __init__(self, log_path: Path | None, *, cap_bytes: int, tail_lines: int = 200) -> None:
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self.last_progress: OperationProgress | None = None
        self.final_progress: OperationProgress | None = None
        self.result: Any = None
        self.has_result = False
        self.completed_marker = False
        self.bad_reports: list[str] = []
        self._cap = cap_bytes
        self._written = 0
        self._dropped = 0
        self._log: IO[str] | None = None
        self.log_path = log_path
        if log_path is not None:
            # line-buffered: a follower of the log (logs?follow=true) sees each line at once
            self._log = log_path.open("a", encoding="utf-8", errors="replace", buffering=1)

    def feed(self, line: str) -> OperationProgress | None:
        """Take one line; returns the progress it reported, if it was a Progress line."""
        self._write(line)
        if line.startswith(PROGRESS_PREFIX):
            progress = self._parse_progress(line[len(PROGRESS_PREFIX) :])
            if progress is not None and self.final_progress is None:
                self.last_progress = progress
                if progress.processing_state == "COMPLETE":
                    self.final_progress = progress
                return progress
            return None
        if line.startswith(PAYLOAD_PREFIX):
            try:
                self.result = json.loads(line[len(PAYLOAD_PREFIX) :])
                self.has_result = True
            except ValueError:
                self.bad_reports.append(line[:200])
            return None
        if line.strip() == COMPLETE_MARKER:
            self.completed_marker = True
            return None
        self.tail.append(line)
        return None

    def _parse_progress(self, text: str) -> OperationProgress | None:
        try:
            return OperationProgress.model_validate_json(text)
        except ValueError:
            self.bad_reports.append(f"Progress: {text[:200]}")
            return None

    def _write(self, line: str) -> None:
        if self._log is None:
            return
        size = len(line) + 1
        if self._written + size > self._cap:
            if self._dropped == 0:
                self._log.write(f"[pop] log capped at {self._cap} bytes; later lines dropped\n")
            self._dropped += 1
            return
        self._written += size
        self._log.write(line + "\n")

    def last_lines(self, count: int) -> list[str]:
        if count <= 0:
            return []
        return list(self.tail)[-count:]

    def close(self) -> None:
        if self._log is not None:
            if self._dropped:
                self._log.write(f"[pop] {self._dropped} lines dropped after the cap\n")
            self._log.close()
            self._log = None
