"""The ``transcode`` handler: one input to one or more renditions, each probed and checked.

Layer: handlers. Registered as ``transcode`` (``pop.handlers.media.transcode:run``). ffmpeg runs
through ``ctx.launch_external`` (one run per rendition, plus one per rendition for picture QC)
with ``-progress pipe:1 -nostats``; its progress becomes percent (of the whole op, against the
probed input duration), fps and speed. The CPUs an ffmpeg run gets come from the registry's
``external.ffmpeg`` settings.

Payload::

    {"input": "path, file:// or http(s):// URL", "audioTrack": 0, "qc": {"ssim": 0.95},
     "renditions": [{"name": "360p", "width": 640, "height": 360, "videoCodec": "h264",
                     "crf": 23, "videoBitrate": "800k", "preset": "veryfast", "fps": null,
                     "keyframeInterval": 2, "audioCodec": "aac", "audioBitrate": "128k",
                     "audioTrack": null, "qc": null}]}

``videoCodec`` is h264, h265, vp9 or av1 (libx264, libx265, libvpx-vp9, libsvtav1; PermanentError
when the ffmpeg build lacks the encoder); ``audioCodec`` aac or opus. Give one of width/height to
keep the aspect ratio; sizes apply to the displayed (autorotated) picture. ``audioTrack`` picks the
n-th audio stream of the input (0-based; default 0), a rendition's value overriding the payload's.
``keyframeInterval`` (seconds) forces a keyframe at every multiple of it and no others (scene-cut
keyframes off), so renditions packaged later cut into aligned segments of any multiple of it.
``qc`` (payload default, a rendition's own replacing it) sets SSIM/VMAF thresholds (:mod:`.qc`). An
http(s) input is downloaded first (:mod:`.inputs`; the first 10% of the percent). Each rendition is
written to ``<op_dir>/<name>.tmp.<ext>`` (``mp4``, or ``m4a`` when the input has no video) and
renamed to ``<op_dir>/<name>.<ext>`` once it passed QC: duration within one frame (1/fps, at least
0.05 s) of the input, no empty stream, and the QC thresholds. Output: ``{"renditions": [{"name",
"path", "size", "duration", "params": {"video": {...}, "audio": {...}}, "qc": {"ssim": 0.98}}]}``
with the probed params of the analysis handler (``qc`` only when thresholds were given; empty for a
rendition without video), and ``"timings": {"download", "probe", "cpuWait", "ffmpeg", "qc"}``:
seconds spent on each (``cpuWait``: the encodes' wait for a CPU of the budget; the benchmarks
break pop's overhead down with it)."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator, model_validator

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.handlers.media import capabilities, qc
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.inputs import handler_inputs
from pop.handlers.media.probe import ProbeResult, frame_tolerance, probe
from pop.handlers.media.progress import ffmpeg_lines
from pop.handlers.media.qc import QcThresholds
from pop.handlers.paths import InputPath
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

VIDEO_ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9", "av1": "libsvtav1"}
AUDIO_ENCODERS = {"aac": "aac", "opus": "libopus"}
PRESET_ENCODERS = {"libx264", "libx265"}
# Environment for encoders that print to stderr past ffmpeg's -loglevel (SVT-AV1's banner)
ENCODER_ENV = {"libsvtav1": {"SVT_LOG": "1"}}
# Encoders every ffmpeg build pop meets has (the bundled one, Debian's, static builds): not asked
# for before a run (listing them costs the first op an ffmpeg launch), only after a failed one.
EVERY_BUILD_HAS = frozenset({"libx264", "aac"})
KEYFRAMES_ONLY_FORCED = {  # turn off the encoder's own (scene-cut, GOP-length) keyframes
    "libx264": ["-sc_threshold", "0", "-g", "1000"],
    "libx265": ["-x265-params", "scenecut=0:keyint=1000"],
    "libvpx-vp9": ["-g", "1000"],
    "libsvtav1": ["-g", "1000"],
}
_BITRATE = re.compile(r"^[0-9]+(\.[0-9]+)?[kKmM]?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Rendition(WireModel):
    """One output: its file name (without extension), size, codecs, rate control, audio track
    and QC thresholds."""

    name: str
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    video_codec: Literal["h264", "h265", "vp9", "av1"] = "h264"
    crf: int | None = Field(default=None, ge=0, le=63)
    video_bitrate: str | None = None
    preset: str | None = None
    fps: float | None = Field(default=None, gt=0)
    keyframe_interval: float | None = Field(default=None, gt=0)
    audio_codec: Literal["aac", "opus"] = "aac"
    audio_bitrate: str | None = "128k"
    audio_track: NonNegativeInt | None = None
    qc: QcThresholds | None = None

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
    """The transcode handler's payload: one input, its renditions (unique names), and the
    defaults the renditions may override (audio track, QC thresholds)."""

    input: InputPath
    renditions: list[Rendition] = Field(min_length=1)
    audio_track: NonNegativeInt | None = None
    qc: QcThresholds | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> TranscodePayload:
        names = [rendition.name for rendition in self.renditions]
        if len(set(names)) != len(names):
            raise ValueError("rendition names must be unique")
        return self

    def audio_track_of(self, rendition: Rendition) -> int | None:
        """The rendition's audio track, else the payload's; None when neither says."""
        return rendition.audio_track if rendition.audio_track is not None else self.audio_track

    def thresholds_of(self, rendition: Rendition) -> dict[str, float]:
        """The rendition's QC thresholds, else the payload's; {} for no picture QC."""
        chosen = rendition.qc or self.qc
        return chosen.metrics() if chosen else {}


@handler(payload_model=TranscodePayload)
def run(ctx: HandlerContext) -> Any:
    """Transcode the input to every rendition, probe and check each, publish by rename."""
    payload: TranscodePayload = ctx.payload
    ffmpeg = ctx.external_program("ffmpeg", find_ffmpeg)
    timings = dict.fromkeys(("download", "probe", "cpuWait", "ffmpeg", "qc"), 0.0)
    started = time.perf_counter()
    with handler_inputs(ctx, [payload.input]) as ((source,), percent):
        timings["download"] = time.perf_counter() - started
        with _timed(timings, "probe"):
            source_probe = probe(source, url=payload.input)
        _check_audio_tracks(payload, source_probe)
        _check_capabilities(
            ctx, ffmpeg, payload, has_video=bool(source_probe.video), beyond=EVERY_BUILD_HAS
        )
        out_dir = ctx.op_dir or Path.cwd()
        out_dir.mkdir(parents=True, exist_ok=True)
        outputs = []
        for position, rendition in enumerate(payload.renditions):
            outputs.append(
                _transcode_one(
                    ctx,
                    ffmpeg,
                    (source, source_probe),
                    rendition,
                    payload=payload,
                    out_dir=out_dir,
                    share=(percent, position, len(payload.renditions)),
                    timings=timings,
                )
            )
    return {"renditions": outputs, "timings": {k: round(v, 4) for k, v in timings.items()}}


@contextlib.contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of the block to ``timings[key]`` (seconds)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[key] += time.perf_counter() - started


def _check_audio_tracks(payload: TranscodePayload, source_probe: ProbeResult) -> None:
    tracks = len(source_probe.audio)
    for rendition in payload.renditions:
        track = payload.audio_track_of(rendition)
        if track is not None and track >= tracks:
            have = f"{tracks} audio track{'s' if tracks != 1 else ''}"
            raise PermanentError(
                f"Rendition {rendition.name}: audioTrack {track} does not exist "
                f"(the input has {have}; tracks count from 0)"
            )


def _check_capabilities(
    ctx: HandlerContext,
    ffmpeg: str,
    payload: TranscodePayload,
    *,
    has_video: bool,
    beyond: frozenset[str] = frozenset(),
) -> None:
    """PermanentError naming the encoders (and QC filters) the payload needs and the build
    lacks. Encoders in ``beyond`` are taken as present (not asked for)."""
    renditions = payload.renditions
    wanted = {AUDIO_ENCODERS[r.audio_codec] for r in renditions}
    if has_video:
        wanted |= {VIDEO_ENCODERS[r.video_codec] for r in renditions}
    if wanted - beyond:
        capabilities.require(ctx, ffmpeg, "encoders", wanted)
    metrics = {metric for r in renditions for metric in payload.thresholds_of(r)}
    if has_video and metrics:
        filters = {qc.FILTERS[metric] for metric in metrics}
        why = " (VMAF QC needs an ffmpeg built with --enable-libvmaf)" if "vmaf" in metrics else ""
        capabilities.require(ctx, ffmpeg, "filters", filters, why=why)


def ffmpeg_argv(
    ffmpeg: str,
    source: Path,
    rendition: Rendition,
    output: Path,
    *,
    has_video: bool,
    audio_track: int = 0,
    language: str | None = None,
) -> list[str]:
    """The ffmpeg command line for one rendition (progress on stdout, errors only on stderr).

    ffmpeg's autorotation stays on: a rotated input is turned upright before ``scale``, so the
    requested size is the displayed one and the output carries no rotation."""
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-i", str(source)]
    argv += ["-map", "0:v:0?", "-map", f"0:a:{audio_track}?", "-map_metadata", "-1"]
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
        if rendition.keyframe_interval:
            # 1 ms of slack: n*interval computed in floating point may land just after the frame
            every = f"{rendition.keyframe_interval:g}"
            argv += ["-force_key_frames", f"expr:gte(t+0.001,n_forced*{every})"]
            argv += KEYFRAMES_ONLY_FORCED.get(encoder, [])
    argv += ["-c:a", AUDIO_ENCODERS[rendition.audio_codec]]
    if rendition.audio_bitrate:
        argv += ["-b:a", rendition.audio_bitrate]
    if language:
        argv += ["-metadata:s:a:0", f"language={language}"]
    argv += ["-f", "mp4", "-progress", "pipe:1", "-nostats", str(output)]
    return argv


def _transcode_one(
    ctx: HandlerContext,
    ffmpeg: str,
    source_and_probe: tuple[Path, ProbeResult],
    rendition: Rendition,
    *,
    payload: TranscodePayload,
    out_dir: Path,
    share: tuple[Callable[[float], float], int, int],
    timings: dict[str, float],
) -> dict[str, Any]:
    source, source_probe = source_and_probe
    percent, position, count = share
    extension = "mp4" if source_probe.video else "m4a"
    temporary = out_dir / f"{rendition.name}.tmp.{extension}"
    final = out_dir / f"{rendition.name}.{extension}"

    def overall(fraction: float) -> float:  # this rendition's fraction done -> the op's percent
        return percent((position + fraction) / count * 100.0)

    on_line = ffmpeg_lines(
        ctx.log,
        ctx.progress,
        duration=source_probe.duration,
        label=rendition.name,
        percent=lambda percent: overall(percent / 100),
    )

    track = payload.audio_track_of(rendition) or 0
    language = source_probe.audio[track]["params"]["language"] if source_probe.audio else None
    argv = ffmpeg_argv(
        ffmpeg,
        source,
        rendition,
        temporary,
        has_video=bool(source_probe.video),
        audio_track=track,
        language=language,
    )
    quiet = ENCODER_ENV.get(VIDEO_ENCODERS[rendition.video_codec]) if source_probe.video else None
    with _timed(timings, "ffmpeg"):
        result = ctx.launch_external(
            argv, name="ffmpeg", on_line=on_line, env=quiet, inputs=[source]
        )
    timings["ffmpeg"] -= result.waited
    timings["cpuWait"] += result.waited
    if not result.ok:
        temporary.unlink(missing_ok=True)
        # the encoders every build has were not asked up front: a build without one says so here
        _check_capabilities(ctx, ffmpeg, payload, has_video=bool(source_probe.video))
        raise HandlerError(f"Rendition {rendition.name}: {result.describe()}")
    try:
        with _timed(timings, "probe"):
            output_probe = probe(temporary)
        problem = quality_problem(source_probe, output_probe, rendition)
        if problem:
            raise PermanentError(f"QC failed for rendition {rendition.name}: {problem}")
        with _timed(timings, "qc"):
            scores = _picture_qc(
                ctx, ffmpeg, source_and_probe, temporary, payload, rendition, overall
            )
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(final)
    output: dict[str, Any] = {
        "name": rendition.name,
        "path": str(final),
        "size": final.stat().st_size,
        "duration": output_probe.duration,
        "params": {
            "video": output_probe.video[0]["params"] if output_probe.video else None,
            "audio": output_probe.audio[0]["params"] if output_probe.audio else None,
        },
    }
    if scores is not None:
        output["qc"] = scores
    return output


def _picture_qc(
    ctx: HandlerContext,
    ffmpeg: str,
    source_and_probe: tuple[Path, ProbeResult],
    rendition_file: Path,
    payload: TranscodePayload,
    rendition: Rendition,
    overall: Callable[[float], float],
) -> dict[str, float] | None:
    """The measured scores (checked against the thresholds); None when no QC was asked,
    {} for a rendition without video."""
    thresholds = payload.thresholds_of(rendition)
    source, source_probe = source_and_probe
    if not thresholds:
        return None
    if not source_probe.video:
        return {}
    names = ", ".join(qc.LABELS[metric] for metric in thresholds)
    ctx.progress(overall(1.0), f"{rendition.name}: measuring {names} against the input")
    scores = qc.measure(
        ctx,
        ffmpeg,
        rendition_file,
        source,
        list(thresholds),
        size=qc.displayed_size(source_probe.video[0]["params"]),
        label=rendition.name,
    )
    qc.check(scores, thresholds, label=rendition.name)
    return scores


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
    tolerance = frame_tolerance(rendition.fps or output.frame_rate or source.frame_rate)
    if source.duration is None or output.duration is None:
        return "the duration of the input or the output is unknown"
    difference = abs(output.duration - source.duration)
    if difference > tolerance:
        return (
            f"duration {output.duration:.3f} s differs from the input's {source.duration:.3f} s "
            f"by {difference:.3f} s (more than one frame, {tolerance:.3f} s)"
        )
    return None
