"""The ffmpeg capability cache is keyed by runtime and image (issue 11 audit): one binary path
listed under another runtime or for another image is asked again, never answered from the
other's entry; the same key is asked once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pop.handlers.context import EXTERNAL_ENV, HandlerContext
from pop.handlers.launchdata import LaunchArgs, LaunchData
from pop.handlers.media import capabilities
from pop.handlers.reporting import CallbackReporter
from tests.handlers.media.conftest import FfmpegWrapper


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    capabilities.forget()
    yield
    capabilities.forget()


def context(tmp_path: Path, *, runtime: str, image: str) -> HandlerContext:
    external = {"ffmpeg": {"image": image, "cpus": 1}}
    return HandlerContext(
        CallbackReporter(lambda progress: None),
        LaunchData(
            args=LaunchArgs(external_launch_type=runtime),
            env={EXTERNAL_ENV: json.dumps(external)},
        ),
        operation_name="transcode",
        work_dir=tmp_path / "work",
        op_dir=tmp_path / "work" / "transcode" / "1",
        log=lambda line: None,
    )


def test_the_encoder_cache_is_keyed_by_runtime_and_image(
    tmp_path: Path, ffmpeg_wrapper: FfmpegWrapper
) -> None:
    ffmpeg, calls = ffmpeg_wrapper()
    script = str(ffmpeg)

    def listings() -> int:
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    local_a = capabilities.listed(
        context(tmp_path, runtime="local", image="a:1"), script, "encoders"
    )
    assert "libx264" in local_a and listings() == 1
    again = capabilities.listed(context(tmp_path, runtime="local", image="a:1"), script, "encoders")
    assert again == local_a and listings() == 1  # the same key: asked once

    local_b = capabilities.listed(
        context(tmp_path, runtime="local", image="b:1"), script, "encoders"
    )
    assert local_b == local_a and listings() == 2  # another image: asked again

    # The fake runtime runs nothing here: its scripted output is its answer, not local's entry.
    fake_a = capabilities.listed(context(tmp_path, runtime="fake", image="a:1"), script, "encoders")
    assert "libx264" not in fake_a and listings() == 2
    assert (
        capabilities.listed(context(tmp_path, runtime="local", image="a:1"), script, "encoders")
        == local_a
    )
    assert listings() == 2  # local's entry untouched by the fake one
