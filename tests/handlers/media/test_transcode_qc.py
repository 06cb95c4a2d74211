"""Transcode picture QC (SSIM, VMAF), the ffmpeg capability cache, and what fails before ffmpeg
starts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pop.handlers.media import capabilities, qc, transcode
from pop.handlers.resident import ResidentOutcome, run_resident

from .conftest import FfmpegWrapper, Media

RunPop = Callable[..., subprocess.CompletedProcess[str]]


def transcode_to(op_dir: Path, payload: dict[str, Any]) -> ResidentOutcome:
    return run_resident(
        transcode.run, payload, operation_name="t", on_progress=lambda _: None, op_dir=op_dir
    )


def test_ssim_and_vmaf_are_measured_against_the_source_and_reported(
    media: Media, tmp_path: Path
) -> None:
    payload = {
        "input": str(media.clip),
        "qc": {"ssim": 0.9, "vmaf": 50},
        "renditions": [
            {"name": "half", "width": 160, "preset": "ultrafast", "crf": 20},
            {"name": "full", "preset": "ultrafast", "crf": 20, "qc": {"ssim": 0.95}},
        ],
    }
    outcome = transcode_to(tmp_path, payload)
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    half, full = result["renditions"]
    assert set(half["qc"]) == {"ssim", "vmaf"} and set(full["qc"]) == {"ssim"}
    assert 0.9 <= half["qc"]["ssim"] < full["qc"]["ssim"] <= 1
    assert 50 <= half["qc"]["vmaf"] <= 100


def test_no_qc_asked_means_no_qc_in_the_output(media: Media, tmp_path: Path) -> None:
    payload = {"input": str(media.video_only), "renditions": [{"name": "r", "crf": 40}]}
    result: Any = transcode_to(tmp_path, payload).result
    assert "qc" not in result["renditions"][0]


def test_a_rendition_below_a_threshold_fails_naming_metric_value_and_threshold(
    media: Media, tmp_path: Path
) -> None:
    payload = {
        "input": str(media.clip),
        "renditions": [
            {"name": "360p", "width": 64, "crf": 51, "preset": "ultrafast"},
        ],
        "qc": {"ssim": 0.99, "vmaf": 99},
    }
    outcome = transcode_to(tmp_path, payload)
    assert outcome.permanent
    message = outcome.progress.diagnostic_events[-1].message
    assert message.startswith("QC failed for rendition 360p: SSIM 0.")
    assert "is below the threshold 0.99; VMAF " in message
    assert message.endswith("is below the threshold 99")
    ssim = float(message.split("SSIM ")[1].split(" ")[0])
    assert 0 < ssim < 0.99
    assert list(tmp_path.iterdir()) == []  # the failed rendition was not published


def test_the_qc_message_formats_scores_readably() -> None:
    with pytest.raises(transcode.PermanentError) as failure:
        qc.check({"ssim": 0.812, "vmaf": 91.0}, {"ssim": 0.95, "vmaf": 90}, label="360p")
    assert failure.value.message == (
        "QC failed for rendition 360p: SSIM 0.812 is below the threshold 0.95"
    )
    assert qc.displayed_size({"width": 320, "height": 240, "rotation": 270}) == (240, 320)


def test_a_build_without_libvmaf_fails_vmaf_qc_clearly(
    media: Media, tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, _ = ffmpeg_wrapper(hide_filter="libvmaf")
    monkeypatch.setenv("POP_FFMPEG", str(script))
    payload = {"input": str(media.clip), "qc": {"vmaf": 80}, "renditions": [{"name": "r"}]}
    outcome = transcode_to(tmp_path / "op", payload)
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == (
        f"This ffmpeg build ({script}) has no filter libvmaf (VMAF QC needs an ffmpeg built "
        "with --enable-libvmaf)"
    )


def test_the_encoder_and_filter_listings_are_asked_once_per_binary(
    media: Media, tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = ffmpeg_wrapper()
    monkeypatch.setenv("POP_FFMPEG", str(script))
    payload = {
        "input": str(media.video_only),
        "qc": {"ssim": 0.5},
        "renditions": [
            {"name": "r", "width": 64, "crf": 40, "preset": "ultrafast", "audioCodec": "opus"}
        ],
    }
    for attempt in ("a", "b"):
        assert transcode_to(tmp_path / attempt, payload).succeeded
    calls = log.read_text().splitlines()
    assert calls.count("-hide_banner -nostdin -encoders") == 1
    assert calls.count("-hide_banner -nostdin -filters") == 1
    assert sum("-filter_complex" in call for call in calls) == 2  # one QC run per op


def test_h264_and_aac_are_not_listed_first_and_a_build_without_them_says_so(
    media: Media, tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = ffmpeg_wrapper()
    monkeypatch.setenv("POP_FFMPEG", str(script))
    capabilities.forget()
    payload = {"input": str(media.clip), "renditions": [{"name": "r", "width": 64}]}
    assert transcode_to(tmp_path / "a", payload).succeeded
    assert not any("-encoders" in call for call in log.read_text().splitlines())

    monkeypatch.delenv("POP_FFMPEG")  # the new wrapper must run the real ffmpeg, not the old one
    script, log = ffmpeg_wrapper(hide_encoder="libx264")
    monkeypatch.setenv("POP_FFMPEG", str(script))
    capabilities.forget()
    outcome = transcode_to(tmp_path / "b", payload)
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == (
        f"This ffmpeg build ({script}) has no encoder libx264"
    )


def test_an_encoder_beyond_h264_and_aac_is_checked_before_ffmpeg_runs(
    media: Media, tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = ffmpeg_wrapper(hide_encoder="libx265")
    monkeypatch.setenv("POP_FFMPEG", str(script))
    capabilities.forget()
    payload = {
        "input": str(media.clip),
        "renditions": [{"name": "a", "width": 64}, {"name": "b", "videoCodec": "h265"}],
    }
    outcome = transcode_to(tmp_path / "op", payload)
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == (
        f"This ffmpeg build ({script}) has no encoder libx265"
    )
    assert not any(call.endswith(".mp4") for call in log.read_text().splitlines())


def test_a_missing_input_fails_before_ffmpeg_is_started(
    tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper, monkeypatch: pytest.MonkeyPatch
) -> None:
    script, log = ffmpeg_wrapper()
    monkeypatch.setenv("POP_FFMPEG", str(script))
    missing = tmp_path / "nowhere.mp4"
    outcome = transcode_to(tmp_path / "op", {"input": str(missing), "renditions": [{"name": "r"}]})
    assert outcome.permanent
    assert outcome.progress.diagnostic_events[-1].message == f"Input file not found: {missing}"
    assert not log.exists()  # the wrapper never ran


def test_a_corrupt_input_fails_transcode_quoting_the_decoder(media: Media, tmp_path: Path) -> None:
    outcome = transcode_to(tmp_path, {"input": str(media.corrupt), "renditions": [{"name": "r"}]})
    assert outcome.permanent
    message = outcome.progress.diagnostic_events[-1].message
    assert "Invalid data found when processing input" in message


@pytest.mark.parametrize(
    "thresholds",
    [{"ssim": 1.5}, {"ssim": 0}, {"vmaf": 0}, {"vmaf": 101}, {}, {"ssim": 0.9, "psnr": 40}],
)
def test_bad_qc_thresholds_are_rejected_by_the_model(thresholds: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        transcode.TranscodePayload.model_validate(
            {"input": "x.mp4", "renditions": [{"name": "r"}], "qc": thresholds}
        )


@pytest.mark.parametrize(
    "payload",
    [
        {"renditions": [{"name": "r"}], "qc": {"ssim": 1.2}},
        {"renditions": [{"name": "r", "qc": {"vmaf": -5}}]},
        {"renditions": [{"name": "r", "audioTrack": -1}]},
    ],
)
def test_bad_qc_or_audio_track_is_rejected_at_submit(
    payload: dict[str, Any], tmp_path: Path, run_pop: RunPop
) -> None:
    agenda = {
        "operations": [{"name": "t", "type": "transcode", "payload": {"input": "x.mp4", **payload}}]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("submit", str(agenda_file))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "transcode" in done.stderr.lower() or "t:" in done.stderr
