"""Picture-quality QC of a rendition against its source: SSIM and VMAF thresholds.

Layer: handlers. Used by the transcode handler after each rendition is encoded. One ffmpeg run
(through ``ctx.launch_external``) per rendition computes every asked metric with ffmpeg's
``ssim`` and ``libvmaf`` filters. The rendition is scaled back (bicubic) to the source's
displayed size, the way VMAF is meant to be used: the score then says what a viewer of the
source's size sees, and a smaller rendition is penalised for the detail it lost. The source is
decoded with ffmpeg's autorotation, so a rotated phone video is compared upright with its upright
rendition. Both sides are converted to yuv420p and their timestamps start at 0; frames are paired
by timestamp, which also holds for a variable frame rate source against a constant rate output.

The scores come from the filters' own summary lines on ffmpeg's log (``SSIM ... All:0.98``,
``VMAF score: 93.2``): SSIM is the mean over all planes and frames (0-1), VMAF the mean over
frames (0-100, libvmaf's default model).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field, model_validator

from pop.errors import HandlerError, PermanentError
from pop.models import WireModel

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

FILTERS = {"ssim": "ssim", "vmaf": "libvmaf"}
LABELS = {"ssim": "SSIM", "vmaf": "VMAF"}
_SCORES = {
    "ssim": re.compile(r"\bSSIM\b.*\bAll:([0-9.]+)"),
    "vmaf": re.compile(r"\bVMAF score: ([0-9.]+)"),
}
_DIGITS = {"ssim": 6, "vmaf": 4}


class QcThresholds(WireModel):
    """The lowest acceptable scores: ``ssim`` in (0, 1], ``vmaf`` in (0, 100]; at least one.
    Unknown metric names are rejected rather than silently not checked."""

    model_config = ConfigDict(extra="forbid")

    ssim: float | None = Field(default=None, gt=0, le=1)
    vmaf: float | None = Field(default=None, gt=0, le=100)

    @model_validator(mode="after")
    def _at_least_one(self) -> QcThresholds:
        if self.ssim is None and self.vmaf is None:
            raise ValueError("give a threshold for ssim, vmaf or both")
        return self

    def metrics(self) -> dict[str, float]:
        """``{"ssim": 0.95, "vmaf": 90}`` for the thresholds given, in that order."""
        return {name: value for name, value in (("ssim", self.ssim), ("vmaf", self.vmaf)) if value}


def displayed_size(video_params: dict[str, Any]) -> tuple[int, int]:
    """(width, height) as a player shows the stream: coded size, swapped for 90/270 rotation."""
    width, height = int(video_params["width"]), int(video_params["height"])
    if round(float(video_params.get("rotation") or 0)) % 180 == 90:
        return height, width
    return width, height


def qc_argv(
    ffmpeg: str, rendition: Path, source: Path, metrics: list[str], *, size: tuple[int, int]
) -> list[str]:
    """ffmpeg comparing ``rendition`` (scaled to ``size``) with ``source`` for every metric."""
    width, height = size
    count = len(metrics)
    split = f",split={count}" if count > 1 else ""
    distorted = [f"[d{n}]" for n in range(count)]
    reference = [f"[r{n}]" for n in range(count)]
    graph = [
        f"[0:v:0]scale={width}:{height}:flags=bicubic,format=yuv420p,settb=AVTB,"
        f"setpts=PTS-STARTPTS{split}{''.join(distorted)}",
        f"[1:v:0]format=yuv420p,settb=AVTB,setpts=PTS-STARTPTS{split}{''.join(reference)}",
    ]
    maps: list[str] = []
    for n, metric in enumerate(metrics):
        graph.append(f"{distorted[n]}{reference[n]}{FILTERS[metric]}[q{n}]")
        maps += ["-map", f"[q{n}]"]
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-i",
        str(rendition),
        "-i",
        str(source),
        "-filter_complex",
        ";".join(graph),
        *maps,
        "-f",
        "null",
        "-",
    ]


def measure(
    ctx: HandlerContext,
    ffmpeg: str,
    rendition: Path,
    source: Path,
    metrics: list[str],
    *,
    size: tuple[int, int],
    label: str,
) -> dict[str, float]:
    """Run the comparison and return ``{metric: score}``; HandlerError when ffmpeg fails or
    prints no score for a metric."""
    scores: dict[str, float] = {}

    def on_line(line: str) -> None:
        for metric in metrics:
            found = _SCORES[metric].search(line)
            if found:
                scores[metric] = round(float(found.group(1)), _DIGITS[metric])

    argv = qc_argv(ffmpeg, rendition, source, metrics, size=size)
    result = ctx.launch_external(argv, name="ffmpeg", on_line=on_line, inputs=[source, rendition])
    if not result.ok:
        raise HandlerError(f"QC of rendition {label}: {result.describe()}")
    missing = [LABELS[metric] for metric in metrics if metric not in scores]
    if missing:
        raise HandlerError(
            f"QC of rendition {label}: ffmpeg printed no {', '.join(missing)} score. "
            + result.describe()
        )
    return scores


def format_score(metric: str, value: float) -> str:
    """SSIM with up to 4 significant digits (0.812, 0.9496), VMAF with 2 decimals (85.72)."""
    return f"{value:.4g}" if metric == "ssim" else f"{value:.2f}"


def check(scores: dict[str, float], thresholds: dict[str, float], *, label: str) -> None:
    """PermanentError naming each metric below its threshold, its score and the threshold."""
    failures = [
        f"{LABELS[metric]} {format_score(metric, scores[metric])} is below the threshold "
        f"{threshold:g}"
        for metric, threshold in thresholds.items()
        if metric in scores and scores[metric] < threshold
    ]
    if failures:
        raise PermanentError(f"QC failed for rendition {label}: " + "; ".join(failures))
