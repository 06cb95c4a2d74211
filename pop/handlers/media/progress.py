"""Parsing ffmpeg's ``-progress pipe:1 -nostats`` output into percent, fps and speed.

Layer: handlers. :func:`ffmpeg_lines` is the ``on_line`` callback of the transcode, filmstrip
and package handlers' ffmpeg runs. ffmpeg writes blocks of
``key=value`` lines, each ending with ``progress=continue`` (or ``progress=end`` for the last):
``out_time_us`` (microseconds; ``out_time_ms`` is, despite its name, microseconds too, and
``out_time`` is ``HH:MM:SS.micro``), ``fps`` and ``speed`` (``1.5x``). Values may be ``N/A``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressUpdate:
    """One completed block: seconds written so far, percent of the duration, fps, speed."""

    out_time: float | None
    percent: float | None
    fps: float | None
    speed: float | None
    end: bool

    def message(self) -> str:
        """A short human message: ``fps 123.4, speed 4.9x``."""
        parts = []
        if self.fps is not None:
            parts.append(f"fps {self.fps:g}")
        if self.speed is not None:
            parts.append(f"speed {self.speed:g}x")
        return ", ".join(parts) or "transcoding"


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip().rstrip("x"))
    except ValueError:
        return None


def _clock_seconds(text: str) -> float | None:
    hours, _, rest = text.strip().partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


class ProgressParser:
    """Feed it output lines; it returns a :class:`ProgressUpdate` at the end of each block. The
    percent never falls: ffmpeg's ``out_time`` steps back near the end of some encodes."""

    def __init__(self, duration: float | None) -> None:
        self.duration = duration if duration and duration > 0 else None
        self._block: dict[str, str] = {}
        self._highest = 0.0  # ffmpeg's out_time can step back near the end; percent never does

    def feed(self, line: str) -> ProgressUpdate | None:
        """Take one line; a ProgressUpdate when it ended a block, else None (lines that are not
        ``key=value`` are ignored)."""
        key, equals, value = line.strip().partition("=")
        if not equals or not key or " " in key:
            return None
        if key != "progress":
            self._block[key.strip()] = value.strip()
            return None
        block, self._block = self._block, {}
        out_time = self._out_time(block)
        percent = None
        if out_time is not None and self.duration:
            percent = max(0.0, min(100.0, out_time / self.duration * 100))
        end = value.strip() == "end"
        if end and self.duration:
            percent = 100.0
        if percent is not None:
            percent = self._highest = max(percent, self._highest)
        return ProgressUpdate(
            out_time=out_time,
            percent=percent,
            fps=_number(block.get("fps")),
            speed=_number(block.get("speed")),
            end=end,
        )

    @staticmethod
    def _out_time(block: dict[str, str]) -> float | None:
        for key in ("out_time_us", "out_time_ms"):
            microseconds = _number(block.get(key))
            if microseconds is not None:
                return max(0.0, microseconds / 1_000_000)
        if "out_time" in block:
            return _clock_seconds(block["out_time"])
        return None


def ffmpeg_lines(
    log: Callable[[str], None],
    progress: Callable[[float, str], None],
    *,
    duration: float | None,
    label: str,
    percent: Callable[[float], float],
) -> Callable[[str], None]:
    """An ``on_line`` for ``ctx.launch_external`` running ffmpeg with ``-progress pipe:1``: each
    completed progress block becomes ``progress(percent(p), "<label>: fps .., speed ..x")``, where
    ``p`` is this run's 0-100 percent of ``duration`` and ``percent`` maps it onto the op's; other
    lines (ffmpeg's errors) go to ``log`` as ``[ffmpeg <label>] line``."""
    parser = ProgressParser(duration)

    def on_line(line: str) -> None:
        update = parser.feed(line)
        if update is None:
            if "=" not in line:
                log(f"[ffmpeg {label}] {line}")
        elif update.percent is not None:
            progress(percent(update.percent), f"{label}: {update.message()}")

    return on_line
