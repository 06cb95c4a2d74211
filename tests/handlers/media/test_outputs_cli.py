"""Outputs a user can find and relative inputs (issue 10, points 3 and 4; its acceptance):
the README's ABR lines run from a folder of clips with a relative ``input``, an executor started
elsewhere finds the file, and ``pop outputs`` lists the playlists, renditions, thumbnails and the
sprite with its VTT; a batch with a truncated clip quotes the media error in every view.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, run_pop_at
from tests.handlers.media.conftest import Media

RunPop = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run_pop(pop_home: Path) -> RunPop:
    """``run_pop(*args, cwd=None)``: the CLI to its end, in ``cwd`` when given."""

    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_pop_at(pop_home, *args, cwd=cwd, timeout=120)

    return run


@pytest.fixture
def clips(tmp_path: Path, media: Media) -> Path:
    """A folder of clips: ``clip1.mp4`` (a 2 s clip)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(media.clip, folder / "clip1.mp4")
    return folder


def test_abr_ladder_with_a_relative_input_and_its_outputs(
    run_pop: RunPop, tmp_path: Path, clips: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    added = run_pop("template", "add", str(EXAMPLES / "templates" / "abr-ladder.json"))
    assert added.returncode == 0, added.stderr
    submitted = run_pop(
        "template", "run", "abr-ladder", "--payload-json", '{"input": "clip1.mp4"}', cwd=clips
    )
    assert submitted.returncode == 0, submitted.stderr
    agenda_id = submitted.stdout.strip()
    ran = run_pop("run-local", "--resume", agenda_id, cwd=elsewhere)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "outputs (in " in ran.stdout and "package/1/hls/master.m3u8" in ran.stdout

    progress = json.loads(run_pop("status", agenda_id, "--json").stdout)
    assert progress["processingStateMessage"] == "succeeded"
    analysis = next(op for op in progress["operationProgress"] if op["operation"] == "analysis")
    assert analysis["resultPayload"]["inputs"][0]["url"] == str(clips / "clip1.mp4")

    listing = json.loads(run_pop("outputs", agenda_id, "--json").stdout)
    by_op = {item["operation"]: item for item in listing}
    files = {op: [Path(f["path"]).name for f in item["files"]] for op, item in by_op.items()}
    assert files["package"][0] == "master.m3u8"
    assert by_op["package"]["files"][0]["pointer"] == "/hls/master"
    renditions = sorted(files["transcode360p"] + files["transcode720p"])
    assert renditions == ["360p.mp4", "720p.mp4"]
    assert files["thumbnail"] and all(name.endswith(".jpg") for name in files["thumbnail"])
    assert files["filmstrip"] == ["sprite.jpg", "sprite.vtt"]
    assert files["analysis"] == []  # the probed source is an input, not an output
    for item in listing:
        for output in item["files"]:
            assert Path(output["path"]).is_file()
            assert output["path"].startswith(item["folder"])

    human = run_pop("outputs", agenda_id).stdout.splitlines()
    assert human[0].split() == ["OPERATION", "SIZE", "PATH"]
    paths = [line.split()[-1] for line in human[1:]]
    assert any(path.endswith("/hls/master.m3u8") for path in paths)
    assert any(path.endswith("/sprite.vtt") for path in paths)
    only = json.loads(run_pop("outputs", agenda_id, "filmstrip", "--json").stdout)
    assert [item["operation"] for item in only] == ["filmstrip"]
    unknown = run_pop("outputs", agenda_id, "nope")
    assert unknown.returncode == 4 and "has no operation 'nope'" in unknown.stderr


def test_a_batch_with_a_truncated_clip_quotes_the_media_error_everywhere(
    run_pop: RunPop, tmp_path: Path, media: Media, clips: Path
) -> None:
    folder = clips
    (folder / "clip6.mp4").write_bytes(media.clip.read_bytes()[:3000])
    template = str(EXAMPLES / "templates" / "transcode-360p.json")
    completed = run_pop("batch", template, "clips", "--glob", "*.mp4", cwd=tmp_path)
    assert completed.returncode == 1
    truncated = folder / "clip6.mp4"
    cause = f"Cannot read {truncated} as media: "
    row = next(line for line in completed.stdout.splitlines() if "clip6.mp4  failed" in line)
    assert cause in row and "Resident execution failed" not in row
    good = next(line for line in completed.stdout.splitlines() if "clip1.mp4  succeeded" in line)
    assert good.rstrip().endswith("/360p.mp4")  # where the rendition is

    report = json.loads(
        run_pop("batch", template, "clips", "--glob", "*.mp4", "--json", cwd=tmp_path).stdout
    )
    items = {Path(item["input"]).name: item for item in report["items"]}
    failed_id = items["clip6.mp4"]["agendaId"]
    status = run_pop("status", failed_id).stdout
    assert f"failed: transcode: {cause}" in status
    logs = run_pop("logs", failed_id).stdout
    assert f"input {truncated}" in logs and f"failed: {cause}" in logs
    succeeded_id = items["clip1.mp4"]["agendaId"]
    listing = json.loads(run_pop("outputs", succeeded_id, "--json").stdout)
    assert [Path(f["path"]).name for f in listing[0]["files"]] == ["360p.mp4"]
    batch_json = json.loads(
        run_pop("batch", template, "clips/clip1.mp4", "--json", cwd=tmp_path).stdout
    )
    assert batch_json["items"][0]["state"] == "skipped"
    skipped_files = batch_json["items"][0]["outputs"][0]["files"]
    assert [Path(f["path"]).name for f in skipped_files] == ["360p.mp4"]
