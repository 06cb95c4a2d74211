"""The ``analysis`` handler: probe media inputs so later operations can reference their params.

Layer: handlers. Registered as ``analysis`` (``pop.handlers.media.analysis:run``); probing runs
in-process with PyAV.

Payload: ``{"inputs": ["path or file:// URL", ...]}``. Every input is checked to exist before
any is probed (PermanentError naming the missing ones). Output::

    {"inputs": [{"url", "container", "duration", "size", "bitrate"}],
     "inputStreams": {"video": [{"index", "input", "params": {"codec", "width", "height",
                       "frameRate", "displayAspectRatio", "rotation", "bitrate", "duration"}}],
                      "audio": [{"index", "input", "params": {"codec", "channels", "sampleRate",
                       "bitrate", "language", "duration"}}]}}

``index`` is the stream's index in its file and ``input`` the file's position in ``inputs``;
durations are seconds, so ``@<analysis.out::/inputStreams/video/0/params/duration>`` is a number.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pop.handlers import handler
from pop.handlers.context import HandlerContext
from pop.handlers.media.inputs import existing_files
from pop.handlers.media.probe import probe
from pop.models import WireModel


class AnalysisPayload(WireModel):
    """The analysis handler's payload: the inputs to probe."""

    inputs: list[str] = Field(min_length=1)


@handler(payload_model=AnalysisPayload)
def run(ctx: HandlerContext) -> Any:
    """Probe every input; the result in the shape above."""
    payload: AnalysisPayload = ctx.payload
    paths = existing_files(payload.inputs)
    inputs: list[dict[str, Any]] = []
    video: list[dict[str, Any]] = []
    audio: list[dict[str, Any]] = []
    for position, (url, path) in enumerate(zip(payload.inputs, paths, strict=True)):
        result = probe(path, url=url)
        inputs.append(result.input)
        video.extend({**stream, "input": position} for stream in result.video)
        audio.extend({**stream, "input": position} for stream in result.audio)
        ctx.progress((position + 1) / len(paths) * 100, f"probed {url}")
    return {"inputs": inputs, "inputStreams": {"video": video, "audio": audio}}
