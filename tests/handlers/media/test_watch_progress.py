"""``pop status --watch`` shows a transcode's percent rising from ffmpeg's own ``-progress``
output (issue 5's acceptance): the agenda runs in one ``pop`` process, the watch in another."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from pop.handlers.media.ffmpeg import find_ffmpeg

ROOT = Path(__file__).resolve().parents[3]
LINE = re.compile(r"^\d\d:\d\d:\d\d transcode (\d+\.\d)% (.*)$")


def test_status_watch_shows_the_percent_rising(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    subprocess.run(
        [
            find_ffmpeg(), "-v", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=960x540:rate=25:duration=12",
            "-f", "lavfi", "-i", "sine=duration=12",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(source),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    agenda = tmp_path / "agenda.json"
    rendition = {"name": "slow", "videoCodec": "h264", "preset": "medium", "crf": 20}
    agenda.write_text(
        json.dumps(
            {
                "operations": [
                    {
                        "name": "transcode",
                        "type": "transcode",
                        "payload": {"input": str(source), "renditions": [rendition]},
                    }
                ]
            }
        )
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("POP_")}
    env.update(POP_HOME=str(tmp_path / "home"), POP_PROGRESS_INTERVAL="0.2")

    def pop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pop", *args],
            capture_output=True, text=True, env=env, timeout=300, cwd=ROOT,
        )  # fmt: skip

    submitted = pop("submit", str(agenda), "--json")
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    runner = subprocess.Popen(
        [sys.executable, "-m", "pop", "run-local", "--resume", agenda_id, "--quiet"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        watched = pop("status", agenda_id, "--watch")
    finally:
        _, runner_stderr = runner.communicate(timeout=300)
    assert runner.returncode == 0, runner_stderr
    assert watched.returncode == 0, watched.stderr

    updates = [LINE.match(line) for line in watched.stdout.splitlines()]
    percents = [float(match.group(1)) for match in updates if match]
    messages = [match.group(2) for match in updates if match]
    between = [percent for percent in percents if 0 < percent < 100]
    assert len(between) >= 2, watched.stdout
    # never falls; holds while only the message (fps, speed) moves near the end of an encode
    assert between == sorted(between) and len(set(between)) >= 2
    assert any("fps" in message and "speed" in message for message in messages), messages
    assert "COMPLETE/succeeded" in watched.stdout
