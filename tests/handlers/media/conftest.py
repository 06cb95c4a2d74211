"""Test media generated with the located ffmpeg (test pattern and tone), once per session."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pop.handlers.media.ffmpeg import find_ffmpeg

PATTERN = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"]
TONE = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]


@dataclass(frozen=True)
class Media:
    """Generated clips: audio+video, audio only, video only, and a corrupt .mp4."""

    clip: Path
    audio_only: Path
    video_only: Path
    corrupt: Path


def _make(ffmpeg: str, inputs: list[str], codecs: list[str], output: Path) -> Path:
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            *inputs,
            *codecs,
            str(output),
        ],
        check=True,
        timeout=60,
    )
    return output


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    ffmpeg = find_ffmpeg()
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    return Media(
        clip=_make(ffmpeg, PATTERN + TONE, [*h264, "-c:a", "aac"], folder / "clip.mp4"),
        audio_only=_make(ffmpeg, TONE, ["-c:a", "aac"], folder / "audio.m4a"),
        video_only=_make(ffmpeg, PATTERN, h264, folder / "video.mp4"),
        corrupt=corrupt,
    )
