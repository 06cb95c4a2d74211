"""The analysis handler: probe shape and values, audio/video-only inputs, missing and corrupt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pop.handlers.media import analysis
from pop.handlers.resident import ResidentOutcome, run_resident

from ..conftest import RunHandler
from .conftest import Media


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


def test_http_inputs_are_not_supported_yet() -> None:
    outcome = analyse("https://example.com/clip.mp4")
    assert outcome.permanent
    assert "not supported yet" in outcome.progress.diagnostic_events[-1].message
