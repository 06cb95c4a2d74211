"""``pop image base`` and ``pop image build`` on a real Docker engine (no image registry).

The handlers image is built through the CLI under the same file lock as the ``handlers_image``
fixture (tests/docker_images.py), so test workers never build it twice at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

import pop
from pop.runtimes.docker.build import LATEST_TAG, OFFLINE_ROUTE, RECIPE_LABEL, dockerfile
from pop.runtimes.docker.image_contents import dependency_pins, find_pop_files, pop_requirements
from tests.docker_images import build_lock

RunPop = Callable[..., subprocess.CompletedProcess[str]]
VERSION_TAG = f"pop-handlers:{pop.__version__}"
BUILD_TIMEOUT = 900  # a cold build on a busy machine, and the wait for another worker's build


def host_ffmpeg() -> Path:
    import imageio_ffmpeg

    return Path(imageio_ffmpeg.get_ffmpeg_exe())


def run_in_image(engine: Any, image: str, script: str) -> str:
    """``sh -c script`` in a container of ``image`` as an unprivileged user; its output."""
    client = engine.client()
    try:
        output = client.containers.run(
            image,
            entrypoint=["sh", "-c", script],
            command=[],
            user="65534:65534",
            remove=True,
            labels=engine.labels,
            network_disabled=True,
        )
    finally:
        client.close()
    return bytes(output).decode()


def build_json(run_pop: RunPop, *args: str) -> dict[str, Any]:
    with build_lock():
        completed = run_pop("image", "build", *args, "--json", timeout=BUILD_TIMEOUT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def test_the_built_tag_is_the_registrys_default_image() -> None:
    registry = yaml.safe_load(files("pop").joinpath("data/registry.yaml").read_text())
    assert registry["basePodConfig"]["image"] == LATEST_TAG


def test_the_image_gets_the_dependency_versions_installed_here() -> None:
    pins = dependency_pins(pop_requirements(find_pop_files()))
    for package in ("pydantic", "pydantic-core", "docker", "av", "imageio-ffmpeg", "typer"):
        assert f"{package}=={metadata.version(package)}" in pins
    assert not [pin for pin in pins if pin.startswith("pop==")]


def test_the_dockerfile_copies_site_packages_ffmpeg_and_labels_the_recipe() -> None:
    text = dockerfile("pop-base:abc", site_dir="/usr/lib/py", recipe="r1", version="9.9")
    assert text.splitlines()[0] == "FROM pop-base:abc"
    assert "COPY site-packages/ /usr/lib/py/" in text
    assert "COPY ffmpeg /usr/local/bin/ffmpeg" in text
    assert f'{RECIPE_LABEL}="r1"' in text


def test_image_base_prints_the_base_image_tag_last(docker_engine: Any, run_pop: RunPop) -> None:
    completed = run_pop("image", "base", timeout=BUILD_TIMEOUT)
    assert completed.returncode == 0, completed.stderr
    last = completed.stdout.strip().splitlines()[-1]
    assert last == docker_engine.base_image
    assert last.startswith("pop-base:")
    assert completed.stdout.strip() == last  # progress went to stderr


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_image_build_on_the_base_image_runs_pop_and_the_hosts_ffmpeg(
    docker_engine: Any, run_pop: RunPop
) -> None:
    with build_lock():
        completed = run_pop(
            "image", "build", "--base", docker_engine.base_image, timeout=BUILD_TIMEOUT
        )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == VERSION_TAG
    client = docker_engine.client()
    try:
        image = client.images.get(VERSION_TAG)
        assert client.images.get(LATEST_TAG).id == image.id
        assert image.labels[RECIPE_LABEL]
    finally:
        client.close()
    output = run_in_image(
        docker_engine,
        VERSION_TAG,
        "python3 -m pop.handlers --help >/dev/null && echo handlers-ok; pop --version; "
        "python3 -c 'import av, pydantic_core, imageio_ffmpeg as f; print(f.get_ffmpeg_exe())'; "
        "command -v ffmpeg; sha256sum /usr/local/bin/ffmpeg; "
        "ffmpeg -hide_banner -version | head -1",
    )
    lines = output.strip().splitlines()
    assert lines[0] == "handlers-ok"
    assert lines[1] == f"pop {pop.__version__}"
    assert lines[2] == "/usr/local/bin/ffmpeg"  # imageio-ffmpeg in the image uses the same binary
    assert lines[3] == "/usr/local/bin/ffmpeg"
    assert lines[4].split()[0] == hashlib.sha256(host_ffmpeg().read_bytes()).hexdigest()
    host_version = subprocess.run(
        [str(host_ffmpeg()), "-hide_banner", "-version"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    assert lines[5] == host_version


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_a_second_build_of_the_same_recipe_is_a_cache_hit(
    docker_engine: Any, handlers_image: str, run_pop: RunPop
) -> None:
    # Another build between the two (pop's files edited meanwhile) changes the recipe; only a
    # second build of the same recipe must be a cache hit.
    for _ in range(3):
        first = build_json(run_pop, "--base", docker_engine.base_image)
        second = build_json(run_pop, "--base", docker_engine.base_image)
        if first["recipe"] == second["recipe"]:
            break
    assert second["recipe"] == first["recipe"]
    assert second["cached"] is True
    assert second["imageId"] == first["imageId"]
    assert second["tags"] == [VERSION_TAG, LATEST_TAG]
    assert second["seconds"] < 30


def test_a_base_that_cannot_be_pulled_names_the_offline_route(
    docker_engine: Any, run_pop: RunPop
) -> None:
    completed = run_pop("image", "build", "--base", "pop-test-absent/base:never", timeout=120)
    assert completed.returncode == 3, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "pop-test-absent/base:never" in errors[0]
    assert "cannot be pulled" in errors[0]
    assert f"hint: without an image registry, build on pop's own base image: {OFFLINE_ROUTE}" in (
        completed.stderr
    )
    assert completed.stdout == ""


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_a_push_without_a_registry_is_one_error_line(
    docker_engine: Any, handlers_image: str, run_pop: RunPop
) -> None:
    reference = "localhost:1/pop-handlers:test-push"
    try:
        with build_lock():
            completed = run_pop(
                "image",
                "build",
                "--base",
                docker_engine.base_image,
                "--push",
                reference,
                timeout=BUILD_TIMEOUT,
            )
        assert completed.returncode == 3, completed.stderr[-3000:]
        errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1
        assert errors[0].startswith(f"error: cannot push {reference}: ")
        assert completed.stdout == ""
    finally:
        client = docker_engine.client()
        try:
            with contextlib.suppress(Exception):  # never tagged: the build failed first
                client.images.remove(reference)
        finally:
            client.close()


@pytest.mark.parametrize("reference", ["Pop-Handlers:1", "pop handlers", "pop@sha256:ab"])
def test_a_tag_that_is_not_an_image_reference_is_exit_2(reference: str, run_pop: RunPop) -> None:
    completed = run_pop(
        "image", "build", "--tag", reference, env={"DOCKER_HOST": "unix:///nonexistent"}
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith(f"error: --tag {reference!r} is not an image reference")


def test_image_base_without_an_engine_is_exit_3(run_pop: RunPop) -> None:
    completed = run_pop("image", "base", env={"DOCKER_HOST": "unix:///nonexistent"})
    assert completed.returncode == 3
    assert completed.stderr.startswith("error: cannot reach the Docker engine")


@pytest.mark.parametrize(
    "args",
    [["--help"], ["image", "--help"], ["image", "build", "--help"], ["reap", "containers", "-h"]],
)
def test_help_imports_no_docker(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from pop.cli import _run\n"
        f"code = _run({args!r})\n"
        "loaded = sorted(m for m in sys.modules if m == 'docker' or m.startswith('docker.'))\n"
        "print('DOCKER-MODULES', loaded, code)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().splitlines()[-1] == "DOCKER-MODULES [] 0"
