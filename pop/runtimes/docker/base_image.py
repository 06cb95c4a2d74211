"""Images built offline, without any image registry: the ``pop-base`` Debian image and a tiny
``pop-busybox`` image for shell-only tests.

Layer: runtimes. Called by ``pop image base`` / ``pop image build`` (through ``pop.api``) and by
the test suite's engine fixture.

``pop-base:<hash>`` is a Debian ``minbase`` root file system with ``python3``, made with
``debootstrap`` (as root) from a Debian mirror and ``docker import``-ed; ``pop-busybox:<hash>``
is the host's static ``busybox`` with a link per applet. Each tag hashes its recipe (and, for
busybox, the binary), so a machine builds each image once: when the tag is in the engine, the
build is skipped and the tag returned at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pop.errors import PopError, RuntimeUnavailableError
from pop.runtimes.docker.engine import connect, unavailable

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_REPOSITORY = "pop-base"
BUSYBOX_REPOSITORY = "pop-busybox"
BUSYBOX_PATH = "/bin/busybox"
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump when the recipe changes in a way its fields do not show, so machines rebuild.
_RECIPE_VERSION = 1
_BASE_PACKAGES = ("python3",)
_BASE_CHANGES = (f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", 'CMD ["python3"]')
_BUSYBOX_CHANGES = ("ENV PATH=/bin", 'CMD ["sh"]')
# Left out of the image: package caches that only debootstrap needed.
_BASE_LEFTOVERS = ("var/cache/apt/archives", "var/lib/apt/lists")

Log = Callable[[str], None]


def base_recipe(*, suite: str = DEFAULT_SUITE) -> dict[str, Any]:
    """What ``pop-base`` is made of; its hash is the image tag."""
    return {
        "version": _RECIPE_VERSION,
        "tool": "debootstrap",
        "variant": "minbase",
        "suite": suite,
        "include": list(_BASE_PACKAGES),
        "changes": list(_BASE_CHANGES),
    }


def base_image_tag(*, suite: str = DEFAULT_SUITE) -> str:
    """``pop-base:<12 hex>``: the tag :func:`build_base_image` builds for ``suite``."""
    return f"{BASE_REPOSITORY}:{_digest(base_recipe(suite=suite))}"


def build_base_image(
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    docker_host: str = "",
    log: Log = print,
) -> str:
    """Build ``pop-base:<hash>`` (Debian ``suite`` minbase + python3, ``python3`` on PATH) in
    the engine at ``docker_host`` ("" = DOCKER_HOST or the default socket) and return its tag;
    when the tag is already there, return it without building. ``log`` receives progress lines
    (debootstrap's output among them).

    Raises RuntimeUnavailableError (with a hint) when not root, when debootstrap is missing, or
    when the engine does not answer; PopError when debootstrap or the import fails.
    """
    tag = base_image_tag(suite=suite)
    client = connect(docker_host)
    try:
        if _has_image(client, tag, docker_host):
            log(f"{tag} is already built")
            return tag
        _require_root_and(
            "debootstrap",
            package="debootstrap",
            what="the base image is a Debian root file system made with debootstrap",
        )
        with tempfile.TemporaryDirectory(prefix="pop-base-", dir="/var/tmp") as scratch:
            root = Path(scratch) / "rootfs"
            try:
                _debootstrap(root, suite=suite, mirror=mirror, log=log)
                for leftover in _BASE_LEFTOVERS:
                    shutil.rmtree(root / leftover, ignore_errors=True)
                archive = Path(scratch) / "rootfs.tar"
                log(f"packing {root} into {archive.name}")
                _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."])
            finally:
                _unmount_below(root)
            log(f"importing {tag}")
            _import(client, str(archive), tag, _BASE_CHANGES, docker_host)
        log(f"built {tag}")
        return tag
    finally:
        client.close()


def busybox_image_tag(*, busybox: str = BUSYBOX_PATH) -> str:
    """``pop-busybox:<12 hex>``: the tag :func:`busybox_image` builds from ``busybox``."""
    recipe = {"version": _RECIPE_VERSION, "busybox": _file_digest(busybox)}
    recipe["changes"] = list(_BUSYBOX_CHANGES)
    return f"{BUSYBOX_REPOSITORY}:{_digest(recipe)}"


def busybox_image(*, busybox: str = BUSYBOX_PATH, docker_host: str = "", log: Log = print) -> str:
    """Import the static ``busybox`` binary as ``pop-busybox:<hash>`` (``/bin/busybox`` with a
    link per applet: ``sh``, ``sleep``, ``true``, ...) and return the tag; cached by tag.
    Raises RuntimeUnavailableError when there is no static busybox (package
    ``busybox-static``) or no engine."""
    if not Path(busybox).is_file():
        raise RuntimeUnavailableError(
            f"no busybox binary at {busybox}",
            hint="install the static busybox: apt-get install -y busybox-static",
        )
    tag = busybox_image_tag(busybox=busybox)
    client = connect(docker_host)
    try:
        if _has_image(client, tag, docker_host):
            return tag
        applets = _run([busybox, "--list"]).split()
        log(f"importing {tag} ({len(applets)} applets)")
        _import(client, _busybox_archive(busybox, applets), tag, _BUSYBOX_CHANGES, docker_host)
        return tag
    finally:
        client.close()


# -- internals ---------------------------------------------------------------------------------


def _digest(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _has_image(client: DockerClient, tag: str, docker_host: str) -> bool:
    import docker

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc
    return True


def _require_root_and(program: str, *, package: str, what: str) -> None:
    if os.geteuid() != 0:
        raise RuntimeUnavailableError(
            f"building the base image needs root: {what}",
            hint="run it as root (sudo), or build on a machine with access to "
            "python:3.11-slim-bookworm and pass it as --base",
        )
    if shutil.which(program) is None:
        raise RuntimeUnavailableError(
            f"{program} is not installed: {what}",
            hint=f"install it: apt-get install -y {package}",
        )


def _debootstrap(root: Path, *, suite: str, mirror: str, log: Log) -> None:
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(_BASE_PACKAGES)}",
        suite,
        str(root),
        mirror,
    ]
    log(" ".join(argv))
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert process.stdout is not None
    tail: list[str] = []
    for line in process.stdout:
        log(line.rstrip("\n"))
        tail = [*tail[-9:], line.rstrip("\n")]
    if process.wait() != 0:
        raise PopError(
            f"debootstrap failed with exit code {process.returncode}: " + " | ".join(tail),
            hint=f"check that {mirror} is reachable; details in {root}/debootstrap/debootstrap.log",
        )


def _unmount_below(root: Path) -> None:
    """Unmount what debootstrap may have left mounted inside ``root`` (proc, sys) when it
    failed half-way, deepest first, so removing the folder never reaches the host's files."""
    prefix = str(root.resolve()) + "/"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    targets = [fields[1] for fields in (line.split() for line in mounts) if len(fields) > 1]
    for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def _run(argv: list[str]) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PopError(f"{argv[0]} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


def _busybox_archive(busybox: str, applets: list[str]) -> bytes:
    """A root file system tar: /bin/busybox, /bin/<applet> symlinks, /tmp and /root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder, mode in (("bin", 0o755), ("tmp", 0o1777), ("root", 0o700), ("etc", 0o755)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            archive.addfile(info)
        binary = tarfile.TarInfo("bin/busybox")
        binary.size, binary.mode = Path(busybox).stat().st_size, 0o755
        with open(busybox, "rb") as file:
            archive.addfile(binary, file)
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            archive.addfile(link)
    return buffer.getvalue()


def _import(
    client: DockerClient,
    source: str | bytes,
    tag: str,
    changes: tuple[str, ...],
    docker_host: str,
) -> None:
    import docker

    repository, _, version = tag.partition(":")
    try:
        if isinstance(source, bytes):
            client.api.import_image_from_data(
                source, repository=repository, tag=version, changes=list(changes)
            )
        else:
            client.api.import_image_from_file(
                source, repository=repository, tag=version, changes=list(changes)
            )
    except docker.errors.APIError as exc:
        raise PopError(f"docker import of {tag} failed: {exc.explanation or exc}") from exc
    except docker.errors.DockerException as exc:
        raise unavailable(exc, docker_host) from exc
