"""Probing media files with PyAV into the shape the analysis handler outputs.

Layer: handlers. Used by the analysis handler and by transcode (input duration, output QC).
Every duration is in seconds (a float); bitrates are bits per second; values a file does not
carry are null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from pop.errors import PermanentError


class ProbeError(PermanentError):
    """The file could not be read as media; the message quotes the decoder's error."""


def decoder_error(exc: Exception) -> str:
    """The decoder's own words for ``exc`` (``Invalid data found when processing input``),
    without PyAV's errno and the file name the caller already quotes."""
    text = getattr(exc, "strerror", None)
    return str(text) if text else str(exc)


@dataclass
class ProbeResult:
    """One file: its ``inputs`` entry and its video and audio streams (analysis shape)."""

    input: dict[str, Any]
    video: list[dict[str, Any]] = field(default_factory=list)
    audio: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        value = self.input.get("duration")
        return float(value) if value is not None else None

    @property
    def frame_rate(self) -> float | None:
        for stream in self.video:
            rate = stream["params"].get("frameRate")
            if rate:
                return float(rate)
        return None


MIN_FRAME_TOLERANCE = 0.05  # seconds: "one frame" when the frame rate is unknown or high


def frame_tolerance(fps: float | None) -> float:
    """How far two durations may differ and still count as equal: one frame at ``fps``, at
    least :data:`MIN_FRAME_TOLERANCE` (the transcode and package checks)."""
    return max(1 / fps if fps else 0.0, MIN_FRAME_TOLERANCE)


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return round(float(value * time_base), 6)


def _ratio(value: Fraction | None) -> str | None:
    if not value:
        return None
    return f"{value.numerator}:{value.denominator}"


def probe(path: Path, *, url: str | None = None) -> ProbeResult:
    """Probe ``path``; ProbeError quoting the decoder when it is not readable media."""
    import av  # PyAV loads when media is read: reading the payload models needs none
    import av.error

    try:
        with av.open(str(path)) as container:
            duration = _seconds(container.duration, Fraction(1, av.time_base))
            result = ProbeResult(
                input={
                    "url": url or str(path),
                    "container": container.format.name,
                    "duration": duration,
                    "size": path.stat().st_size,
                    "bitrate": container.bit_rate or None,
                }
            )
            result.video = [_video(container, s, duration) for s in container.streams.video]
            result.audio = [_audio(s, duration) for s in container.streams.audio]
    except av.error.FFmpegError as exc:
        raise ProbeError(f"Cannot read {url or path} as media: {decoder_error(exc)}") from exc
    if not result.video and not result.audio:
        raise ProbeError(f"{url or path} has no video or audio stream")
    return result


def _video(container: Any, stream: Any, duration: float | None) -> dict[str, Any]:
    rate = stream.average_rate or stream.guessed_rate
    return {
        "index": stream.index,
        "params": {
            "codec": _codec_name(stream),
            "width": stream.width,
            "height": stream.height,
            "frameRate": round(float(rate), 6) if rate else None,
            "displayAspectRatio": _ratio(stream.display_aspect_ratio),
            "rotation": _rotation(container, stream),
            "bitrate": stream.bit_rate or None,
            "duration": _seconds(stream.duration, stream.time_base) or duration,
        },
    }


def _audio(stream: Any, duration: float | None) -> dict[str, Any]:
    return {
        "index": stream.index,
        "params": {
            "codec": _codec_name(stream),
            "channels": stream.codec_context.layout.nb_channels or stream.channels,
            "sampleRate": stream.sample_rate,
            "bitrate": stream.bit_rate or None,
            "language": stream.language if stream.language not in (None, "und") else None,
            "duration": _seconds(stream.duration, stream.time_base) or duration,
        },
    }


def _codec_name(stream: Any) -> str:
    """The codec's own name (``h264``, ``hevc``, ``vp9``, ``av1``, ``aac``, ``opus``), not the
    decoder's (libav decodes AV1 with ``libdav1d``)."""
    context = stream.codec_context
    codec = getattr(context, "codec", None)
    return str(getattr(codec, "canonical_name", None) or context.name)


def _rotation(container: Any, stream: Any) -> float:
    """Degrees clockwise a player turns the coded picture to show it upright (0, 90, 180, 270):
    the convention of the ``rotate`` tag phones write (90 for a portrait recording). From that
    tag when the demuxer exports it, else from the first frame's display matrix (which libav
    gives counter-clockwise, hence the sign change)."""
    import av  # PyAV loads when media is read: reading the payload models needs none
    import av.error

    tag = stream.metadata.get("rotate")
    if tag:
        try:
            return float(tag) % 360
        except ValueError:
            pass
    try:
        for frame in container.decode(stream):
            return float(-(getattr(frame, "rotation", 0) or 0) % 360)
    except av.error.FFmpegError as exc:
        raise ProbeError(f"Cannot decode video stream {stream.index}: {exc}") from exc
    return 0.0
