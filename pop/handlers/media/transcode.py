"""The ``transcode`` handler: one input to one or more renditions, each probed and checked.

Layer: handlers. Registered as ``transcode`` (``pop.handlers.media.transcode:run``). ffmpeg runs
through ``ctx.launch_external`` (one run per rendition) with ``-progress pipe:1 -nostats``; its
progress becomes percent (of the whole op, against the probed input duration), fps and speed.

Payload::

    {"input": "path or file:// URL",
     "renditions": [{"name": "360p", "width": 640, "height": 360, "videoCodec": "h264",
                     "crf": 23, "videoBitrate": "800k", "preset": "veryfast", "fps": null,
                     "audioCodec": "aac", "audioBitrate": "128k"}]}

``videoCodec`` is h264, h265, vp9 or av1 (libx264, libx265, libvpx-vp9, libsvtav1; PermanentError
when the ffmpeg build lacks the encoder); ``audioCodec`` aac or opus. Give one of width/height to
keep the aspect ratio. Each rendition is written to ``<op_dir>/<name>.tmp.mp4`` and renamed to
``<op_dir>/<name>.mp4`` once it passed QC: duration within one frame (1/fps, at least 0.05 s) of
the input, and no empty stream. Output: ``{"renditions": [{"name", "path", "size", "duration",
"params": {"video": {...}, "audio": {...}}}]}`` with the probed params of the analysis handler.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.handlers.context import HandlerContext
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.inputs import existing_files
from pop.handlers.media.probe import ProbeResult, probe
from pop.handlers.media.progress import ProgressParser
from pop.models import WireModel

VIDEO_ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus"}
PRESET_ENCODERS = {"libx264", "libx265"}
MIN_DURATION_TOLERANCE = 0.05
FFMPEG_CPUS = 2.0
_BITRATE = re.compile(r"^[0-9]+(\.[0-9]+)?[kKmM]?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Rendition(WireModel):
    """One output: its file name (without extension), size, codecs and rate control."""

    name: str
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    video_codec: Literal["h264", "h265", "vp9", "av1"] = "h264"
    crf: int | None = Field(default=None, ge=0, le=63)
    video_bitrate: str | None = None
    preset: str | None = None
    fps: float | None = Field(default=None, gt=0)
    audio_codec: Literal["aac", "opus"] = "aac"
    audio_bitrate: str | None = "128k"

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _NAME.match(value) or value.endswith(".tmp"):
            raise ValueError("a rendition name is letters, digits, '_', '.', '-' (a file name)")
        return value

    @field_validator("video_bitrate", "audio_bitrate")
    @classmethod
    def _bitrate(cls, value: str | None) -> str | None:
        if value is not None and not _BITRATE.match(value):
            raise ValueError("a bitrate is a number with an optional k or M suffix, like 800k")
        return value

    @model_validator(mode="after")
    def _one_rate_control(self) -> Rendition:
        if self.crf is not None and self.video_bitrate is not None:
            raise ValueError("give crf or videoBitrate, not both")
        return self


class TranscodePayload(WireModel):
    """The transcode handler's payload: one input and its renditions (unique names)."""

    input: str
    renditions: list[Rendition] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> TranscodePayload:
        names = [rendition.name for rendition in self.renditions]
        if len(set(names)) != len(names):
            raise ValueError("rendition names must be unique")
        return self


@handler(payload_model=TranscodePayload)
def run(ctx: HandlerContext) -> Any:
    """Transcode the input to every rendition, probe and check each, publish by rename."""
    payload: TranscodePayload = ctx.payload
    (source,) = existing_files([payload.input])
    source_probe = probe(source, url=payload.input)
    ffmpeg = find_ffmpeg()
    _check_encoders(ctx, ffmpeg, payload.renditions)
    out_dir = ctx.op_dir or Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for position, rendition in enumerate(payload.renditions):
        outputs.append(
            _transcode_one(
                ctx,
                ffmpeg,
                source,
                source_probe,
                rendition,
                out_dir=out_dir,
                share=(position, len(payload.renditions)),
            )
        )
    return {"renditions": outputs}


def _check_encoders(ctx: HandlerContext, ffmpeg: str, renditions: list[Rendition]) -> None:
    wanted = {VIDEO_ENCODERS[r.video_codec] for r in renditions}
    wanted |= {AUDIO_ENCODERS[r.audio_codec] for r in renditions}
    listed: list[str] = []
    result = ctx.launch_external(
        [ffmpeg, "-hide_banner", "-nostdin", "-encoders"], name="ffmpeg", on_line=listed.append
    )
    if not result.ok:
        raise HandlerError(result.describe())
    available = {line.split()[1] for line in listed if len(line.split()) > 1}
    missing = sorted(wanted - available)
    if missing:
        raise PermanentError(f"This ffmpeg build ({ffmpeg}) has no encoder {', '.join(missing)}")


def ffmpeg_argv(
    ffmpeg: str, source: Path, rendition: Rendition, output: Path, *, has_video: bool
) -> list[str]:
    """The ffmpeg command line for one rendition (progress on stdout, errors only on stderr)."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(source)]
    argv += ["-map", "0:v:0?", "-map", "0:a:0?", "-map_metadata", "-1"]
    if has_video:
        encoder = VIDEO_ENCODERS[rendition.video_codec]
        argv += ["-c:v", encoder, "-pix_fmt", "yuv420p"]
        filters = []
        if rendition.width or rendition.height:
            filters.append(f"scale={rendition.width or -2}:{rendition.height or -2}")
        if rendition.fps:
            filters.append(f"fps={rendition.fps:g}")
        if filters:
            argv += ["-vf", ",".join(filters)]
        if rendition.crf is not None:
            argv += ["-crf", str(rendition.crf)]
            if encoder == "libvpx-vp9":
                argv += ["-b:v", "0"]  # constant quality mode
        elif rendition.video_bitrate:
            argv += ["-b:v", rendition.video_bitrate]
        if rendition.preset and encoder in PRESET_ENCODERS:
            argv += ["-preset", rendition.preset]
    argv += ["-c:a", AUDIO_ENCODERS[rendition.audio_codec]]
    if rendition.audio_bitrate:
        argv += ["-b:a", rendition.audio_bitrate]
    argv += ["-f", "mp4", "-progress", "pipe:1", "-nostats", str(output)]
    return argv


def _transcode_one(
    ctx: HandlerContext,
    ffmpeg: str,
    source: Path,
    source_probe: ProbeResult,
    rendition: Rendition,
    *,
    out_dir: Path,
    share: tuple[int, int],
) -> dict[str, Any]:
    position, count = share
    temporary = out_dir / f"{rendition.name}.tmp.mp4"
    final = out_dir / f"{rendition.name}.mp4"
    parser = ProgressParser(source_probe.duration)

    def on_line(line: str) -> None:
        update = parser.feed(line)
        if update is None:
            if "=" not in line:
                ctx.log(f"[ffmpeg {rendition.name}] {line}")
            return
        if update.percent is not None:
            overall = (position + update.percent / 100) / count * 100
            ctx.progress(overall, f"{rendition.name}: {update.message()}")

    argv = ffmpeg_argv(ffmpeg, source, rendition, temporary, has_video=bool(source_probe.video))
    result = ctx.launch_external(argv, name="ffmpeg", cpus=FFMPEG_CPUS, on_line=on_line)
    if not result.ok:
        temporary.unlink(missing_ok=True)
        raise HandlerError(f"Rendition {rendition.name}: {result.describe()}")
    output_probe = probe(temporary)
    problem = quality_problem(source_probe, output_probe, rendition)
    if problem:
        temporary.unlink(missing_ok=True)
        raise PermanentError(f"QC failed for rendition {rendition.name}: {problem}")
    temporary.replace(final)
    return {
        "name": rendition.name,
        "path": str(final),
        "size": final.stat().st_size,
        "duration": output_probe.duration,
        "params": {
            "video": output_probe.video[0]["params"] if output_probe.video else None,
            "audio": output_probe.audio[0]["params"] if output_probe.audio else None,
        },
    }


def quality_problem(source: ProbeResult, output: ProbeResult, rendition: Rendition) -> str | None:
    """What is wrong with ``output`` against ``source``, or None: a missing or empty stream, or a
    duration more than one frame (1/fps, at least 0.05 s) away from the source's."""
    for kind, source_streams, output_streams in (
        ("video", source.video, output.video),
        ("audio", source.audio, output.audio),
    ):
        if source_streams and not output_streams:
            return f"the output has no {kind} stream"
        for stream in output_streams:
            if not stream["params"].get("duration"):
                return f"the output's {kind} stream {stream['index']} is empty"
    fps = rendition.fps or output.frame_rate or source.frame_rate
    tolerance = max(1 / fps if fps else 0.0, MIN_DURATION_TOLERANCE)
    if source.duration is None or output.duration is None:
        return "the duration of the input or the output is unknown"
    difference = abs(output.duration - source.duration)
    if difference > tolerance:
        return (
            f"duration {output.duration:.3f} s differs from the input's {source.duration:.3f} s "
            f"by {difference:.3f} s (more than one frame, {tolerance:.3f} s)"
        )
    return None
