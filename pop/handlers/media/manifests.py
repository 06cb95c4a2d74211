"""Streaming manifests for the package handler: codec strings, HLS playlists, DASH MPDs, and
reading the packaged result back with PyAV.

Layer: handlers. Used only by :mod:`pop.handlers.media.package`. ffmpeg writes the variant
playlists and the MPD; this module writes the HLS master playlist (BANDWIDTH is the peak segment
bitrate measured from the written segments, as RFC 8216 defines it), and checks what a player
would read: the master through libavformat's ``hls`` demuxer, and each DASH representation as its
init segment followed by its media segments (the ``concat:`` protocol, read by the mp4 demuxer,
since libavformat's ``dash`` demuxer is not in PyAV's build).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from pop.errors import PermanentError
from pop.handlers.media.probe import decoder_error

MPD_NAMESPACE = {"mpd": "urn:mpeg:dash:schema:mpd:2011"}
AAC_OBJECT_TYPES = {"Main": 1, "LC": 2, "SSR": 3, "LTP": 4, "HE-AAC": 5, "HE-AACv2": 29}
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>[\d.]+)D)?(?:T(?:(?P<hours>[\d.]+)H)?(?:(?P<minutes>[\d.]+)M)?"
    r"(?:(?P<seconds>[\d.]+)S)?)?$"
)
_TEMPLATE_FIELD = re.compile(r"\$(RepresentationID|Number)(%0(\d+)d)?\$")


class PackageCheckError(PermanentError):
    """The packaged result does not read back as the renditions it was made from."""


# --- codec strings (RFC 6381) --------------------------------------------------------------------


def codec_string(path: Path) -> str:
    """The CODECS attribute of one rendition file: ``avc1.64001f,mp4a.40.2`` and the like."""
    import av  # PyAV loads when media is read: reading the payload models needs none
    import av.error

    try:
        with av.open(str(path)) as container:
            parts = [_video_codec(s.codec_context) for s in container.streams.video[:1]]
            parts += [_audio_codec(s.codec_context) for s in container.streams.audio[:1]]
    except av.error.FFmpegError as exc:
        raise PermanentError(f"Cannot read {path} as media: {decoder_error(exc)}") from exc
    return ",".join(parts)


def _video_codec(codec: Any) -> str:
    extradata = bytes(codec.extradata or b"")
    if codec.name == "h264" and len(extradata) >= 4 and extradata[0] == 1:
        profile, compatibility, level = extradata[1], extradata[2], extradata[3]
        return f"avc1.{profile:02x}{compatibility:02x}{level:02x}"
    if codec.name == "hevc" and len(extradata) >= 13 and extradata[0] == 1:
        return _hevc_codec(extradata)
    raise PermanentError(f"no codec string for video codec {codec.name} (h264 or h265 needed)")


def _hevc_codec(hvcc: bytes) -> str:
    """``hvc1.<profile>.<compatibility>.<tier><level>.<constraints>`` from an hvcC box."""
    space = ("", "A", "B", "C")[hvcc[1] >> 6]
    tier = "H" if hvcc[1] & 0x20 else "L"
    profile = hvcc[1] & 0x1F
    flags = int.from_bytes(hvcc[2:6], "big")
    reversed_flags = int(f"{flags:032b}"[::-1], 2)
    constraints = list(hvcc[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    text = f"hvc1.{space}{profile}.{reversed_flags:x}.{tier}{hvcc[12]}"
    return text + "".join(f".{byte:x}" for byte in constraints)


def _audio_codec(codec: Any) -> str:
    if codec.name == "aac":
        object_type = AAC_OBJECT_TYPES.get(str(codec.profile))
        extradata = bytes(codec.extradata or b"")
        if object_type is None and extradata:
            object_type = extradata[0] >> 3
        return f"mp4a.40.{object_type or 2}"
    if codec.name == "mp3":
        return "mp4a.40.34"
    if codec.name in ("ac3", "eac3"):
        return {"ac3": "ac-3", "eac3": "ec-3"}[codec.name]
    raise PermanentError(f"no codec string for audio codec {codec.name} (aac needed)")


# --- HLS -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantPlaylist:
    """One media playlist as written: its segments' durations and sizes."""

    path: Path
    durations: list[float]
    sizes: list[int]

    @property
    def peak_bandwidth(self) -> int:
        """The largest segment bitrate (bits per second), what BANDWIDTH means."""
        rates = [
            size * 8 / max(d, 1e-3) for size, d in zip(self.sizes, self.durations, strict=True)
        ]
        return math.ceil(max(rates))

    @property
    def average_bandwidth(self) -> int:
        return math.ceil(sum(self.sizes) * 8 / max(sum(self.durations), 1e-3))


def read_variant_playlist(path: Path) -> VariantPlaylist:
    """The segments of a media playlist; PackageCheckError when one is absent or absolute."""
    durations: list[float] = []
    sizes: list[int] = []
    pending: float | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#"):
            segment = path.parent / line
            if Path(line).is_absolute() or "://" in line or not segment.is_file():
                raise PackageCheckError(f"{path}: segment {line} is not a file next to it")
            durations.append(pending or 0.0)
            sizes.append(segment.stat().st_size)
            pending = None
    if not durations:
        raise PackageCheckError(f"{path} lists no segments")
    return VariantPlaylist(path=path, durations=durations, sizes=sizes)


def master_playlist(entries: list[tuple[str, VariantPlaylist, dict[str, Any]]]) -> str:
    """The master playlist text; each entry is (relative URI, playlist, attributes) where the
    attributes hold ``codecs`` and, for video, ``width``, ``height`` and ``frameRate``."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for uri, playlist, attributes in entries:
        fields = [
            f"BANDWIDTH={playlist.peak_bandwidth}",
            f"AVERAGE-BANDWIDTH={playlist.average_bandwidth}",
        ]
        if attributes.get("width") and attributes.get("height"):
            fields.append(f"RESOLUTION={attributes['width']}x{attributes['height']}")
        if attributes.get("frameRate"):
            fields.append(f"FRAME-RATE={attributes['frameRate']:.3f}")
        fields.append(f'CODECS="{attributes["codecs"]}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(fields), uri]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class StreamRead:
    """One stream as a player's demuxer reads it: kind, picture size, seconds its packets span."""

    kind: str
    width: int | None
    height: int | None
    span: float


def read_streams(url: str) -> tuple[float | None, list[StreamRead]]:
    """Open ``url`` with PyAV, demux every packet; (container duration, every stream's read)."""
    import av  # PyAV loads when media is read: reading the payload models needs none
    import av.error

    try:
        with av.open(url) as container:
            duration = container.duration / av.time_base if container.duration else None
            spans: dict[int, tuple[Fraction, Fraction]] = {}
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                start = packet.pts * packet.time_base
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                first, last = spans.get(packet.stream.index, (start, end))
                spans[packet.stream.index] = (min(first, start), max(last, end))
            streams = []
            for stream in container.streams:
                if stream.type not in ("video", "audio"):
                    continue
                first, last = spans.get(stream.index, (Fraction(0), Fraction(0)))
                streams.append(
                    StreamRead(
                        kind=stream.type,
                        width=getattr(stream, "width", None) if stream.type == "video" else None,
                        height=getattr(stream, "height", None) if stream.type == "video" else None,
                        span=float(last - first),
                    )
                )
    except av.error.FFmpegError as exc:
        raise PackageCheckError(f"Cannot read {url} back: {exc}") from exc
    return duration, streams


# --- DASH ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Representation:
    """One MPD representation: its id, content type and its files (init segment first)."""

    id: str
    content_type: str
    files: list[Path]
    duration: float


def iso_seconds(text: str) -> float:
    """Seconds of an ISO 8601 duration as MPDs write them (``PT1H2M3.5S``)."""
    match = _ISO_DURATION.match(text.strip())
    if not match:
        raise PackageCheckError(f"not an ISO 8601 duration: {text!r}")
    parts = {key: float(value) for key, value in match.groupdict().items() if value}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def _fill(template: str, representation_id: str, number: int | None = None) -> str:
    def field(match: re.Match[str]) -> str:
        if match[1] == "RepresentationID":
            return representation_id
        width = int(match[3]) if match[3] else 0
        return f"{number:0{width}d}"

    return _TEMPLATE_FIELD.sub(field, template)


def read_mpd(path: Path) -> tuple[float, list[Representation]]:
    """The MPD's presentation duration and representations (SegmentTemplate with a
    SegmentTimeline, as ffmpeg's dash muxer writes); PackageCheckError on anything else."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise PackageCheckError(f"{path} is not XML: {exc}") from exc
    total = iso_seconds(root.get("mediaPresentationDuration", ""))
    representations = []
    for adaptation in root.iterfind(".//mpd:AdaptationSet", MPD_NAMESPACE):
        content_type = adaptation.get("contentType", "")
        for node in adaptation.iterfind("mpd:Representation", MPD_NAMESPACE):
            template = node.find("mpd:SegmentTemplate", MPD_NAMESPACE)
            if template is None:
                raise PackageCheckError(f"{path}: representation {node.get('id')} has no template")
            rep_id = node.get("id", "")
            number = int(template.get("startNumber", "1"))
            timescale = int(template.get("timescale", "1"))
            ticks = 0
            files = [path.parent / _fill(template.get("initialization", ""), rep_id)]
            for segment in template.iterfind("mpd:SegmentTimeline/mpd:S", MPD_NAMESPACE):
                for _ in range(1 + int(segment.get("r", "0"))):
                    files.append(path.parent / _fill(template.get("media", ""), rep_id, number))
                    ticks += int(segment.get("d", "0"))
                    number += 1
            missing = [file.name for file in files if not file.is_file()]
            if missing or len(files) < 2:
                raise PackageCheckError(
                    f"{path}: representation {rep_id} lacks segments: {', '.join(missing) or 'all'}"
                )
            representations.append(
                Representation(rep_id, content_type, files, duration=ticks / timescale)
            )
    return total, representations


def representation_url(representation: Representation) -> str:
    """A ``concat:`` URL that reads the representation as one fragmented mp4."""
    names = [str(file) for file in representation.files]
    if any("|" in name for name in names):
        raise PackageCheckError(
            f"Cannot read DASH representation {representation.id} back: its folder name "
            "contains '|'"
        )
    return "concat:" + "|".join(names)
