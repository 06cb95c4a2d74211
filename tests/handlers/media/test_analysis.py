"""The analysis handler: probe shape and values, audio/video-only inputs, missing and corrupt,
http(s) inputs, and what real libraries hold (rotation, variable frame rate, audio tracks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pop.handlers.media import analysis
from pop.handlers.resident import ResidentOutcome, run_resident

from ..conftest import RunHandler
from .conftest import HttpMedia, Library, Media


def analyse(*inputs: str) -> ResidentOutcome:
    return run_resident(
        analysis.run, {"inputs": list(inputs)}, operation_name="analysis", on_progress=print
    )


def test_a_clip_is_probed_into_the_documented_shape(media: Media) -> None:
    outcome = analyse(str(media.clip))
    assert outcome.succeeded
    result: Any = outcome.result
    (entry,) = result["inputs"]
    assert entry["url"] == str(media.clip)
    assert "mp4" in entry["container"]
    assert abs(entry["duration"] - 2) < 0.05
    assert entry["size"] == media.clip.stat().st_size and entry["bitrate"] > 0
    (video,) = result["inputStreams"]["video"]
    assert set(video["params"]) == {
        "codec",
        "width",
        "height",
        "frameRate",
        "displayAspectRatio",
        "rotation",
        "bitrate",
        "duration",
    }
    params = video["params"]
    assert (params["codec"], params["width"], params["height"]) == ("h264", 320, 240)
    assert params["frameRate"] == 25 and params["displayAspectRatio"] == "4:3"
    assert params["rotation"] == 0 and abs(params["duration"] - 2) < 0.05
    (audio,) = result["inputStreams"]["audio"]
    assert set(audio["params"]) == {
        "codec",
        "channels",
        "sampleRate",
        "bitrate",
        "language",
        "duration",
    }
    assert audio["params"]["codec"] == "aac"
    assert (audio["params"]["channels"], audio["params"]["sampleRate"]) == (1, 44100)
    assert isinstance(audio["params"]["duration"], float)


def test_file_urls_and_several_inputs_are_probed_in_order(media: Media) -> None:
    outcome = analyse(media.clip.as_uri(), str(media.audio_only), str(media.video_only))
    result: Any = outcome.result
    assert result["inputs"][0]["url"] == media.clip.as_uri()
    assert [stream["input"] for stream in result["inputStreams"]["video"]] == [0, 2]
    assert [stream["input"] for stream in result["inputStreams"]["audio"]] == [0, 1]


def test_an_audio_only_input_has_no_video_streams(media: Media) -> None:
    result: Any = analyse(str(media.audio_only)).result
    assert result["inputStreams"]["video"] == []
    assert result["inputStreams"]["audio"][0]["params"]["sampleRate"] == 44100


def test_a_video_only_input_has_no_audio_streams(media: Media) -> None:
    result: Any = analyse(str(media.video_only)).result
    assert result["inputStreams"]["audio"] == []
    assert result["inputStreams"]["video"][0]["params"]["width"] == 320


def test_a_missing_input_fails_permanently_before_probing(
    media: Media, tmp_path: Path, run_handler_process: RunHandler
) -> None:
    missing = tmp_path / "nowhere.mp4"
    payload = json.dumps({"inputs": [str(media.corrupt), str(missing)]})
    done = run_handler_process("pop.handlers.media.analysis:run", env={"PAYLOAD": payload})
    assert done.exit_code == 2, done.stderr
    message = done.final_progress()["diagnosticEvents"][-1]["message"]
    assert "not found" in message and str(missing) in message
    assert "Invalid data" not in message  # the corrupt file, listed first, was never probed


def test_a_corrupt_input_fails_quoting_the_decoder_error(media: Media) -> None:
    outcome = analyse(str(media.corrupt))
    assert outcome.permanent
    message = outcome.progress.diagnostic_events[-1].message
    assert str(media.corrupt) in message and "Invalid data found when processing input" in message


def test_an_http_input_is_downloaded_probed_and_keeps_its_url(
    media: Media, http_media: HttpMedia, tmp_path: Path
) -> None:
    url = http_media.url(media.clip)
    seen: list[str] = []
    outcome = run_resident(
        analysis.run,
        {"inputs": [str(media.audio_only), url]},
        operation_name="analysis",
        on_progress=lambda progress: seen.append(progress.processing_state_message or ""),
        op_dir=tmp_path,
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert [entry["url"] for entry in result["inputs"]] == [str(media.audio_only), url]
    assert result["inputs"][1]["size"] == media.clip.stat().st_size
    assert result["inputStreams"]["video"][0]["input"] == 1
    assert any(message.startswith(f"downloading {url}: ") for message in seen)
    assert list(tmp_path.iterdir()) == []  # the downloaded copy is gone


def test_an_http_404_fails_permanently_naming_the_url_and_status(http_media: HttpMedia) -> None:
    url = http_media.url("media0/gone.mp4")
    outcome = analyse(url)
    assert outcome.permanent
    message = outcome.progress.diagnostic_events[-1].message
    assert message == f"Cannot download {url}: HTTP 404 File not found"


def test_a_rotated_phone_clip_reports_rotation_90_and_its_coded_size(library: Library) -> None:
    result: Any = analyse(str(library.rotated)).result
    params = result["inputStreams"]["video"][0]["params"]
    assert params["rotation"] == 90
    assert (params["width"], params["height"]) == (320, 240)


def test_a_variable_frame_rate_clip_reports_its_average_frame_rate(library: Library) -> None:
    result: Any = analyse(str(library.vfr)).result
    params = result["inputStreams"]["video"][0]["params"]
    # 25 frames in the first second, 15 more over the next 1.16 s: 40 frames in 2.16 s
    assert 12.5 < params["frameRate"] < 25
    assert abs(params["frameRate"] - 40 / result["inputs"][0]["duration"]) < 0.5


def test_every_audio_track_is_listed_with_its_language(library: Library) -> None:
    result: Any = analyse(str(library.multi_audio)).result
    tracks = result["inputStreams"]["audio"]
    assert [track["index"] for track in tracks] == [1, 2]
    assert [track["params"]["language"] for track in tracks] == ["eng", "fra"]
    assert [track["params"]["channels"] for track in tracks] == [1, 2]
