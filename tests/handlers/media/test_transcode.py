"""The transcode handler: renditions, QC, publish by rename, agendas and submit-time validation."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from pop.handlers.media import transcode
from pop.handlers.media.ffmpeg import find_ffmpeg
from pop.handlers.media.probe import probe
from pop.handlers.resident import run_resident
from pop.models import OperationProgress

from .conftest import Media

RunPop = Callable[..., subprocess.CompletedProcess[str]]


def test_a_rendition_has_its_size_and_duration_and_is_published_by_rename(
    media: Media, tmp_path: Path
) -> None:
    seen: list[OperationProgress] = []
    payload = {
        "input": str(media.clip),
        "renditions": [{"name": "small", "width": 160, "height": 120, "preset": "ultrafast"}],
    }
    outcome = run_resident(
        transcode.run, payload, operation_name="t", on_progress=seen.append, op_dir=tmp_path
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    (rendition,) = result["renditions"]
    assert rendition["path"] == str(tmp_path / "small.mp4")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["small.mp4"]
    output = probe(tmp_path / "small.mp4")
    assert (output.video[0]["params"]["width"], output.video[0]["params"]["height"]) == (160, 120)
    assert output.duration is not None and abs(output.duration - 2.0) <= 0.05
    assert rendition["params"]["audio"]["codec"] == "aac"
    assert rendition["size"] == (tmp_path / "small.mp4").stat().st_size
    assert any("speed" in (p.processing_state_message or "") for p in seen)


def test_one_dimension_keeps_the_aspect_ratio(media: Media, tmp_path: Path) -> None:
    payload = {
        "input": str(media.video_only),
        "renditions": [{"name": "h", "height": 120, "crf": 35, "preset": "ultrafast"}],
    }
    outcome = run_resident(
        transcode.run, payload, operation_name="t", on_progress=print, op_dir=tmp_path
    )
    result: Any = outcome.result
    assert result["renditions"][0]["params"]["video"]["width"] == 160
    assert result["renditions"][0]["params"]["audio"] is None


def test_keyframe_interval_puts_keyframes_at_its_multiples_only(
    media: Media, tmp_path: Path
) -> None:
    payload = {
        "input": str(media.clip),
        "renditions": [{"name": "k", "width": 160, "preset": "ultrafast", "keyframeInterval": 0.4}],
    }
    outcome = run_resident(
        transcode.run, payload, operation_name="t", on_progress=print, op_dir=tmp_path
    )
    assert outcome.succeeded, outcome.progress
    with av.open(str(tmp_path / "k.mp4")) as container:
        stream = container.streams.video[0]
        keyframes = [
            round(float(packet.pts * stream.time_base), 3)
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        ]
    assert keyframes == [0.0, 0.4, 0.8, 1.2, 1.6]  # 25 fps: frames fall on these


def test_qc_names_a_duration_more_than_one_frame_off(media: Media) -> None:
    source = probe(media.clip)
    rendition = transcode.Rendition(name="r", fps=25)
    shorter = probe(media.clip)
    shorter.input["duration"] = 1.5
    problem = transcode.quality_problem(source, shorter, rendition)
    assert problem is not None and "duration 1.500 s" in problem
    missing_audio = probe(media.video_only)
    assert transcode.quality_problem(source, missing_audio, rendition) == (
        "the output has no audio stream"
    )


def test_pop_ffmpeg_names_the_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POP_FFMPEG", "/opt/ffmpeg")
    assert find_ffmpeg() == "/opt/ffmpeg"
    assert Path(find_ffmpeg({"PATH": ""})).name.startswith("ffmpeg")


def test_analysis_then_transcode_runs_end_to_end(
    media: Media, tmp_path: Path, run_pop: RunPop
) -> None:
    agenda = {
        "operations": [
            {"name": "analysis", "type": "analysis", "payload": {"inputs": [str(media.clip)]}},
            {
                "name": "transcode",
                "type": "transcode",
                "payload": {
                    "input": "@<analysis.out::/inputs/0/url>",
                    "renditions": [
                        {"name": "small", "height": 120, "preset": "ultrafast", "crf": 35}
                    ],
                },
            },
        ]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("run-local", str(agenda_file), "--json", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["processingState"] == "COMPLETE"


@pytest.mark.parametrize(
    "rendition",
    [
        {"name": "bad", "width": -640},
        {"name": "bad", "videoCodec": "mpeg2"},
        {"name": "bad", "crf": 23, "videoBitrate": "800k"},
    ],
)
def test_a_bad_transcode_payload_is_rejected_at_submit(
    rendition: dict[str, Any], tmp_path: Path, run_pop: RunPop
) -> None:
    agenda = {
        "operations": [
            {
                "name": "t",
                "type": "transcode",
                "payload": {"input": "x.mp4", "renditions": [rendition]},
            }
        ]
    }
    agenda_file = tmp_path / "agenda.json"
    agenda_file.write_text(json.dumps(agenda))
    done = run_pop("submit", str(agenda_file))
    assert done.returncode == 2, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("codec", "probed"), [("h265", "hevc"), ("vp9", "vp9"), ("av1", "av1")], ids=str
)
def test_h265_vp9_and_av1_renditions_with_opus_probe_as_their_codecs(
    codec: str, probed: str, media: Media, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rendition = {"name": codec, "width": 128, "videoCodec": codec, "crf": 35, "audioCodec": "opus"}
    outcome = run_resident(
        transcode.run,
        {"input": str(media.clip), "renditions": [rendition]},
        operation_name="t",
        on_progress=lambda _: None,
        op_dir=tmp_path,
    )
    assert outcome.succeeded, outcome.progress
    result: Any = outcome.result
    params = result["renditions"][0]["params"]
    assert (params["video"]["codec"], params["audio"]["codec"]) == (probed, "opus")
    assert (params["video"]["width"], params["video"]["height"]) == (128, 96)
    assert "Svt[info]" not in capfd.readouterr().err  # SVT-AV1's banner stays out of the log
