"""Input media for the examples under examples/media and the media templates (used by
tests/test_examples.py): a tiny clip made with the ffmpeg pop itself finds, and example files
with their ``INPUT.mp4`` placeholder filled in. Also what the tests of ffmpeg on image runtimes
(docker containers, kubernetes pods) share: a slow transcode agenda, the rendition's facts,
and the external launches recorded in the attempt rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from pop.handlers.media.ffmpeg import find_ffmpeg

TRANSCODE_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "media" / "transcode.json"

PLACEHOLDER = "INPUT.mp4"


def make_clip(
    folder: Path, *, size: str = "320x240", seconds: float = 2, name: str = "clip.mp4"
) -> Path:
    """``seconds`` of a ``size``, 25 fps test pattern with a 440 Hz tone, H.264 and AAC in an
    .mp4. The default, 2 s of 320x240, is long enough for thumbnails at 0 s and 1 s and a
    filmstrip tile every second, small enough that every media example runs in about a second."""
    clip = folder / name
    subprocess.run(
        [
            find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds:g}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            str(clip),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return clip


def filled(example: Path, clip: Path, folder: Path) -> Path:
    """A copy of ``example`` in ``folder`` with its ``INPUT.mp4`` placeholder replaced by the
    clip's absolute path (as the example's title asks the user to do)."""
    text = example.read_text(encoding="utf-8")
    assert PLACEHOLDER in text, f"{example} has no {PLACEHOLDER} placeholder to fill"
    copy = folder / example.name
    copy.write_text(text.replace(PLACEHOLDER, str(clip)), encoding="utf-8")
    return copy


def slow_transcode_agenda(tmp_path: Path) -> Path:
    """examples/media/transcode.json on an 8-s 720p clip in ``tmp_path/clips``, encoded slowly:
    a transcode that keeps ffmpeg busy for a few seconds."""
    clips = tmp_path / "clips"
    clips.mkdir()
    clip = make_clip(clips, size="1280x720", seconds=8)
    document = json.loads(filled(TRANSCODE_EXAMPLE, clip, tmp_path).read_text())
    (rendition_spec,) = document["operations"][1]["payload"]["renditions"]
    rendition_spec.update(height=720, preset="slow", crf=18)
    path = tmp_path / "slow.json"
    path.write_text(json.dumps(document))
    return path


def transcode_rendition(progress: dict[str, Any]) -> tuple[Any, ...]:
    """(codec, width, height, frames) of the ``transcode`` op's one rendition."""
    import av

    (op,) = [op for op in progress["operationProgress"] if op["operation"] == "transcode"]
    (out,) = op["resultPayload"]["renditions"]
    with av.open(out["path"]) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        return (video.codec_context.name, video.codec_context.width, video.height, frames)


def recorded_externals(home: Path, agenda_id: str) -> list[dict[str, Any]]:
    """The external launches (ffmpeg) the attempt rows of the ``transcode`` op recorded."""
    with sqlite3.connect(home / "pop.db") as db:
        rows = db.execute(
            "SELECT launched FROM attempts WHERE agenda_id = ? AND operation = 'transcode'",
            (agenda_id,),
        ).fetchall()
    found: list[dict[str, Any]] = []
    for (launched,) in rows:
        if launched:
            found.extend(json.loads(launched).get("externals") or [])
    return found
