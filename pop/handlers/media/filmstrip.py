"""The ``filmstrip`` handler: a sprite sheet of frames at an interval plus a WebVTT index.

Layer: handlers. Registered as ``filmstrip`` (``pop.handlers.media.filmstrip:run``). One ffmpeg
run through ``ctx.launch_external`` with ``-vf fps=1/interval,scale=W:-2,tile=COLSxROWS`` and
``-progress pipe:1``; players read the VTT's ``#xywh=`` cues for scrub previews.

Payload::

    {"input": "path, file:// or http(s):// URL", "interval": 1, "width": 160, "columns": 10,
     "format": "jpeg"}

``frames = ceil(duration / interval)`` from the probed duration; the grid has
``min(columns, frames)`` columns and ``ceil(frames / columns)`` rows. The sprite is written to
``<op_dir>/sprite.tmp.<ext>``, the index to ``<op_dir>/sprite.tmp.vtt``, both renamed to
``sprite.<ext>`` / ``sprite.vtt`` when done. Cue ``i`` spans ``[i*interval, (i+1)*interval]``
(the last ends at the duration), its text ``sprite.<ext>#xywh=x,y,w,h``; the tile height is the
probed sprite height / rows. Output: ``{"sprite": {"path", "width", "height", "columns", "rows",
"tileWidth", "tileHeight"}, "vtt": path, "cues": N}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import PositiveFloat, PositiveInt

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.inputs import handler_inputs
from pop.handlers.media.probe import probe
from pop.handlers.media.progress import ffmpeg_lines
from pop.handlers.media.thumbnail import IMAGE_FORMATS, image_output_argv
from pop.handlers.paths import InputPath
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext


class FilmstripPayload(WireModel):
    """The filmstrip handler's payload: one input, the interval, tile width, columns, format."""

    input: InputPath
    interval: PositiveFloat = 1.0
    width: PositiveInt = 160
    columns: PositiveInt = 10
    format: Literal["jpeg", "png", "webp"] = "jpeg"


def vtt_timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` as WebVTT writes a cue time."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(
    sprite_name: str,
    *,
    frames: int,
    columns: int,
    interval: float,
    duration: float,
    tile: tuple[int, int],
) -> str:
    """The WebVTT index: one cue per tile, contiguous from 0 to ``duration``."""
    tile_width, tile_height = tile
    lines = ["WEBVTT", ""]
    for index in range(frames):
        start = index * interval
        end = duration if index == frames - 1 else min((index + 1) * interval, duration)
        x, y = (index % columns) * tile_width, (index // columns) * tile_height
        lines += [
            f"{vtt_timestamp(start)} --> {vtt_timestamp(end)}",
            f"{sprite_name}#xywh={x},{y},{tile_width},{tile_height}",
            "",
        ]
    return "\n".join(lines)


@handler(payload_model=FilmstripPayload)
def run(ctx: HandlerContext) -> Any:
    """Tile frames into one sprite with ffmpeg, probe it, write the VTT, publish by rename."""
    payload: FilmstripPayload = ctx.payload
    with handler_inputs(ctx, [payload.input]) as ((source,), percent):
        return _filmstrip(ctx, payload, source, percent)


def _filmstrip(
    ctx: HandlerContext, payload: FilmstripPayload, source: Path, percent: Callable[[float], float]
) -> Any:
    source_probe = probe(source, url=payload.input)
    duration = source_probe.duration
    if not source_probe.video:
        raise PermanentError(f"Input {payload.input} has no video stream")
    if not duration:
        raise PermanentError(f"Input {payload.input}: its duration is unknown")
    frames = max(1, math.ceil(round(duration / payload.interval, 6)))
    columns = min(payload.columns, frames)
    rows = math.ceil(frames / columns)
    out_dir = ctx.op_dir or Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    extension, _ = IMAGE_FORMATS[payload.format]
    temporary = out_dir / f"sprite.tmp.{extension}"
    final = out_dir / f"sprite.{extension}"
    filters = f"fps=1/{payload.interval:g},scale={payload.width}:-2,tile={columns}x{rows}"
    ffmpeg = ctx.external_program("ffmpeg", find_ffmpeg)
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
    argv += ["-i", str(source), "-an", "-progress", "pipe:1", "-nostats"]
    argv += image_output_argv(temporary, filters=["-vf", filters], fmt=payload.format)
    on_line = ffmpeg_lines(
        ctx.log, ctx.progress, duration=duration, label="filmstrip", percent=percent
    )

    result = ctx.launch_external(argv, name="ffmpeg", on_line=on_line, inputs=[source])
    if not result.ok or not temporary.is_file():
        temporary.unlink(missing_ok=True)
        raise HandlerError(f"Filmstrip: {result.describe()}")
    image = probe(temporary).video[0]["params"]
    tile = (image["width"] // columns, image["height"] // rows)
    vtt_temporary = out_dir / "sprite.tmp.vtt"
    vtt_final = out_dir / "sprite.vtt"
    vtt_temporary.write_text(
        webvtt(
            final.name,
            frames=frames,
            columns=columns,
            interval=payload.interval,
            duration=duration,
            tile=tile,
        ),
        encoding="utf-8",
    )
    temporary.replace(final)
    vtt_temporary.replace(vtt_final)
    return {
        "sprite": {
            "path": str(final),
            "width": image["width"],
            "height": image["height"],
            "columns": columns,
            "rows": rows,
            "tileWidth": tile[0],
            "tileHeight": tile[1],
        },
        "vtt": str(vtt_final),
        "cues": frames,
    }
