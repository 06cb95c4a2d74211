"""Test media generated with the located ffmpeg (test pattern and tone), once per session.

``media``: the basic clips; ``library``: what real libraries hold (a rotated phone clip, a
variable frame rate clip, several audio tracks); ``http_media``: a real ``http.server`` in a
thread serving the ``media`` and ``library`` folders (plus error and no-Content-Length routes);
``ffmpeg_wrapper``: a shell script that logs each call and runs the real ffmpeg.
"""

from __future__ import annotations

import http.server
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pop.handlers.media.ffmpeg import find_ffmpeg

PATTERN = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "longer: the one media test on a longer clip (10 s of 720p); -m 'not longer' skips it",
    )


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
    # the same bytes every run: fresh random bytes now and then look like an MPEG audio frame
    # to the demuxer, and the probe's error is then another one (a flaky test)
    corrupt.write_bytes(b"this is not media\n" * 256)
    return Media(
        clip=_make(ffmpeg, PATTERN + TONE, [*h264, "-c:a", "aac"], folder / "clip.mp4"),
        audio_only=_make(ffmpeg, TONE, ["-c:a", "aac"], folder / "audio.m4a"),
        video_only=_make(ffmpeg, PATTERN, h264, folder / "video.mp4"),
        corrupt=corrupt,
    )


@dataclass(frozen=True)
class Library:
    """Clips that real libraries hold: portrait phone video (coded 320x240, ``rotate`` 90), a
    variable frame rate clip (25 fps, then 12.5 fps and slower), and two audio tracks (track 0
    mono English 440 Hz, track 1 stereo French 880 Hz)."""

    rotated: Path
    vfr: Path
    multi_audio: Path


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory, media: Media) -> Library:
    folder = tmp_path_factory.mktemp("library")
    ffmpeg = find_ffmpeg()
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    # -display_rotation is counter-clockwise; a phone's rotate=90 tag is the clockwise -90.
    rotated = _make(
        ffmpeg,
        ["-display_rotation:v", "-90", "-i", str(media.clip)],
        ["-c", "copy"],
        folder / "portrait.mp4",
    )
    small = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1.6"]
    irregular = "setpts='(N/25+if(gte(N\\,25)\\,(N-25)*0.04\\,0))/TB'"
    vfr = _make(ffmpeg, small, ["-vf", irregular, "-fps_mode", "vfr", *h264], folder / "vfr.mp4")
    tracks = [
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:duration=1",
    ]
    multi_audio = _make(
        ffmpeg,
        tracks,
        [
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map",
            "2:a",
            *h264,
            "-c:a",
            "aac",
            "-ac:a:1",
            "2",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=fra",
        ],
        folder / "tracks.mp4",
    )
    return Library(rotated=rotated, vfr=vfr, multi_audio=multi_audio)


class _MediaRequests(http.server.SimpleHTTPRequestHandler):
    """Files under the served folder; ``/status/<code>`` answers that status;
    ``/unsized/<path>`` sends the file without a Content-Length (closing the connection)."""

    def do_GET(self) -> None:
        if self.path.startswith("/status/"):
            code = int(self.path.rsplit("/", 1)[1])
            self.send_response(code)
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/unsized/"):
            target = Path(self.directory) / self.path[len("/unsized/") :]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(target.read_bytes())
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]


@dataclass
class HttpMedia:
    """A running server: ``url(path)`` of a file relative to ``root``; ``requests`` it saw."""

    root: Path
    base: str
    requests: list[str]

    def url(self, path: Path | str) -> str:
        relative = Path(path).relative_to(self.root) if Path(path).is_absolute() else path
        return f"{self.base}/{relative}"


@pytest.fixture(scope="session")
def http_media(
    tmp_path_factory: pytest.TempPathFactory, media: Media, library: Library
) -> Iterator[HttpMedia]:
    root = media.clip.parent.parent  # the session's base temp folder: media/ and library/
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *args: _MediaRequests(*args, directory=str(root)),
    )
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield HttpMedia(root=root, base=f"http://{host!s}:{port}", requests=server.requests)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


FfmpegWrapper = Callable[..., tuple[Path, Path]]


@pytest.fixture
def ffmpeg_wrapper(tmp_path: Path) -> FfmpegWrapper:
    """``ffmpeg_wrapper(hide_filter=None, hide_encoder=None)`` -> (script, call log): a script
    that appends its arguments to the log and runs the real ffmpeg; with ``hide_filter`` its
    ``-filters`` listing leaves that filter out, with ``hide_encoder`` its ``-encoders`` listing
    leaves that encoder out and a run asking for it fails as ffmpeg does (a build without them,
    as far as pop can tell)."""

    def make(hide_filter: str | None = None, hide_encoder: str | None = None) -> tuple[Path, Path]:
        real = find_ffmpeg()
        log = tmp_path / "ffmpeg-calls.log"
        script = tmp_path / "ffmpeg-wrapper.sh"
        hide = ""
        if hide_filter:
            hide += (
                f'case " $* " in *" -filters "*) "{real}" "$@" | grep -v " {hide_filter} "; '
                "exit 0;; esac\n"
            )
        if hide_encoder:
            hide += (
                f'case " $* " in *" -encoders "*) "{real}" "$@" | grep -v " {hide_encoder} "; '
                "exit 0;; esac\n"
                f'case " $* " in *" {hide_encoder} "*) '
                f"echo \"Unknown encoder '{hide_encoder}'\" >&2; exit 8;; esac\n"
            )
        script.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n{hide}exec "{real}" "$@"\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return script, log

    assert shutil.which("sh"), "the wrapper needs a POSIX shell"
    return make
