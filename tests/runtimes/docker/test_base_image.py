"""The offline images (pop/runtimes/docker/base_image.py): tags that hash their recipe, the cache
by tag, python3 in pop-base as the user, busybox applets, and the errors that say what to do."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from pop.errors import RuntimeUnavailableError
from pop.runtimes import LaunchSpec
from pop.runtimes.docker import DockerLauncher, base_image
from pop.runtimes.docker.base_image import (
    base_image_tag,
    build_base_image,
    busybox_image,
    busybox_image_tag,
)
from tests.docker_engine import DockerEngine


def test_the_base_tag_hashes_the_recipe() -> None:
    tag = base_image_tag()
    repository, _, digest = tag.partition(":")
    assert repository == "pop-base"
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert base_image_tag() == tag
    assert base_image_tag(suite="trixie") != tag


def test_the_busybox_tag_hashes_the_binary(tmp_path: Path) -> None:
    copy = tmp_path / "busybox"
    shutil.copyfile("/bin/busybox", copy)
    assert busybox_image_tag(busybox=str(copy)) == busybox_image_tag()
    with copy.open("ab") as file:
        file.write(b"\0")
    assert busybox_image_tag(busybox=str(copy)) != busybox_image_tag()


def test_a_built_image_is_not_built_again(docker_engine: DockerEngine) -> None:
    lines: list[str] = []
    started = time.monotonic()
    assert build_base_image(docker_host=docker_engine.host, log=lines.append) == (
        docker_engine.base_image
    )
    assert busybox_image(docker_host=docker_engine.host, log=lines.append) == (
        docker_engine.busybox_image
    )
    assert time.monotonic() - started < 10
    assert lines == [f"{docker_engine.base_image} is already built"]


def test_the_base_image_runs_python3_from_path_as_the_user(docker_engine: DockerEngine) -> None:
    async def body() -> list[str]:
        launcher = DockerLauncher(docker_host=docker_engine.host)
        # no command: the image's CMD (python3) runs, with the args appended
        spec = LaunchSpec(
            name="base-python",
            command=[],
            args=["-c", "import os, sys; print(sys.version_info[0], os.getuid())"],
            image=docker_engine.base_image,
            labels=docker_engine.labels,
        )
        handle = await launcher.launch(spec)
        lines = [line async for line in handle.lines()]
        assert (await handle.wait()).ok
        await handle.cleanup()
        await launcher.close()
        return lines

    assert asyncio.run(body()) == [f"3 {os.getuid()}"]


def test_building_needs_root(docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base_image.os, "geteuid", lambda: 1000)
    with pytest.raises(RuntimeUnavailableError, match="needs root") as raised:
        build_base_image(suite="pop-test-unbuilt", docker_host=docker_engine.host, log=print)
    assert "--base" in str(raised.value.hint)


def test_building_needs_debootstrap(
    docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(base_image.os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeUnavailableError, match="debootstrap is not installed") as raised:
        build_base_image(suite="pop-test-unbuilt", docker_host=docker_engine.host, log=print)
    assert "apt-get install -y debootstrap" in str(raised.value.hint)


def test_busybox_needs_the_binary(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="no busybox binary") as raised:
        busybox_image(busybox=str(tmp_path / "busybox"))
    assert "busybox-static" in str(raised.value.hint)


def test_building_without_an_engine_says_so() -> None:
    with pytest.raises(RuntimeUnavailableError, match="cannot reach the Docker engine"):
        build_base_image(docker_host="unix:///nonexistent")
