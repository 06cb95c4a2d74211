"""The ``analysis`` handler: probe media inputs so later operations can reference their params.

Layer: handlers. Registered as ``analysis`` (``pop.handlers.media.analysis:run``); probing runs
in-process with PyAV.

Payload: ``{"inputs": ["path, file:// or http(s):// URL", ...]}``. Every local input is checked
to exist before anything else (PermanentError naming the missing ones); http(s) inputs are then
downloaded into the op's folder (:mod:`.inputs`; the first half of the percent), probed, and
deleted when the op ends. Output::

    {"inputs": [{"url", "container", "duration", "size", "bitrate"}],
     "inputStreams": {"video": [{"index", "input", "params": {"codec", "width", "height",
                       "frameRate", "displayAspectRatio", "rotation", "bitrate", "duration"}}],
                      "audio": [{"index", "input", "params": {"codec", "channels", "sampleRate",
                       "bitrate", "language", "duration"}}]}}

``index`` is the stream's index in its file and ``input`` the file's position in ``inputs``;
durations are seconds, so ``@<analysis.out::/inputStreams/video/0/params/duration>`` is a number.
``rotation`` is the clockwise turn a player applies (90 for a portrait phone recording; width and
height are the coded ones); ``frameRate`` is the average rate, also for a variable frame rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from pop.handlers import handler
from pop.handlers.media.inputs import handler_inputs
from pop.handlers.media.probe import probe
from pop.handlers.paths import InputPath
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

DOWNLOAD_SHARE = 50.0  # percent of the op the downloads of http(s) inputs stand for


class AnalysisPayload(WireModel):
    """The analysis handler's payload: the inputs to probe."""

    inputs: list[InputPath] = Field(min_length=1)


@handler(payload_model=AnalysisPayload)
def run(ctx: HandlerContext) -> Any:
    """Probe every input; the result in the shape above."""
    payload: AnalysisPayload = ctx.payload
    count = len(payload.inputs)
    inputs: list[dict[str, Any]] = []
    video: list[dict[str, Any]] = []
    audio: list[dict[str, Any]] = []
    with handler_inputs(ctx, payload.inputs, share=DOWNLOAD_SHARE) as (paths, percent):
        for position, (url, path) in enumerate(zip(payload.inputs, paths, strict=True)):
            result = probe(path, url=url)
            inputs.append(result.input)
            video.extend({**stream, "input": position} for stream in result.video)
            audio.extend({**stream, "input": position} for stream in result.audio)
            ctx.progress(percent((position + 1) / count * 100.0), f"probed {url}")
    return {"inputs": inputs, "inputStreams": {"video": video, "audio": audio}}
