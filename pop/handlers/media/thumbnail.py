"""The ``thumbnail`` handler: still frames of one input at given times or every N seconds.

Layer: handlers. Registered as ``thumbnail`` (``pop.handlers.media.thumbnail:run``). ffmpeg runs
through ``ctx.launch_external``, once per time (``-ss T -i input -frames:v 1``, a fast input seek).

Payload::

    {"input": "path, file:// or http(s):// URL", "times": [0, 1.5], "width": 320, "height": null,
     "format": "jpeg"}

Give exactly one of ``times`` (seconds, not negative) and ``every`` (seconds, positive: times 0,
every, 2*every, ... before the probed duration). ``width`` / ``height``: give one to keep the
aspect ratio; neither keeps the input's size. ``format``: jpeg (default), png or webp. A time
past the probed duration fails the op permanently, naming it; a time in the last frame (up to the
duration itself) gives the last frame. Frame ``n`` is written to
``<op_dir>/thumb-000n.tmp.<ext>`` and renamed to ``<op_dir>/thumb-000n.<ext>``. Output:
``{"thumbnails": [{"time", "path", "width", "height", "size"}]}``, dimensions probed from the
written file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from pop.errors import HandlerError, PermanentError
from pop.handlers import handler
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.inputs import handler_inputs
from pop.handlers.media.probe import probe
from pop.handlers.paths import InputPath
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

# format -> (file extension, ffmpeg encoder and its options)
IMAGE_FORMATS: dict[str, tuple[str, list[str]]] = {
    "jpeg": ("jpg", ["-c:v", "mjpeg", "-q:v", "2"]),
    "png": ("png", ["-c:v", "png"]),
    "webp": ("webp", ["-c:v", "libwebp", "-quality", "80"]),
}


class ThumbnailPayload(WireModel):
    """The thumbnail handler's payload: one input, ``times`` or ``every``, size and format."""

    input: InputPath
    times: list[NonNegativeFloat] | None = Field(default=None, min_length=1)
    every: PositiveFloat | None = None
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    format: Literal["jpeg", "png", "webp"] = "jpeg"

    @model_validator(mode="after")
    def _times_or_every(self) -> ThumbnailPayload:
        if (self.times is None) == (self.every is None):
            raise ValueError("give exactly one of times and every")
        return self


def scale_filter(width: int | None, height: int | None) -> list[str]:
    """``-vf scale=W:H`` keeping the aspect ratio when one side is missing; [] for neither."""
    if width is None and height is None:
        return []
    return ["-vf", f"scale={width or -1}:{height or -1}"]


def image_output_argv(output: Path, *, filters: list[str], fmt: str) -> list[str]:
    """The output half of an ffmpeg command writing one still image in ``fmt`` to ``output``."""
    _, encoder = IMAGE_FORMATS[fmt]
    return [
        *filters,
        "-frames:v",
        "1",
        *encoder,
        "-f",
        "image2",
        "-update",
        "1",
        str(output),
    ]


def thumbnail_times(payload: ThumbnailPayload, duration: float | None) -> list[float]:
    """The times to grab; PermanentError naming every time past ``duration``."""
    if payload.times is not None:
        times = list(payload.times)
        if duration is not None:
            late = [time for time in times if time > duration]
            if late:
                listed = ", ".join(f"{time:g}" for time in late)
                raise PermanentError(
                    f"Thumbnail times past the input's duration ({duration:g} s): {listed}"
                )
        return times
    if duration is None:
        raise PermanentError("every needs the input's duration, which is unknown")
    assert payload.every is not None
    count = max(1, int(-(-duration // payload.every)))  # ceil: times before the end
    return [round(index * payload.every, 6) for index in range(count)]


def _last_frame_time(video: dict[str, Any], duration: float | None) -> float:
    """A seek time that still lands on the last frame: half a frame before its start.

    A seek to the very end decodes nothing, so times in the last frame are clamped to this.
    """
    end = video.get("duration") or duration or 0.0
    frame = 1 / (video.get("frameRate") or 25.0)
    return max(0.0, float(end) - 1.5 * frame)


@handler(payload_model=ThumbnailPayload)
def run(ctx: HandlerContext) -> Any:
    """Grab one frame per time, probe each file, publish by rename."""
    payload: ThumbnailPayload = ctx.payload
    with handler_inputs(ctx, [payload.input]) as ((source,), percent):
        return _thumbnails(ctx, payload, source, percent)


def _thumbnails(
    ctx: HandlerContext, payload: ThumbnailPayload, source: Path, percent: Callable[[float], float]
) -> Any:
    source_probe = probe(source, url=payload.input)
    if not source_probe.video:
        raise PermanentError(f"Input {payload.input} has no video stream")
    times = thumbnail_times(payload, source_probe.duration)
    ffmpeg = ctx.external_program("ffmpeg", find_ffmpeg)
    out_dir = ctx.op_dir or Path.cwd()
    out_dir.mkdir(parents=True, exist_ok=True)
    extension, _ = IMAGE_FORMATS[payload.format]
    filters = scale_filter(payload.width, payload.height)
    last_frame = _last_frame_time(source_probe.video[0]["params"], source_probe.duration)
    thumbnails = []
    for number, time in enumerate(times, start=1):
        temporary = out_dir / f"thumb-{number:04d}.tmp.{extension}"
        final = out_dir / f"thumb-{number:04d}.{extension}"
        argv = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
        argv += ["-ss", f"{min(time, last_frame):.6f}", "-i", str(source)]
        argv += image_output_argv(temporary, filters=filters, fmt=payload.format)
        result = ctx.launch_external(argv, name="ffmpeg", inputs=[source])
        if not result.ok:
            temporary.unlink(missing_ok=True)
            raise HandlerError(f"Thumbnail at {time:g} s: {result.describe()}")
        if not temporary.is_file() or temporary.stat().st_size == 0:
            temporary.unlink(missing_ok=True)
            raise PermanentError(f"Thumbnail at {time:g} s: ffmpeg decoded no frame there")
        image = probe(temporary).video[0]["params"]
        temporary.replace(final)
        thumbnails.append(
            {
                "time": time,
                "path": str(final),
                "width": image["width"],
                "height": image["height"],
                "size": final.stat().st_size,
            }
        )
        ctx.progress(
            percent(number / len(times) * 100), f"thumbnail {number}/{len(times)} at {time:g} s"
        )
    return {"thumbnails": thumbnails}
