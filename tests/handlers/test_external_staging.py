"""Inputs for runtimes whose launches see only the work volume (kubernetes): copied into
``<work dir>/inputs/`` once, the command pointed at the copies, a clear permanent error when
they cannot be."""

from __future__ import annotations

from pathlib import Path

import pytest

from pop.errors import PermanentError
from pop.handlers.external import stage_inputs


def test_inputs_outside_the_work_directory_are_copied_and_the_command_repointed(
    tmp_path: Path,
) -> None:
    work = tmp_path / "work"
    inside = work / "a" / "in.mp4"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"inside")
    clip = tmp_path / "clips" / "clip.mp4"
    folder = tmp_path / "clips" / "frames"
    folder.mkdir(parents=True)
    clip.write_bytes(b"clip")
    (folder / "1.png").write_bytes(b"png")

    command, staged = stage_inputs(
        work,
        [clip, inside, str(folder)],
        ["ffmpeg", "-i", str(clip), "-i", str(inside), "-pattern", f"{folder}/%d.png"],
    )

    copied_clip, kept, copied_folder = staged
    assert kept == inside
    assert copied_clip.parent == work / "inputs" and copied_clip.read_bytes() == b"clip"
    assert (Path(copied_folder) / "1.png").read_bytes() == b"png"
    assert command == [
        "ffmpeg", "-i", str(copied_clip), "-i", str(inside), "-pattern", f"{copied_folder}/%d.png"
    ]  # fmt: skip


def test_a_copy_is_reused_until_the_source_changes(tmp_path: Path) -> None:
    work = tmp_path / "work"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"one")
    (first,), _ = stage_inputs(work, [clip], [str(clip)])
    marker = Path(first).stat().st_mtime_ns

    (again,), _ = stage_inputs(work, [clip], [str(clip)])
    assert again == first and Path(again).stat().st_mtime_ns == marker
    clip.write_bytes(b"two, longer")
    (changed,), _ = stage_inputs(work, [clip], [str(clip)])
    assert changed == first and Path(changed).read_bytes() == b"two, longer"


def test_an_input_that_cannot_be_copied_fails_permanently_naming_the_work_volume(
    tmp_path: Path,
) -> None:
    with pytest.raises(PermanentError, match="workVolume"):
        stage_inputs(tmp_path / "work", [tmp_path / "missing.mp4"], ["ffmpeg"])
    with pytest.raises(PermanentError, match="workVolume"):
        stage_inputs(None, [tmp_path / "missing.mp4"], ["ffmpeg"])
