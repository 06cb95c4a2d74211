"""The ``pop-handlers`` image: pop, its dependencies and the host's pinned ffmpeg on a Python base.

Layer: runtimes. Called by ``pop image build`` (through :mod:`pop.api`) and by the test suite's
``handlers_image`` fixture.

No image registry needs to be reachable. Everything the image holds is made on this host
(:mod:`.image_contents`):

- ``pip wheel`` builds pop (from its source tree, or from the installed files when pop was not
  installed from a checkout) and its dependencies, each pinned to the version installed here;
  the host's pip installs those wheels into a folder (``pip install --target --no-index``),
  which becomes the base image's ``site-packages``, so the base needs no pip and no network;
- ``ffmpeg`` on the image's PATH (``/usr/local/bin/ffmpeg``) is a copy of this host's
  ``imageio_ffmpeg.get_ffmpeg_exe()``, so a local run with ``POP_FFMPEG`` pointing at that binary
  encodes exactly as a container does (imageio-ffmpeg's own copy in the image is a link to it);
- ``pop`` on the PATH runs ``python3 -m pop``.

The image is built by the engine from a generated Dockerfile on top of ``--base`` (default
``python:3.11-slim-bookworm``; offline, the ``pop-base`` image of :mod:`.base_image`). Its label
``pop.recipe`` hashes what it is made of (the base image id, pop's files, the pinned
dependencies, the ffmpeg binary, this recipe), so a build whose recipe is already in the engine
only (re)tags that image.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.errors import InputError, PopError, RuntimeUnavailableError
from pop.runtimes.docker.engine import connect, reason_of, unavailable
from pop.runtimes.docker.image_contents import (
    FFMPEG_IN_IMAGE,
    PopFiles,
    dependency_pins,
    ffmpeg_binary,
    file_digest,
    find_pop_files,
    install_pop,
    link_bundled_ffmpeg,
    make_readable,
    pop_requirements,
)

if TYPE_CHECKING:
    from docker import DockerClient

HANDLERS_REPOSITORY = "pop-handlers"
LATEST_TAG = f"{HANDLERS_REPOSITORY}:latest"  # the built-in registry's basePodConfig.image
DEFAULT_BASE = "python:3.11-slim-bookworm"
RECIPE_LABEL = "pop.recipe"
VERSION_LABEL = "pop.version"
OFFLINE_ROUTE = 'pop image build --base "$(pop image base | tail -1)"'
# Bump when the recipe changes in a way its fields do not show, so machines rebuild.
_RECIPE_VERSION = 1
_PROBE = (
    "import json, site, sys; "
    "print(json.dumps({'version': list(sys.version_info[:2]), 'site': site.getsitepackages()}))"
)
# [registry[:port]/]path[:tag], path components lower-case (Docker's reference grammar).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(
    rf"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
_POP_SCRIPT = '#!/bin/sh\nexec python3 -m pop "$@"\n'

Log = Callable[[str], None]


@dataclass(frozen=True)
class ImageBuild:
    """What ``pop image build`` made: ``tag`` (printed last), every tag the image got, its id,
    the base it was built on, the recipe hash, whether the engine had it already (``cached``),
    where it was pushed, and how long it took."""

    tag: str
    tags: list[str]
    image_id: str
    base: str
    base_id: str
    recipe: str
    cached: bool
    seconds: float
    pushed: str | None = None
    pins: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "tags": list(self.tags),
            "imageId": self.image_id,
            "base": self.base,
            "baseId": self.base_id,
            "recipe": self.recipe,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
            "pushed": self.pushed,
            "packages": list(self.pins),
        }


def default_tags(version: str) -> list[str]:
    """``pop-handlers:<version>`` (printed) and ``pop-handlers:latest`` (the registry default)."""
    return [f"{HANDLERS_REPOSITORY}:{version}", LATEST_TAG]


def build_handlers_image(
    *,
    version: str,
    base: str = DEFAULT_BASE,
    tag: str | None = None,
    push: str | None = None,
    docker_host: str = "",
    log: Log = print,
) -> ImageBuild:
    """Build (or find by its recipe) the handlers image of pop ``version`` on ``base`` in the
    engine at ``docker_host`` and tag it ``tag`` (default ``pop-handlers:<version>`` and
    ``pop-handlers:latest``); with ``push``, tag it ``push`` as well and push that.

    Raises RuntimeUnavailableError when the engine does not answer, when ``base`` is neither in
    the engine nor pullable (the hint names the offline route) and when the push fails;
    InputError for a base without a matching python3; PopError when pip or the build fails.
    """
    import docker

    started = time.monotonic()
    for given, what in ((tag, "--tag"), (push, "--push")):
        if given is not None:
            check_reference(given, what=what)
    tags = [_full_tag(tag)] if tag else default_tags(version)
    client = connect(docker_host)
    try:
        return _build_or_find(client, version, base, tags, push, docker_host, log, started)
    except docker.errors.APIError as exc:  # what the steps do not translate themselves
        raise PopError(f"the Docker engine refused: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc
    finally:
        client.close()


def _build_or_find(
    client: DockerClient,
    version: str,
    base: str,
    tags: list[str],
    push: str | None,
    docker_host: str,
    log: Log,
    started: float,
) -> ImageBuild:
    """The steps of :func:`build_handlers_image` with a connected client."""
    base_id = _base_image_id(client, base, docker_host, log)
    pop_files = find_pop_files()
    pins = dependency_pins(pop_requirements(pop_files))
    ffmpeg = ffmpeg_binary()
    recipe = handlers_recipe(
        version=version,
        base_id=base_id,
        pop_digest=pop_files.digest(),
        pins=pins,
        ffmpeg=ffmpeg,
    )
    digest = _digest(recipe)
    image_id = _image_with_recipe(client, digest)
    cached = image_id is not None
    if image_id is None:
        log(f"building {tags[0]} on {base} (recipe {digest})")
        image_id = _build(
            client,
            base,
            pop_files,
            pins,
            ffmpeg,
            recipe=digest,
            version=version,
            tag=tags[0],
            log=log,
        )
    else:
        log(f"{tags[0]} is up to date: image {_short(image_id)} has recipe {digest}")
    _tag_all(client, image_id, tags, log)
    pushed = _push(client, image_id, push, log) if push else None
    return ImageBuild(
        tag=tags[0],
        tags=tags,
        image_id=image_id,
        base=base,
        base_id=base_id,
        recipe=digest,
        cached=cached,
        seconds=time.monotonic() - started,
        pushed=pushed,
        pins=pins,
    )


def check_reference(reference: str, *, what: str = "image reference") -> None:
    """InputError (exit 2) for something that cannot name an image tag: ``[host[:port]/]path
    [:tag]``, lower-case path components, no digest."""
    if not _REFERENCE.match(reference):
        raise InputError(
            f"{what} {reference!r} is not an image reference",
            hint="use [registry[:port]/]name[:tag], e.g. pop-handlers:dev or "
            "localhost:5000/pop-handlers:0.1.0 (lower-case name, no @digest)",
        )


def handlers_recipe(
    *, version: str, base_id: str, pop_digest: str, pins: list[str], ffmpeg: Path
) -> dict[str, Any]:
    """What the image is made of; its hash is the ``pop.recipe`` label."""
    return {
        "version": _RECIPE_VERSION,
        "popVersion": version,
        "base": base_id,
        "pop": pop_digest,
        "packages": list(pins),
        "python": list(sys.version_info[:2]),
        "ffmpeg": file_digest(ffmpeg),
    }


# -- base image --------------------------------------------------------------------------------


def _base_image_id(client: DockerClient, base: str, docker_host: str, log: Log) -> str:
    """The id of ``base``, pulled when the engine does not have it."""
    import docker

    try:
        return str(client.images.get(base).id)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise InputError(f"invalid base image {base!r}: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc
    log(f"pulling {base}")
    try:
        return str(client.images.pull(base).id)
    except docker.errors.APIError as exc:
        reason = " ".join(str(exc.explanation or exc).split())
        raise RuntimeUnavailableError(
            f"the base image {base} is not in the Docker engine and cannot be pulled: {reason}",
            hint=f"without an image registry, build on pop's own base image: {OFFLINE_ROUTE}",
        ) from exc
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc


def _probe_base(client: DockerClient, base: str) -> tuple[list[int], str]:
    """The base image's Python version and the site-packages folder its python3 reads."""
    import docker

    try:
        output = client.containers.run(
            base,
            entrypoint=["python3", "-c", _PROBE],
            command=[],
            remove=True,
            stdout=True,
            stderr=True,
            network_disabled=True,
        )
        found = json.loads(bytes(output).decode().strip().splitlines()[-1])
    except (docker.errors.ContainerError, ValueError, IndexError) as exc:
        raise InputError(
            f"the base image {base} has no working python3: {exc}",
            hint=f"use a Python base image, or offline: {OFFLINE_ROUTE}",
        ) from exc
    except docker.errors.APIError as exc:
        raise InputError(f"cannot run the base image {base}: {exc.explanation or exc}") from exc
    version = [int(part) for part in found["version"]]
    sites = [str(site) for site in found["site"]]
    if version != list(sys.version_info[:2]):
        here = ".".join(map(str, sys.version_info[:2]))
        raise InputError(
            f"the base image {base} has Python {'.'.join(map(str, version))}, but the wheels are "
            f"built by this Python {here} (compiled dependencies must match)",
            hint=f"run `pop image build` with Python {'.'.join(map(str, version))}, or pick a "
            f"base with Python {here} ({DEFAULT_BASE}, or offline: {OFFLINE_ROUTE})",
        )
    if not sites:
        raise InputError(f"the base image {base}'s python3 reports no site-packages folder")
    return version, sites[0]


# -- the build ---------------------------------------------------------------------------------


def _build(
    client: DockerClient,
    base: str,
    pop_files: PopFiles,
    pins: list[str],
    ffmpeg: Path,
    *,
    recipe: str,
    version: str,
    tag: str,
    log: Log,
) -> str:
    """Build the image on the host and in the engine; its id."""
    _, site_dir = _probe_base(client, base)
    with tempfile.TemporaryDirectory(prefix="pop-image-", dir="/var/tmp") as scratch:
        work = Path(scratch)
        context = work / "context"
        site = context / "site-packages"
        context.mkdir()
        install_pop(work, site, pop_files, pins, log)
        link_bundled_ffmpeg(site)
        log(f"copying {ffmpeg} into the image as {FFMPEG_IN_IMAGE}")
        shutil.copyfile(ffmpeg, context / "ffmpeg")
        (context / "pop").write_text(_POP_SCRIPT)
        (context / "Dockerfile").write_text(
            dockerfile(base, site_dir=site_dir, recipe=recipe, version=version)
        )
        make_readable(context)
        return _engine_build(client, context, tag, log)


def dockerfile(base: str, *, site_dir: str, recipe: str, version: str) -> str:
    """The generated Dockerfile (its context: site-packages/, ffmpeg, pop)."""
    labels = {
        RECIPE_LABEL: recipe,
        VERSION_LABEL: version,
        "org.opencontainers.image.title": HANDLERS_REPOSITORY,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.base.name": base,
    }
    label_text = " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return "\n".join(
        [
            f"FROM {base}",
            f"COPY site-packages/ {site_dir}/",
            f"COPY ffmpeg {FFMPEG_IN_IMAGE}",
            "COPY pop /usr/local/bin/pop",
            f"ENV IMAGEIO_FFMPEG_EXE={FFMPEG_IN_IMAGE} LANG=C.UTF-8 PYTHONUNBUFFERED=1",
            f"LABEL {label_text}",
            'CMD ["pop", "--help"]',
            "",
        ]
    )


def _engine_build(client: DockerClient, context: Path, tag: str, log: Log) -> str:
    import docker

    log(f"docker build {tag}")
    image_id = ""
    try:
        for chunk in client.api.build(
            path=str(context), tag=tag, rm=True, forcerm=True, pull=False, decode=True
        ):
            if "error" in chunk:
                detail = " ".join(str(chunk["error"]).split())
                raise PopError(f"docker build of {tag} failed: {detail}")
            text = str(chunk.get("stream") or "").rstrip()
            if text:
                log(text)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
        if not image_id:
            image_id = str(client.images.get(tag).id)
    except docker.errors.APIError as exc:
        raise PopError(f"docker build of {tag} failed: {exc.explanation or exc}") from exc
    log(f"built {tag} ({_short(image_id)})")
    return image_id


def _image_with_recipe(client: DockerClient, recipe: str) -> str | None:
    images = client.images.list(filters={"label": f"{RECIPE_LABEL}={recipe}"})
    return str(images[0].id) if images else None


def _tag_all(client: DockerClient, image_id: str, tags: Iterable[str], log: Log) -> None:
    """Point every tag at ``image_id``; an earlier pop-handlers image left without any tag is
    removed (when no container uses it)."""
    import docker

    replaced: set[str] = set()
    for tag in tags:
        try:
            previous = client.images.get(tag)
        except docker.errors.ImageNotFound:
            previous = None
        if previous is not None and previous.id == image_id:
            continue
        repository, version = _split_tag(tag)
        client.api.tag(image_id, repository, version, force=True)
        log(f"tagged {tag}")
        if previous is not None and RECIPE_LABEL in (previous.labels or {}):
            replaced.add(str(previous.id))
    for old in replaced:
        try:
            if not client.images.get(old).tags:
                client.images.remove(old)
                log(f"removed the earlier image {_short(old)}")
        except docker.errors.APIError:
            continue  # still used by a container, or already gone: leave it


def _push(client: DockerClient, image_id: str, reference: str, log: Log) -> str:
    import docker

    full = _full_tag(reference)
    repository, version = _split_tag(full)
    client.api.tag(image_id, repository, version, force=True)
    log(f"pushing {full}")
    hint = "check that the registry is reachable and that you are logged in (`docker login`)"
    try:
        for chunk in client.api.push(repository, tag=version, stream=True, decode=True):
            if "error" in chunk:
                detail = " ".join(str(chunk["error"]).split())
                raise RuntimeUnavailableError(f"cannot push {full}: {detail}", hint=hint)
            status = chunk.get("status")
            if status and chunk.get("progressDetail") in (None, {}):
                log(f"{chunk.get('id', '')} {status}".strip())
    except docker.errors.APIError as exc:
        detail = " ".join(str(exc.explanation or exc).split())
        raise RuntimeUnavailableError(f"cannot push {full}: {detail}", hint=hint) from exc
    except docker.errors.DockerException as exc:
        raise RuntimeUnavailableError(f"cannot push {full}: {reason_of(exc)}", hint=hint) from exc
    log(f"pushed {full}")
    return full


# -- helpers -----------------------------------------------------------------------------------


def _full_tag(reference: str) -> str:
    """``name`` → ``name:latest``; a reference with a tag or a digest stays as it is."""
    if "@" in reference or ":" in reference.rsplit("/", 1)[-1]:
        return reference
    return f"{reference}:latest"


def _split_tag(reference: str) -> tuple[str, str]:
    repository, _, version = _full_tag(reference).rpartition(":")
    return repository, version


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _digest(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
