"""The abr-ladder template's agenda on the fake runtime: the same template filled the same way as
``pop template run`` does, every op scripted with a plausible output of its type, so the
references between them resolve; the agenda succeeds and every op runs after what it needs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pop.engine.dag import dependencies_of
from pop.engine.templates import expand_template, parse_template
from pop.handlers.media.analysis import AnalysisPayload
from pop.handlers.media.filmstrip import FilmstripPayload
from pop.handlers.media.package import PackagePayload
from pop.handlers.media.thumbnail import ThumbnailPayload
from pop.handlers.media.transcode import TranscodePayload
from pop.models import Agenda
from pop.runtimes.base import LaunchSpec
from pop.runtimes.fake import FakeLauncher, FakeRun, read_payload
from tests.engine.helpers import make_registry, run_agenda

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "templates" / "abr-ladder.json"
SOURCE = "/media/source.mp4"
MEDIA_TYPES = ("analysis", "transcode", "package", "thumbnail", "filmstrip")
PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "analysis": AnalysisPayload,
    "transcode": TranscodePayload,
    "package": PackagePayload,
    "thumbnail": ThumbnailPayload,
    "filmstrip": FilmstripPayload,
}


def ladder_agenda() -> Agenda:
    """The template filled with ``{"input": SOURCE}``, as ``pop template run`` fills it."""
    template = parse_template(json.loads(TEMPLATE.read_text(encoding="utf-8")), source="t")
    return expand_template(template, {"input": SOURCE}, strict=True)


def plausible_output(op_type: str, payload: dict[str, Any], op_dir: str) -> dict[str, Any]:
    """What the real handler of ``op_type`` would output for ``payload`` (shapes of
    docs/handlers.md)."""
    if op_type == "analysis":
        return {
            "inputs": [
                {"url": url, "container": "mov", "duration": 10.0} for url in payload["inputs"]
            ],
            "inputStreams": {"video": [], "audio": []},
        }
    if op_type == "transcode":
        return {
            "renditions": [
                {"name": r["name"], "path": f"{op_dir}/{r['name']}.mp4", "duration": 10.0}
                for r in payload["renditions"]
            ]
        }
    if op_type == "package":
        return {"hls": {"master": f"{op_dir}/hls/master.m3u8", "variants": []}}
    if op_type == "thumbnail":
        return {"thumbnails": [{"time": 0, "path": f"{op_dir}/thumb-0001.jpg"}]}
    return {"sprite": {"path": f"{op_dir}/sprite.jpg"}, "vtt": f"{op_dir}/sprite.vtt", "cues": 10}


def make_script(types: dict[str, str], payloads: dict[str, Any]) -> Any:
    """A fake handler per op: validates the resolved payload with the real handler's model,
    records it, and prints a plausible result; transcodes take a little while."""

    def script(spec: LaunchSpec) -> FakeRun:
        name = spec.labels["pop.operation"]
        payload = read_payload(spec.env)
        PAYLOAD_MODELS[types[name]].model_validate(payload)
        payloads[name] = payload
        output = plausible_output(types[name], payload, spec.env.get("POP_OP_DIR", "/op"))
        lines = [
            'Progress: {"processingState":"COMPLETE","processingStateMessage":"succeeded"}',
            "Payload: " + json.dumps(output),
            "HandlerComplete",
        ]
        return FakeRun(lines, duration=0.1 if types[name] == "transcode" else 0.0)

    return script


def test_the_abr_ladder_agenda_succeeds_on_the_fake_runtime_in_dependency_order(
    tmp_path: Path,
) -> None:
    agenda = ladder_agenda()
    types = {op.name or "": op.type or "" for op in agenda.operations}
    payloads: dict[str, Any] = {}
    ticks = itertools.count()
    launcher = FakeLauncher(make_script(types, payloads), clock=lambda: float(next(ticks)))
    # The media types launched (not resident), so the fake runtime plays every one of them.
    registry = make_registry(
        tmp_path, {t: {"handler": f"pop.handlers.media.{t}:run"} for t in MEDIA_TYPES}
    )

    run = run_agenda(tmp_path, agenda.to_wire(), launcher, registry=registry)

    assert run.progress.succeeded, run.progress.diagnostic_events
    launches = {launch.spec.labels["pop.operation"]: launch for launch in launcher.launches}
    assert sorted(launches) == sorted(types)
    needs = {op.name: set(dependencies_of(op)) for op in agenda.operations}
    assert needs == {
        "analysis": set(),
        "transcode360p": {"analysis"},
        "transcode720p": {"analysis"},
        "package": {"transcode360p", "transcode720p"},
        "thumbnail": {"transcode720p"},
        "filmstrip": {"transcode720p"},
    }
    for name, required in needs.items():
        for dependency in required:
            ended = launches[dependency].ended_at
            assert ended is not None and ended < launches[name].started_at, (dependency, name)
    first, second = launches["transcode360p"], launches["transcode720p"]
    assert second.started_at < (first.ended_at or 0), "the two transcodes run side by side"

    assert payloads["transcode360p"]["input"] == SOURCE
    assert payloads["package"]["renditions"] == [
        run.op("transcode360p").result_payload["renditions"][0]["path"],
        run.op("transcode720p").result_payload["renditions"][0]["path"],
    ]
    assert payloads["package"]["segmentDuration"] == 4
    rendition_720p = run.op("transcode720p").result_payload["renditions"][0]["path"]
    assert payloads["thumbnail"]["input"] == payloads["filmstrip"]["input"] == rendition_720p
    assert payloads["thumbnail"]["every"] == 2.5
