"""The package handler: HLS and DASH by stream copy, read back with PyAV, published by rename;
bad payloads, missing inputs and durations that do not match fail with a diagnostic."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pydantic
import pytest

from pop.handlers.media import manifests, package
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.resident import ResidentOutcome, run_resident

from .conftest import FfmpegWrapper, Media

ROOT = Path(__file__).resolve().parents[3]
RunPop = Callable[..., subprocess.CompletedProcess[str]]
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25"]


@dataclass(frozen=True)
class Renditions:
    """Two 2-second h264/aac renditions with a keyframe every second (320x240 and 160x120), a
    1-second one, and one in MPEG-4 Part 2 (not HLS material)."""

    large: Path
    small: Path
    one_second: Path
    mpeg4: Path


def _encode(source: list[str], codecs: list[str], output: Path) -> Path:
    argv = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *source]
    subprocess.run([*argv, *codecs, str(output)], check=True, timeout=60)
    return output


@pytest.fixture(scope="module")
def renditions(tmp_path_factory: pytest.TempPathFactory) -> Renditions:
    folder = tmp_path_factory.mktemp("renditions")

    def lavfi(size: str, seconds: float = 2) -> list[str]:
        return [
            *("-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"),
        ]

    return Renditions(
        large=_encode(lavfi("320x240"), [*H264, "-c:a", "aac"], folder / "large.mp4"),
        small=_encode(lavfi("160x120"), [*H264, "-c:a", "aac"], folder / "small.mp4"),
        one_second=_encode(lavfi("160x120", 1), [*H264, "-c:a", "aac"], folder / "one.mp4"),
        mpeg4=_encode(lavfi("160x120"), ["-c:v", "mpeg4", "-c:a", "aac"], folder / "mpeg4.mp4"),
    )


def pack(payload: dict[str, Any], op_dir: Path) -> ResidentOutcome:
    return run_resident(
        package.run, payload, operation_name="p", on_progress=lambda _: None, op_dir=op_dir
    )


def diagnostics(outcome: ResidentOutcome) -> str:
    return " ".join(event.message or "" for event in outcome.progress.diagnostic_events or [])


def test_hls_and_dash_hold_every_rendition_and_read_back_with_pyav(
    renditions: Renditions, tmp_path: Path
) -> None:
    payload = {
        "renditions": [str(renditions.large), f"file://{renditions.small}"],
        "formats": ["hls", "dash"],
        "segmentDuration": 1,
    }
    outcome = pack(payload, tmp_path)
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result

    assert sorted(path.name for path in tmp_path.iterdir()) == ["dash", "hls"]
    hls = result["hls"]
    assert hls["master"] == str(tmp_path / "hls" / "master.m3u8")
    assert [(v["width"], v["height"]) for v in hls["variants"]] == [(320, 240), (160, 120)]
    for variant, name in zip(hls["variants"], ["large", "small"], strict=True):
        assert variant["playlist"] == str(tmp_path / "hls" / name / "playlist.m3u8")
        assert variant["segments"] == 2
        assert variant["codecs"].startswith("avc1.") and variant["codecs"].endswith(",mp4a.40.2")
        assert variant["bandwidth"] > 0
    assert hls["variants"][0]["bandwidth"] > hls["variants"][1]["bandwidth"]

    master_text = Path(hls["master"]).read_text(encoding="utf-8")
    assert "RESOLUTION=320x240" in master_text and "RESOLUTION=160x120" in master_text
    assert "large/playlist.m3u8" in master_text
    with av.open(hls["master"]) as container:
        assert container.format.name == "hls"
        assert [(s.width, s.height) for s in container.streams.video] == [(320, 240), (160, 120)]
        assert len(container.streams.audio) == 2
        assert abs(container.duration / av.time_base - 2.0) <= 0.04

    dash = result["dash"]
    assert dash == {"manifest": str(tmp_path / "dash" / "manifest.mpd"), "representations": 4}
    total, representations = manifests.read_mpd(Path(dash["manifest"]))
    assert abs(total - 2.0) <= 0.04
    assert [r.content_type for r in representations] == ["video", "video", "audio", "audio"]
    with av.open(manifests.representation_url(representations[1])) as container:
        (video,) = container.streams.video
        assert (video.width, video.height) == (160, 120)
        assert sum(1 for packet in container.demux(video) if packet.size) == 50


def test_hls_is_the_default_format_and_the_only_one_made(
    renditions: Renditions, tmp_path: Path
) -> None:
    outcome = pack({"renditions": [str(renditions.small)]}, tmp_path)

    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    assert list(result) == ["hls"]
    assert result["hls"]["variants"][0]["segments"] == 1  # segmentDuration 4 > the clip
    assert sorted(path.name for path in tmp_path.iterdir()) == ["hls"]


def test_a_missing_rendition_fails_permanently_before_ffmpeg_starts(
    renditions: Renditions,
    tmp_path: Path,
    ffmpeg_wrapper: FfmpegWrapper,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script, log = ffmpeg_wrapper()
    monkeypatch.setenv("POP_FFMPEG", str(script))
    missing = str(tmp_path / "gone.mp4")

    outcome = pack({"renditions": [str(renditions.small), missing]}, tmp_path / "op")

    assert not outcome.succeeded and outcome.permanent
    assert f"Input file not found: {missing}" in diagnostics(outcome)
    assert not log.exists()
    assert not (tmp_path / "op").exists()


def test_a_duration_more_than_one_frame_off_fails_and_publishes_nothing(
    renditions: Renditions, tmp_path: Path
) -> None:
    payload = {"renditions": [str(renditions.small), str(renditions.one_second)]}
    outcome = pack(payload, tmp_path)

    assert not outcome.succeeded and outcome.permanent
    assert (
        f"HLS master playlist master.m3u8 lasts 2.000 s but in rendition {renditions.one_second} "
        "it lasts 1.000 s: 1.000 s apart, more than one frame (0.050 s)"
    ) in diagnostics(outcome)
    assert list(tmp_path.iterdir()) == []


def test_a_codec_hls_cannot_carry_fails_before_ffmpeg_starts(
    renditions: Renditions, tmp_path: Path
) -> None:
    outcome = pack({"renditions": [str(renditions.mpeg4)]}, tmp_path)

    assert not outcome.succeeded and outcome.permanent
    assert "HLS takes h264 or hevc video, not mpeg4" in diagnostics(outcome)
    assert list(tmp_path.iterdir()) == []


def test_variant_folders_are_the_rendition_names_made_unique() -> None:
    paths = [Path("a/720p.mp4"), Path("b/720p.mp4"), Path("c/odd name!.mp4")]
    assert package.variant_names(paths) == ["720p", "720p-2", "odd_name"]


def test_iso_durations_of_mpds_are_read_as_seconds() -> None:
    assert manifests.iso_seconds("PT1H2M3.5S") == 3723.5
    assert manifests.iso_seconds("PT10.0S") == 10.0


@pytest.mark.parametrize(
    "payload",
    [
        {"renditions": []},
        {"formats": ["hls"]},
        {"renditions": ["a.mp4"], "formats": ["smooth"]},
        {"renditions": ["a.mp4"], "formats": []},
        {"renditions": ["a.mp4"], "formats": ["hls", "hls"]},
        {"renditions": ["a.mp4"], "segmentDuration": 0},
        {"renditions": ["a.mp4"], "segmentDuration": -4},
    ],
)
def test_a_bad_package_payload_is_rejected_by_the_model(payload: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        package.PackagePayload.model_validate(payload)


def test_a_bad_package_payload_is_rejected_at_submit(tmp_path: Path, run_pop: RunPop) -> None:
    agenda = {
        "operations": [
            {"name": "p", "type": "package", "payload": {"renditions": ["a.mp4"], "formats": []}}
        ]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("submit", str(agenda_file))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "invalid package payload" in done.stderr


def test_the_package_example_runs_on_a_real_clip(
    media: Media, tmp_path: Path, run_pop: RunPop
) -> None:
    example = (ROOT / "examples" / "media" / "package.json").read_text(encoding="utf-8")
    agenda_file = tmp_path / "package.json"
    agenda_file.write_text(example.replace("INPUT.mp4", str(media.clip)), encoding="utf-8")

    done = run_pop("run-local", str(agenda_file), "--json", timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    progress = json.loads(done.stdout)
    outputs = {op["operation"]: op["resultPayload"] for op in progress["operationProgress"]}
    variants = outputs["package"]["hls"]["variants"]
    assert [(v["width"], v["height"]) for v in variants] == [(640, 360), (1280, 720)]
    assert outputs["package"]["dash"]["representations"] == 4
