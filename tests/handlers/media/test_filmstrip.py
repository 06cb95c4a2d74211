"""The filmstrip handler: sprite sheet dimensions and a contiguous WebVTT scrub index."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pop.handlers.media import filmstrip
from pop.handlers.media.probe import probe
from pop.handlers.resident import run_resident

from .conftest import HttpMedia, Media

CUE_TIMES = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")
CUE_TEXT = re.compile(r"^(?P<file>[\w.]+)#xywh=(\d+),(\d+),(\d+),(\d+)$")


def parse_vtt(text: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    """(start, end, file, (x, y, w, h)) per cue; fails the test on anything but those cues."""
    header, *blocks = text.strip().split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        timing, payload = block.split("\n")
        times = CUE_TIMES.match(timing)
        text_match = CUE_TEXT.match(payload)
        assert times and text_match, block
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(part) for part in times.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        x, y, w, h = (int(part) for part in text_match.groups()[1:])
        cues.append((start, end, text_match["file"], (x, y, w, h)))
    return cues


@pytest.mark.parametrize(("interval", "columns", "grid"), [(0.5, 3, (3, 2)), (1, 10, (2, 1))])
def test_the_sprite_is_a_grid_of_tiles_and_the_vtt_covers_the_whole_clip(
    interval: float, columns: int, grid: tuple[int, int], media: Media, tmp_path: Path
) -> None:
    payload = {"input": str(media.clip), "interval": interval, "columns": columns, "width": 80}
    outcome = run_resident(
        filmstrip.run, payload, operation_name="f", on_progress=lambda _: None, op_dir=tmp_path
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    sprite = result["sprite"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sprite.jpg", "sprite.vtt"]
    image = probe(Path(sprite["path"])).video[0]["params"]
    assert (sprite["columns"], sprite["rows"]) == grid
    assert (sprite["tileWidth"], sprite["tileHeight"]) == (80, 60)
    assert (image["width"], image["height"]) == (sprite["width"], sprite["height"])
    assert sprite["width"] == sprite["columns"] * sprite["tileWidth"]
    assert sprite["height"] == sprite["rows"] * sprite["tileHeight"]

    cues = parse_vtt(Path(result["vtt"]).read_text(encoding="utf-8"))
    assert len(cues) == result["cues"] == round(2 / interval)
    assert cues[0][0] == 0.0 and cues[-1][1] == 2.0
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(cues):
        assert end == start
    for _, _, name, (x, y, w, h) in cues:
        assert name == "sprite.jpg"
        assert (w, h) == (80, 60)
        assert x + w <= sprite["width"] and y + h <= sprite["height"]


def test_vtt_timestamps_have_hours_minutes_seconds_and_millis() -> None:
    assert filmstrip.vtt_timestamp(3723.4567) == "01:02:03.457"


@pytest.mark.parametrize(
    "payload",
    [
        {"input": "x.mp4", "interval": 0},
        {"input": "x.mp4", "width": -160},
        {"input": "x.mp4", "format": "gif"},
    ],
)
def test_a_bad_filmstrip_payload_is_rejected_by_the_model(payload: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        filmstrip.FilmstripPayload.model_validate(payload)


def test_an_http_input_is_downloaded_and_gives_the_same_sprite(
    media: Media, http_media: HttpMedia, tmp_path: Path
) -> None:
    url = http_media.url(media.clip)
    payload = {"input": url, "interval": 1, "width": 80}
    outcome = run_resident(
        filmstrip.run, payload, operation_name="f", on_progress=lambda _: None, op_dir=tmp_path
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert result["cues"] == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sprite.jpg", "sprite.vtt"]
