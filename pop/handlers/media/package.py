"""The ``package`` handler: renditions into HLS (master + variant playlists) and/or one DASH MPD.

Layer: handlers. Registered as ``package`` (``pop.handlers.media.package:run``). ffmpeg runs
through ``ctx.launch_external`` with ``-c copy`` (no re-encode) and ``-progress pipe:1``: once
per rendition for HLS (the ``hls`` muxer, MPEG-TS segments of ``segmentDuration`` seconds), once
for DASH (the ``dash`` muxer, every rendition's video and audio in one MPD).

Payload::

    {"renditions": ["360p.mp4", "file:///work/720p.mp4"], "formats": ["hls", "dash"],
     "segmentDuration": 4}

``renditions``: one or more mp4 files, as the transcode handler writes them (HLS needs h264 or
h265 video and aac audio; a rendition without video gives an audio-only variant). ``formats``:
``hls`` (default), ``dash`` or both. Segments are cut at keyframes, so a segment lasts
``segmentDuration`` only when the renditions have a keyframe that often (transcode's
``keyframeInterval``).

Everything is written into ``<op_dir>/package.tmp/``: ``hls/<rendition>/playlist.m3u8`` with its
segments, then ``hls/master.m3u8`` (written here: BANDWIDTH is the peak segment bitrate measured
from the segments, AVERAGE-BANDWIDTH the mean, plus RESOLUTION, FRAME-RATE and CODECS), and
``dash/manifest.mpd`` with its init and media segments. The result is then read back with PyAV
(:mod:`.manifests`): every variant's streams through the master playlist, every DASH
representation from its segments, with the picture sizes of the renditions and durations within
one frame (1/fps, at least 0.05 s) of theirs, else PermanentError naming what differs. Only then
are ``hls/`` and ``dash/`` renamed into ``<op_dir>``, so a stopped attempt never leaves a
finished-looking master. Output (a key per format asked)::

    {"hls": {"master": "<op_dir>/hls/master.m3u8",
             "variants": [{"playlist", "bandwidth", "width", "height", "codecs", "segments"}]},
     "dash": {"manifest": "<op_dir>/dash/manifest.mpd", "representations": 4}}
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveFloat, field_validator

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.handlers.media import manifests
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.inputs import existing_files
from pop.handlers.media.manifests import PackageCheckError, StreamRead
from pop.handlers.media.probe import ProbeResult, frame_tolerance, probe
from pop.handlers.media.progress import ffmpeg_lines
from pop.handlers.paths import InputPath
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

STAGING = "package.tmp"
CHECK_SHARE = 10.0  # percent of the op that reading the result back stands for
HLS_VIDEO_CODECS = {"h264", "hevc"}
HLS_AUDIO_CODECS = {"aac", "mp3", "ac3", "eac3"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class PackagePayload(WireModel):
    """The package handler's payload: the renditions, the formats, the segment duration."""

    renditions: list[InputPath] = Field(min_length=1)
    formats: list[Literal["hls", "dash"]] = Field(default=["hls"], min_length=1)
    segment_duration: PositiveFloat = 4.0

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each format may be given once")
        return value


@dataclass(frozen=True)
class Source:
    """One rendition: its URL as given, its file, its probe and its HLS variant folder name."""

    url: str
    path: Path
    probe: ProbeResult
    name: str
    streams: list[StreamRead]

    @property
    def duration(self) -> float:
        return self.probe.duration or 0.0

    @property
    def tolerance(self) -> float:
        return frame_tolerance(self.probe.frame_rate)

    @property
    def picture(self) -> dict[str, Any]:
        return self.probe.video[0]["params"] if self.probe.video else {}

    def span(self, kind: str) -> float:
        """Seconds the packets of the rendition's first ``kind`` stream span (the audio
        encoder's priming included, as segments carry it too)."""
        return next(stream.span for stream in self.streams if stream.kind == kind)


def variant_names(paths: list[Path]) -> list[str]:
    """A folder name per rendition: its file name without extension, made unique."""
    names: list[str] = []
    for path in paths:
        base = _UNSAFE_NAME.sub("_", path.stem).strip("._") or "variant"
        name, number = base, 2
        while name in names:
            name, number = f"{base}-{number}", number + 1
        names.append(name)
    return names


@handler(payload_model=PackagePayload)
def run(ctx: HandlerContext) -> Any:
    """Package the renditions in every format asked, read the result back, publish by rename."""
    payload: PackagePayload = ctx.payload
    paths = existing_files(payload.renditions)
    sources = [
        Source(
            url=url,
            path=path,
            probe=probe(path, url=url),
            name=name,
            streams=manifests.read_streams(str(path))[1],
        )
        for url, path, name in zip(payload.renditions, paths, variant_names(paths), strict=True)
    ]
    codecs = _hls_codecs(sources) if "hls" in payload.formats else []
    ffmpeg = ctx.external_program("ffmpeg", find_ffmpeg)
    out_dir = ctx.op_dir or Path.cwd()
    staging = out_dir / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # what a stopped attempt left
    staging.mkdir(parents=True)
    runs = (len(sources) if "hls" in payload.formats else 0) + ("dash" in payload.formats)
    steps = _Steps(ctx, ffmpeg, runs, inputs=[source.path for source in sources])
    result: dict[str, Any] = {}
    try:
        if "hls" in payload.formats:
            result["hls"] = _package_hls(steps, sources, codecs, payload, staging / "hls")
        if "dash" in payload.formats:
            result["dash"] = _package_dash(steps, sources, payload, staging / "dash")
        ctx.progress(100.0 - CHECK_SHARE, "reading the packaged result back")
        if "hls" in payload.formats:
            _check_hls(staging / "hls" / "master.m3u8", sources)
        if "dash" in payload.formats:
            _check_dash(staging / "dash" / "manifest.mpd", sources)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for fmt in payload.formats:
        shutil.rmtree(out_dir / fmt, ignore_errors=True)
        (staging / fmt).replace(out_dir / fmt)
    staging.rmdir()
    return _published(result, staging, out_dir)


def _published(value: Any, staging: Path, out_dir: Path) -> Any:
    """``value`` with every path under ``staging`` moved to where it was renamed to."""
    if isinstance(value, dict):
        return {key: _published(item, staging, out_dir) for key, item in value.items()}
    if isinstance(value, list):
        return [_published(item, staging, out_dir) for item in value]
    if isinstance(value, str) and value.startswith(str(staging) + "/"):
        return str(out_dir / Path(value).relative_to(staging))
    return value


def _hls_codecs(sources: list[Source]) -> list[str]:
    """Each rendition's CODECS; PermanentError (before ffmpeg starts) for codecs HLS in MPEG-TS
    cannot carry."""
    for source in sources:
        for kind, allowed in (("video", HLS_VIDEO_CODECS), ("audio", HLS_AUDIO_CODECS)):
            streams = getattr(source.probe, kind)
            codec = streams[0]["params"]["codec"] if streams else None
            if codec is not None and codec not in allowed:
                raise PermanentError(
                    f"Rendition {source.url}: HLS takes {' or '.join(sorted(allowed))} {kind}, "
                    f"not {codec}"
                )
    return [manifests.codec_string(source.path) for source in sources]


class _Steps:
    """The ffmpeg runs of one op, each an equal share of the percent before the check."""

    def __init__(self, ctx: HandlerContext, ffmpeg: str, count: int, *, inputs: list[Path]) -> None:
        self.ctx = ctx
        self.ffmpeg = ffmpeg
        self.count = max(1, count)
        self.inputs = inputs  # the renditions ffmpeg reads (mounted read-only on image runtimes)
        self.done = 0

    def run(self, arguments: list[str], *, label: str, duration: float | None) -> None:
        """Run ffmpeg with ``arguments``; HandlerError with its output when it fails."""
        ctx = self.ctx
        share = (100.0 - CHECK_SHARE) / self.count
        start = self.done * share
        on_line = ffmpeg_lines(
            ctx.log,
            ctx.progress,
            duration=duration,
            label=label,
            percent=lambda percent: start + percent / 100 * share,
        )

        argv = [self.ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *arguments]
        result = ctx.launch_external(argv, name="ffmpeg", on_line=on_line, inputs=self.inputs)
        if not result.ok:
            raise HandlerError(f"Packaging {label}: {result.describe()}")
        self.done += 1
        ctx.progress(self.done * share, f"{label}: done")


def _package_hls(
    steps: _Steps, sources: list[Source], codecs: list[str], payload: PackagePayload, folder: Path
) -> dict[str, Any]:
    entries = []
    variants = []
    for source, codec in zip(sources, codecs, strict=True):
        variant_dir = folder / source.name
        variant_dir.mkdir(parents=True)
        playlist_path = variant_dir / "playlist.m3u8"
        steps.run(
            [
                *("-i", str(source.path), "-map", "0:v:0?", "-map", "0:a:0?", "-c", "copy"),
                *("-f", "hls", "-hls_time", f"{payload.segment_duration:g}"),
                *("-hls_playlist_type", "vod", "-hls_segment_type", "mpegts"),
                *("-hls_flags", "independent_segments"),
                *("-hls_segment_filename", str(variant_dir / "seg-%05d.ts")),
                *("-progress", "pipe:1", "-nostats", str(playlist_path)),
            ],
            label=f"HLS {source.name}",
            duration=source.probe.duration,
        )
        playlist = manifests.read_variant_playlist(playlist_path)
        longest = max(playlist.durations)
        if longest > payload.segment_duration * 1.5:
            steps.ctx.log(
                f"HLS {source.name}: a segment lasts {longest:.3f} s (asked "
                f"{payload.segment_duration:g} s): the rendition has few keyframes; stream copy "
                "cuts only at keyframes"
            )
        picture = source.picture
        attributes = {
            "codecs": codec,
            "width": picture.get("width"),
            "height": picture.get("height"),
            "frameRate": picture.get("frameRate"),
        }
        entries.append((f"{source.name}/playlist.m3u8", playlist, attributes))
        variants.append(
            {
                "playlist": str(playlist_path),
                "bandwidth": playlist.peak_bandwidth,
                "width": attributes["width"],
                "height": attributes["height"],
                "codecs": codec,
                "segments": len(playlist.durations),
            }
        )
    master = folder / "master.m3u8"
    master.write_text(manifests.master_playlist(entries), encoding="utf-8")
    return {"master": str(master), "variants": variants}


def dash_maps(sources: list[Source]) -> list[tuple[int, str]]:
    """The (rendition position, kind) of each DASH representation, in representation id order:
    every rendition's video, then every rendition's audio."""
    return [
        (position, kind)
        for kind in ("video", "audio")
        for position, source in enumerate(sources)
        if getattr(source.probe, kind)
    ]


def _package_dash(
    steps: _Steps, sources: list[Source], payload: PackagePayload, folder: Path
) -> dict[str, Any]:
    folder.mkdir(parents=True)
    maps = dash_maps(sources)
    arguments: list[str] = []
    for source in sources:
        arguments += ["-i", str(source.path)]
    for position, kind in maps:
        arguments += ["-map", f"{position}:{kind[0]}:0"]
    kinds = [kind[0] for kind in ("video", "audio") if any(k == kind for _, k in maps)]
    adaptation_sets = " ".join(f"id={index},streams={kind}" for index, kind in enumerate(kinds))
    manifest = folder / "manifest.mpd"
    steps.run(
        [
            *arguments,
            *("-c", "copy", "-f", "dash", "-seg_duration", f"{payload.segment_duration:g}"),
            *("-use_template", "1", "-use_timeline", "1", "-adaptation_sets", adaptation_sets),
            *("-init_seg_name", "init-$RepresentationID$.$ext$"),
            *("-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.$ext$"),
            *("-progress", "pipe:1", "-nostats", str(manifest)),
        ],
        label="DASH",
        duration=max(source.duration for source in sources),
    )
    return {"manifest": str(manifest), "representations": len(maps)}


def _check_duration(label: str, measured: float, source: Source, kind: str | None = None) -> None:
    """PermanentError when ``measured`` is more than one frame from the rendition's duration
    (of its ``kind`` stream's packets when given, else of the file)."""
    expected = source.span(kind) if kind else source.duration
    difference = abs(measured - expected)
    if difference > source.tolerance:
        what = f"its {kind} stream" if kind else "it"
        raise PackageCheckError(
            f"{label} lasts {measured:.3f} s but in rendition {source.url} {what} lasts "
            f"{expected:.3f} s: {difference:.3f} s apart, more than one frame "
            f"({source.tolerance:.3f} s)"
        )


def _check_picture(label: str, read: StreamRead, source: Source) -> None:
    expected = (source.picture.get("width"), source.picture.get("height"))
    if (read.width, read.height) != expected:
        raise PackageCheckError(
            f"{label} reads as {read.width}x{read.height}, rendition {source.url} is "
            f"{expected[0]}x{expected[1]}"
        )


def _check_hls(master: Path, sources: list[Source]) -> None:
    """Every variant's streams visible through the master, sizes and durations as rendered."""
    duration, streams = manifests.read_streams(str(master))
    for kind in ("video", "audio"):
        read = [stream for stream in streams if stream.kind == kind]
        expected = [source for source in sources if getattr(source.probe, kind)]
        if len(read) != len(expected):
            raise PackageCheckError(
                f"{master} shows {len(read)} {kind} streams, the renditions have {len(expected)}"
            )
        for stream, source in zip(read, expected, strict=True):
            label = f"HLS variant {source.name} ({kind})"
            if kind == "video":
                _check_picture(label, stream, source)
            _check_duration(label, stream.span, source, kind)
    if duration is not None:
        for source in sources:
            _check_duration(f"HLS master playlist {master.name}", duration, source)


def _check_dash(manifest: Path, sources: list[Source]) -> None:
    """Every representation readable from its segments, sizes and durations as rendered."""
    total, representations = manifests.read_mpd(manifest)
    maps = dash_maps(sources)
    if len(representations) != len(maps):
        raise PackageCheckError(
            f"{manifest} has {len(representations)} representations, expected {len(maps)}"
        )
    for representation in representations:
        position, kind = maps[int(representation.id)]
        source = sources[position]
        label = f"DASH representation {representation.id} ({source.name} {kind})"
        _, streams = manifests.read_streams(manifests.representation_url(representation))
        if [stream.kind for stream in streams] != [kind]:
            raise PackageCheckError(f"{label} reads as {[s.kind for s in streams]}, not {kind}")
        if kind == "video":
            _check_picture(label, streams[0], source)
        _check_duration(label, streams[0].span, source, kind)
        _check_duration(f"{label} timeline", representation.duration, source)
    for source in sources:
        _check_duration(f"DASH manifest {manifest.name}", total, source)
