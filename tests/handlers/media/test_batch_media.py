"""``pop batch`` over real media (issue 5's acceptance): 16 files with one corrupt, eight agendas
at once on a two-CPU budget, then the same batch again; and examples/batch.py."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from pop.handlers.media.ffmpeg import find_ffmpeg

from .conftest import Media

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "examples" / "templates" / "transcode-360p.json"


@pytest.fixture
def folder(tmp_path: Path, media: Media) -> Path:
    """15 good clips and one corrupt file among them."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for index in range(15):
        shutil.copyfile(media.clip, inputs / f"clip{index:02d}.mp4")
    shutil.copyfile(media.corrupt, inputs / "clip07b.mp4")
    return inputs


@pytest.fixture
def timed_ffmpeg(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper that logs when each transcode (a run with ``-progress``) starts and ends."""
    log = tmp_path / "ffmpeg-times.log"
    script = tmp_path / "ffmpeg-timed.sh"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" -progress "*) ;; *) exec "' + find_ffmpeg() + '" "$@";; esac\n'
        f'echo "start $(date +%s%N)" >> "{log}"\n'
        f'"{find_ffmpeg()}" "$@"; code=$?\n'
        f'echo "end $(date +%s%N)" >> "{log}"\n'
        "exit $code\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, log


def pop(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("POP_")}
    environment.update({"POP_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "pop", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        cwd=ROOT,
    )


def most_at_once(events: list[tuple[int, int]]) -> int:
    """Largest number of (start, end) spans that overlap at one moment."""
    return max(sum(1 for start, end in events if start <= moment < end) for moment, _ in events)


def ffmpeg_spans(log: Path) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    starts: list[int] = []
    for line in log.read_text().splitlines():
        kind, stamp = line.split()
        if kind == "start":
            starts.append(int(stamp))
        else:
            spans.append((starts.pop(0), int(stamp)))
    return spans


def max_running(log: Path) -> int:
    """The most transcodes that were running at once, replaying the start/end log in order."""
    running = peak = 0
    for line in log.read_text().splitlines():
        running += 1 if line.startswith("start") else -1
        peak = max(peak, running)
    return peak


def attempt_rows(home: Path, operation: str) -> list[tuple[Any, ...]]:
    """(started_time, ended_time, launched) of the op's attempt rows, read from the store."""
    connection = sqlite3.connect(f"file:{home / 'pop.db'}?mode=ro", uri=True)
    try:
        return connection.execute(
            "SELECT started_time, ended_time, launched FROM attempts WHERE operation = ?",
            (operation,),
        ).fetchall()
    finally:
        connection.close()


def attempt_spans(home: Path, operation: str) -> list[tuple[int, int]]:
    return [(int(start), int(end)) for start, end, _ in attempt_rows(home, operation)]


def external_spans(home: Path, operation: str) -> list[tuple[int, int]]:
    """The external launches (ffmpeg) pop recorded in the op's attempt rows: each held its CPUs
    from ``startedTime`` to ``endedTime``."""
    return [
        (int(external["startedTime"]), int(external["endedTime"]))
        for _, _, launched in attempt_rows(home, operation)
        for external in json.loads(launched).get("externals", [])
    ]


def test_sixteen_files_one_corrupt_within_the_cpu_budget_then_nothing_again(
    tmp_path: Path, folder: Path, timed_ffmpeg: tuple[Path, Path]
) -> None:
    home = tmp_path / "home"
    script, log = timed_ffmpeg
    args = ("batch", str(TEMPLATE), str(folder), "--glob", "*.mp4", "--link-id", "library")
    env = {"POP_FFMPEG": str(script)}

    first = pop(home, *args, "--concurrency", "8", "--cpus", "2", "--json", env=env)

    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert (report["succeeded"], report["failed"], report["skipped"]) == (15, 1, 0)
    (failed,) = [item for item in report["items"] if item["state"] == "failed"]
    assert failed["input"].endswith("clip07b.mp4")
    assert failed["message"].startswith("transcode: ")
    # two CPUs, one per ffmpeg: never more than two ffmpeg runs at once, by ffmpeg's own clock
    # and by the launch times pop recorded in the attempts; the resident transcode ops
    # themselves (probing, waiting for a CPU) ran eight at a time
    assert max_running(log) == 2
    assert len(ffmpeg_spans(log)) == 15
    launches = external_spans(home, "transcode")
    assert len(launches) == 15
    assert most_at_once(launches) == 2
    assert most_at_once(attempt_spans(home, "transcode")) > 2
    for item in report["items"]:
        if item["state"] == "succeeded":
            status = json.loads(pop(home, "status", item["agendaId"], "--json").stdout)
            (rendition,) = status["operationProgress"][0]["resultPayload"]["renditions"]
            with av.open(rendition["path"]) as container:
                stream = container.streams.video[0]
                assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)

    log.unlink()
    attempts_before = len(attempt_spans(home, "transcode"))
    again = pop(home, *args, env=env)

    assert again.returncode == 1
    assert not log.exists() or ffmpeg_spans(log) == []  # no transcode launched for the 15
    assert len(attempt_spans(home, "transcode")) == attempts_before + 1  # the corrupt one only
    table = again.stdout.splitlines()
    broken = next(line for line in table if "clip07b.mp4" in line)
    assert "failed" in broken
    assert sum(1 for line in table[1:-1] if line.split()[1] == "skipped") == 15
    assert "0 succeeded, 1 failed, 15 skipped" in table[-1]


def test_the_batch_example_script_transcodes_a_folder(tmp_path: Path, media: Media) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copyfile(media.clip, inputs / name)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("POP_")}
    environment["POP_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch.py"), str(inputs), "--concurrency", "2"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        state, source, output = line.split()
        assert state == "succeeded" and source.startswith(str(inputs))
        assert Path(output).is_file() and output.endswith("360p.mp4")
    assert "2/2 files done" in done.stderr
