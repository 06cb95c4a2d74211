"""Input media for the examples under examples/media and the media templates (used by
tests/test_examples.py): a tiny clip made with the ffmpeg pop itself finds, and example files
with their ``INPUT.mp4`` placeholder filled in."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pop.handlers.media.ffmpeg import find_ffmpeg

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
