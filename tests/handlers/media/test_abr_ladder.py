"""The abr-ladder template end to end (issue 5's acceptance): a 10-second 720p clip with a tone,
the template filled with it and run by ``pop run-local`` on the local runtime, every output
probed: two renditions, an HLS master with both variants, thumbnails, a sprite and its WebVTT."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest

from pop.handlers.media.manifests import read_variant_playlist
from pop.handlers.media.probe import probe
from tests.example_media import make_clip

from .test_filmstrip import parse_vtt

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "examples" / "templates" / "abr-ladder.json"
FRAME = 1 / 25
RunPop = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """10 s of testsrc2 at 1280x720, 25 fps, with a 440 Hz tone."""
    return make_clip(tmp_path, size="1280x720", seconds=10, name="source.mp4")


def decodes(path: Path) -> bool:
    with av.open(str(path)) as container:
        return next(container.decode(video=0), None) is not None


def run_ladder(run_pop: RunPop, source: Path) -> dict[str, Any]:
    """``pop template add``, ``pop template run`` with the payload, ``pop run-local --resume``;
    the operations' outputs by name."""
    added = run_pop("template", "add", str(TEMPLATE), "--json")
    assert added.returncode == 0, added.stderr
    template_id = json.loads(added.stdout)["id"]
    submitted = run_pop(
        "template",
        "run",
        template_id,
        "--payload-json",
        json.dumps({"input": str(source)}),
        "--json",
    )
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = json.loads(submitted.stdout)["agendaId"]
    ran = run_pop("run-local", "--resume", agenda_id, "--json", timeout=110)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    progress = json.loads(ran.stdout)
    assert (progress["processingState"], progress["processingStateMessage"]) == (
        "COMPLETE",
        "succeeded",
    )
    return {op["operation"]: op["resultPayload"] for op in progress["operationProgress"]}


@pytest.mark.longer
@pytest.mark.timeout(120)
def test_the_abr_ladder_template_makes_renditions_hls_thumbnails_and_a_filmstrip(
    run_pop: RunPop, source: Path
) -> None:
    source_duration = probe(source).duration
    assert source_duration is not None

    outputs = run_ladder(run_pop, source)

    assert outputs["analysis"]["inputs"][0]["url"] == str(source)
    renditions = []
    for name, size in (("transcode360p", (640, 360)), ("transcode720p", (1280, 720))):
        (rendition,) = outputs[name]["renditions"]
        probed = probe(Path(rendition["path"]))
        picture = probed.video[0]["params"]
        assert (picture["width"], picture["height"]) == size
        assert probed.duration is not None
        assert abs(probed.duration - source_duration) <= FRAME, (name, probed.duration)
        assert probed.audio, name
        renditions.append(rendition["path"])

    hls = outputs["package"]["hls"]
    assert [variant["playlist"].split("/")[-2] for variant in hls["variants"]] == ["360p", "720p"]
    for variant in hls["variants"]:  # keyframes every segmentDuration: aligned 4 s segments
        durations = read_variant_playlist(Path(variant["playlist"])).durations
        assert [round(d) for d in durations] == [4, 4, 2], variant
        assert abs(sum(durations) - source_duration) <= FRAME
    with av.open(hls["master"]) as container:
        assert container.format.name == "hls"
        assert [(s.width, s.height) for s in container.streams.video] == [(640, 360), (1280, 720)]
        assert len(container.streams.audio) == 2
        assert abs(container.duration / av.time_base - source_duration) <= FRAME

    thumbnails = outputs["thumbnail"]["thumbnails"]
    assert len(thumbnails) == math.ceil(source_duration / 2.5) == 4
    for thumbnail in thumbnails:
        assert (thumbnail["width"], thumbnail["height"]) == (320, 180)
        assert decodes(Path(thumbnail["path"]))

    filmstrip = outputs["filmstrip"]
    assert decodes(Path(filmstrip["sprite"]["path"]))
    cues = parse_vtt(Path(filmstrip["vtt"]).read_text(encoding="utf-8"))
    assert len(cues) == filmstrip["cues"] == 10
    assert cues[0][0] == 0.0
    assert abs(cues[-1][1] - 10.0) <= FRAME
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(cues):
        assert end == start
