"""Transcoding what real libraries hold: http(s) inputs, audio-only and video-only inputs, rotated
phone video, variable frame rate, several audio tracks."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from pop.handlers.media import transcode
from pop.handlers.resident import ResidentOutcome, run_resident

from .conftest import HttpMedia, Library, Media

RunPop = Callable[..., subprocess.CompletedProcess[str]]
FAST = {"preset": "ultrafast", "crf": 30}


def transcode_to(
    op_dir: Path, source: str, *renditions: dict[str, Any], **extra: Any
) -> ResidentOutcome:
    payload = {"input": source, "renditions": list(renditions), **extra}
    return run_resident(
        transcode.run, payload, operation_name="t", on_progress=lambda _: None, op_dir=op_dir
    )


def test_an_http_input_is_downloaded_transcoded_and_the_download_removed(
    media: Media, http_media: HttpMedia, tmp_path: Path
) -> None:
    percents: list[float] = []
    payload = {
        "input": http_media.url(media.clip),
        "renditions": [{"name": "small", "height": 120, **FAST}],
    }
    outcome = run_resident(
        transcode.run,
        payload,
        operation_name="t",
        on_progress=lambda progress: percents.append(progress.percent_complete or 0),
        op_dir=tmp_path,
    )
    assert outcome.succeeded, outcome.progress
    assert sorted(path.name for path in tmp_path.iterdir()) == ["small.mp4"]
    assert percents == sorted(percents)  # the download's 0-10 %, then the rendition's 10-100 %
    assert any(0 < percent <= 10 for percent in percents)


def test_an_http_404_input_fails_permanently(http_media: HttpMedia, tmp_path: Path) -> None:
    url = http_media.url("media0/missing.mp4")
    outcome = transcode_to(tmp_path, url, {"name": "small", **FAST})
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == (
        f"Cannot download {url}: HTTP 404 File not found"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_audio_only_input_gives_audio_only_renditions(media: Media, tmp_path: Path) -> None:
    outcome = transcode_to(
        tmp_path,
        str(media.audio_only),
        {"name": "aac64", "audioBitrate": "64k"},
        {"name": "opus", "audioCodec": "opus", "audioBitrate": "48k"},
        qc={"ssim": 0.9},  # picture QC has no picture to measure here
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert sorted(path.name for path in tmp_path.iterdir()) == ["aac64.m4a", "opus.m4a"]
    for rendition, codec in zip(result["renditions"], ["aac", "opus"], strict=True):
        assert rendition["params"]["video"] is None
        assert rendition["params"]["audio"]["codec"] == codec
        assert rendition["qc"] == {}
        with av.open(rendition["path"]) as container:
            assert not container.streams.video and len(container.streams.audio) == 1


def test_a_video_only_input_gives_video_only_renditions(media: Media, tmp_path: Path) -> None:
    outcome = transcode_to(tmp_path, str(media.video_only), {"name": "v", "width": 160, **FAST})
    result: Any = outcome.result
    (rendition,) = result["renditions"]
    assert rendition["params"]["audio"] is None and rendition["params"]["video"]["width"] == 160


def test_a_rotated_phone_clip_is_transcoded_upright_at_the_displayed_size(
    library: Library, tmp_path: Path
) -> None:
    outcome = transcode_to(
        tmp_path,
        str(library.rotated),
        {"name": "portrait", "height": 160, **FAST},
        qc={"ssim": 0.8},
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    (rendition,) = result["renditions"]
    # coded 320x240 shown turned by 90 degrees is 240x320; height 160 of that is 120x160
    assert rendition["params"]["video"]["rotation"] == 0
    with av.open(rendition["path"]) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (120, 160)
        frame = next(container.decode(stream))
        assert (frame.width, frame.height) == (120, 160) and not frame.rotation
    assert rendition["qc"]["ssim"] > 0.8  # compared upright with the upright source


def test_a_variable_frame_rate_clip_with_fps_becomes_constant_and_passes_qc(
    library: Library, tmp_path: Path
) -> None:
    outcome = transcode_to(
        tmp_path,
        str(library.vfr),
        {"name": "cfr", "fps": 25, "preset": "ultrafast", "crf": 18},
        qc={"ssim": 0.95},
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    (rendition,) = result["renditions"]
    assert rendition["params"]["video"]["frameRate"] == 25
    assert rendition["qc"]["ssim"] >= 0.95
    with av.open(rendition["path"]) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
    steps = {round(later - earlier, 4) for earlier, later in itertools.pairwise(times)}
    assert steps == {0.04}


def test_the_first_audio_track_is_kept_by_default_with_its_language(
    library: Library, tmp_path: Path
) -> None:
    outcome = transcode_to(tmp_path, str(library.multi_audio), {"name": "first", **FAST})
    result: Any = outcome.result
    audio = result["renditions"][0]["params"]["audio"]
    assert (audio["channels"], audio["language"]) == (1, "eng")
    with av.open(result["renditions"][0]["path"]) as container:
        assert len(container.streams.audio) == 1


def test_audio_track_picks_another_track_per_payload_or_rendition(
    library: Library, tmp_path: Path
) -> None:
    outcome = transcode_to(
        tmp_path,
        str(library.multi_audio),
        {"name": "french", **FAST},
        {"name": "english", "audioTrack": 0, **FAST},
        audioTrack=1,
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    french, english = (rendition["params"]["audio"] for rendition in result["renditions"])
    assert (french["channels"], french["language"]) == (2, "fra")
    assert (english["channels"], english["language"]) == (1, "eng")


def test_an_audio_track_the_input_lacks_fails_before_any_encoding(
    library: Library, media: Media, tmp_path: Path
) -> None:
    outcome = transcode_to(tmp_path, str(library.multi_audio), {"name": "x", "audioTrack": 2})
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == (
        "Rendition x: audioTrack 2 does not exist (the input has 2 audio tracks; tracks count "
        "from 0)"
    )
    silent = transcode_to(tmp_path, str(media.video_only), {"name": "x"}, audioTrack=0)
    assert "the input has 0 audio tracks" in silent.progress.diagnostic_events[-1].message
    assert list(tmp_path.iterdir()) == []


def test_an_agenda_analyses_and_transcodes_an_http_input_with_qc(
    media: Media, http_media: HttpMedia, tmp_path: Path, run_pop: RunPop
) -> None:
    agenda = {
        "operations": [
            {
                "name": "analysis",
                "type": "analysis",
                "payload": {"inputs": [http_media.url(media.clip)]},
            },
            {
                "name": "transcode",
                "type": "transcode",
                "payload": {
                    "input": "@<analysis.out::/inputs/0/url>",
                    "qc": {"ssim": 0.8},
                    "renditions": [{"name": "small", "height": 120, **FAST}],
                },
            },
        ]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("run-local", str(agenda_file), "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["processingState"] == "COMPLETE"
    assert http_media.requests.count("/" + str(media.clip.relative_to(http_media.root))) >= 2
