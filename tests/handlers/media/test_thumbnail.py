"""The thumbnail handler: frames at times or every N seconds, sizes, formats, bad payloads."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pop.handlers.media import thumbnail
from pop.handlers.media.probe import probe
from pop.handlers.resident import ResidentOutcome, run_resident

from .conftest import HttpMedia, Media

RunPop = Callable[..., subprocess.CompletedProcess[str]]


def grab(payload: dict[str, Any], op_dir: Path) -> ResidentOutcome:
    return run_resident(
        thumbnail.run, payload, operation_name="t", on_progress=lambda _: None, op_dir=op_dir
    )


def test_thumbnails_at_given_times_have_the_asked_width_and_keep_the_aspect(
    media: Media, tmp_path: Path
) -> None:
    payload = {"input": str(media.clip), "times": [0, 1.5, 2.0], "width": 160}
    outcome = grab(payload, tmp_path)
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert [t["time"] for t in result["thumbnails"]] == [0, 1.5, 2.0]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "thumb-0001.jpg",
        "thumb-0002.jpg",
        "thumb-0003.jpg",
    ]
    for entry in result["thumbnails"]:
        image = probe(Path(entry["path"])).video[0]["params"]
        assert (entry["width"], entry["height"]) == (image["width"], image["height"]) == (160, 120)
        assert entry["size"] == Path(entry["path"]).stat().st_size


@pytest.mark.parametrize(("fmt", "extension"), [("png", "png"), ("webp", "webp")])
def test_png_and_webp_thumbnails_are_written_at_the_asked_height(
    fmt: str, extension: str, media: Media, tmp_path: Path
) -> None:
    payload = {"input": str(media.video_only), "times": [1], "height": 60, "format": fmt}
    outcome = grab(payload, tmp_path)
    result: Any = outcome.result
    (entry,) = result["thumbnails"]
    assert entry["path"] == str(tmp_path / f"thumb-0001.{extension}")
    assert (entry["width"], entry["height"]) == (80, 60)


def test_every_half_second_of_a_two_second_clip_gives_four_thumbnails(
    media: Media, tmp_path: Path
) -> None:
    outcome = grab({"input": str(media.clip), "every": 0.5}, tmp_path)
    result: Any = outcome.result
    assert [t["time"] for t in result["thumbnails"]] == [0, 0.5, 1.0, 1.5]
    assert {(t["width"], t["height"]) for t in result["thumbnails"]} == {(320, 240)}


def test_times_past_the_end_fail_the_op_naming_them(media: Media, tmp_path: Path) -> None:
    outcome = grab({"input": str(media.clip), "times": [1, 2.5, 7]}, tmp_path)
    assert not outcome.succeeded
    messages = " ".join(event.message for event in outcome.progress.diagnostic_events or [])
    assert "past the input's duration (2 s): 2.5, 7" in messages
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"input": "x.mp4", "times": [1], "every": 1},
        {"input": "x.mp4"},
        {"input": "x.mp4", "times": [1], "width": -160},
        {"input": "x.mp4", "every": 1, "format": "gif"},
        {"input": "x.mp4", "every": 0},
        {"input": "x.mp4", "times": [-1]},
    ],
)
def test_a_bad_thumbnail_payload_is_rejected_by_the_model(payload: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        thumbnail.ThumbnailPayload.model_validate(payload)


def test_a_bad_thumbnail_payload_is_rejected_at_submit(tmp_path: Path, run_pop: RunPop) -> None:
    agenda = {
        "operations": [
            {
                "name": "t",
                "type": "thumbnail",
                "payload": {"input": "x.mp4", "times": [1], "every": 2},
            }
        ]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("submit", str(agenda_file))
    assert done.returncode == 2, done.stdout + done.stderr


def test_an_http_input_is_downloaded_with_progress_and_the_copy_removed(
    media: Media, http_media: HttpMedia, tmp_path: Path
) -> None:
    url = http_media.url(media.clip)
    seen: list[tuple[float, str]] = []
    outcome = run_resident(
        thumbnail.run,
        {"input": url, "times": [0, 1]},
        operation_name="t",
        on_progress=lambda p: seen.append(
            (p.percent_complete or 0, p.processing_state_message or "")
        ),
        op_dir=tmp_path,
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert [t["width"] for t in result["thumbnails"]] == [320, 320]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["thumb-0001.jpg", "thumb-0002.jpg"]
    downloads = [percent for percent, message in seen if message.startswith(f"downloading {url}")]
    assert downloads and max(downloads) <= 10.0
    thumbs = [percent for percent, message in seen if message.startswith("thumbnail ")]
    assert thumbs == [55.0, 100.0]  # the frames share the 90% after the download
