"""What goes into the ``pop-handlers`` image, made on this host: pop's files, its dependencies
pinned to the versions installed here, the wheels of both installed into a folder, and the
ffmpeg binary.

Layer: runtimes. Used by :mod:`pop.runtimes.docker.build`; no docker SDK here (only files,
``importlib.metadata`` and this host's pip).

pop comes from its source tree when this pop runs from one (a checkout, an editable install:
``pip wheel`` builds it), else from the installed package's files (copied as they are). Every
dependency is pinned to the version installed here (``-c constraints.txt``), so the image runs
what the host runs; the host's pip installs the wheels into a folder (``pip install --target
--no-index --no-deps``) that becomes the image's ``site-packages``, so the base image needs no
pip and no network. The host's Python and the image's must share a minor version (compiled
wheels such as pydantic-core and av).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pop.errors import PopError

FFMPEG_IN_IMAGE = "/usr/local/bin/ffmpeg"
# Besides the package folder, what building pop's wheel from its source tree reads.
_SOURCE_TOP_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in")
_SOURCE_TOP_PREFIXES = ("README", "LICENSE", "LICENCE", "NOTICE")

Log = Callable[[str], None]


@dataclass(frozen=True)
class PopFiles:
    """Where pop's own files come from: its source tree (``source`` True: a checkout or an
    editable install, built into a wheel) or the installed package (copied as it is)."""

    root: Path
    files: list[Path]
    source: bool

    def digest(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(str(path.relative_to(self.root)).encode() + b"\0")
            digest.update(file_digest(path).encode())
        return digest.hexdigest()


def find_pop_files() -> PopFiles:
    """pop's source tree when this pop runs from one (a checkout, an editable install), else
    the installed package's files."""
    package = Path(__file__).resolve().parents[2]  # pop/runtimes/docker/ → pop/
    root = package.parent
    if _is_pop_project(root / "pyproject.toml"):
        top = [
            path
            for path in sorted(root.iterdir())
            if path.is_file()
            and (path.name in _SOURCE_TOP_FILES or path.name.startswith(_SOURCE_TOP_PREFIXES))
        ]
        return PopFiles(root, [*top, *_package_files(package)], source=True)
    from importlib import metadata

    distribution = metadata.distribution("pop")
    files = [
        Path(str(distribution.locate_file(entry))).resolve()
        for entry in distribution.files or []
        if not str(entry).startswith("..") and "__pycache__" not in str(entry)
    ]
    return PopFiles(root, sorted(path for path in files if path.is_relative_to(root)), False)


def pop_requirements(pop_files: PopFiles) -> list[str]:
    """pop's own requirements: from the source tree's ``pyproject.toml`` (the installed
    metadata of an editable install may be older), else from the installed distribution."""
    if pop_files.source:
        import tomllib

        with open(pop_files.root / "pyproject.toml", "rb") as file:
            project = tomllib.load(file).get("project") or {}
        return [str(requirement) for requirement in project.get("dependencies") or []]
    from importlib import metadata

    return list(metadata.distribution("pop").requires or [])


def dependency_pins(requirements: Iterable[str]) -> list[str]:
    """``name==version`` of every installed distribution that ``requirements`` need, directly
    or not (markers evaluated here, extras followed), sorted: the image gets these versions."""
    from importlib import metadata

    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = _wanted(requirements, frozenset())
    while pending:
        wanted, extras = pending.pop()
        key = (_canonical(wanted), extras)
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = metadata.distribution(wanted)
        except metadata.PackageNotFoundError:
            continue  # pip resolves what is not installed here
        pins[_canonical(distribution.metadata["Name"])] = distribution.version
        pending.extend(_wanted(distribution.requires or [], extras))
    return sorted(f"{package}=={version}" for package, version in pins.items())


def _wanted(texts: Iterable[str], extras: frozenset[str]) -> list[tuple[str, frozenset[str]]]:
    """The (name, extras) of each requirement whose marker holds here for these extras."""
    requirement_class = _requirement_class()
    contexts = [{"extra": extra} for extra in sorted(extras)] or [{"extra": ""}]
    wanted = []
    for text in texts:
        requirement = requirement_class(text)
        marker = requirement.marker
        if marker is not None and not any(marker.evaluate(context) for context in contexts):
            continue
        wanted.append((str(requirement.name), frozenset(requirement.extras)))
    return wanted


def ffmpeg_binary() -> Path:
    """The ffmpeg this host's media handlers run by default: imageio-ffmpeg's binary."""
    try:
        import imageio_ffmpeg

        found = str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise PopError(
            f"no imageio-ffmpeg binary to put in the image: {exc}",
            hint="pip install imageio-ffmpeg",
        ) from exc
    path = Path(shutil.which(found) or found)
    if not path.is_file():
        raise PopError(f"the imageio-ffmpeg binary {found} is not a file")
    return path.resolve()


def install_pop(work: Path, site: Path, pop_files: PopFiles, pins: list[str], log: Log) -> None:
    """Wheels of pop and its pinned dependencies, installed into ``site`` by this host's pip."""
    wheels = work / "wheels"
    constraints = work / "constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in pins))
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    if pop_files.source:
        source = work / "source"
        for path in pop_files.files:
            target = source / path.relative_to(pop_files.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        log(f"building wheels of pop ({pop_files.root}) and {len(pins)} pinned dependencies")
        _stream([*pip, "wheel", str(source), "-w", str(wheels), "-c", str(constraints)], log)
    else:
        log(f"building wheels of {len(pins)} pinned dependencies of the installed pop")
        _stream([*pip, "wheel", "-r", str(constraints), "-w", str(wheels)], log)
    found = sorted(str(path) for path in wheels.glob("*.whl"))
    log(f"installing {len(found)} wheels into the image's site-packages")
    _stream(
        [
            *pip,
            "install",
            "--no-index",
            "--no-deps",
            "--no-warn-script-location",
            "--target",
            str(site),
            *found,
        ],
        log,
    )
    if not pop_files.source:
        for path in pop_files.files:
            target = site / path.relative_to(pop_files.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    # Console scripts name this host's interpreter; the image has its own `pop` script.
    shutil.rmtree(site / "bin", ignore_errors=True)


def link_bundled_ffmpeg(site: Path) -> None:
    """imageio-ffmpeg's own binary becomes a link to the image's ffmpeg (the same file)."""
    for binary in (site / "imageio_ffmpeg" / "binaries").glob("ffmpeg*"):
        binary.unlink()
        binary.symlink_to(FFMPEG_IN_IMAGE)


def make_readable(root: Path) -> None:
    """Everything readable by any user (handlers run as the executor's uid), programs and
    folders executable."""
    for folder, folders, files in os.walk(root):
        for name in [*folders, *files]:
            path = Path(folder) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR or name in ("ffmpeg", "pop"):
                extra |= stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
            path.chmod(mode | extra)


def _stream(argv: list[str], log: Log) -> None:
    """Run ``argv``, each output line to ``log``; PopError with the last lines on failure."""
    log(" ".join(argv[:7]) + (" ..." if len(argv) > 7 else ""))
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"},  # building as root is fine here
    )
    assert process.stdout is not None
    tail: list[str] = []
    with process:
        for line in process.stdout:
            log(line.rstrip("\n"))
            tail = [*tail[-4:], line.strip()]
    if process.returncode != 0:
        raise PopError(
            f"{' '.join(argv[1:4])} failed with exit code {process.returncode}: "
            + " | ".join(line for line in tail if line),
            hint="pip needs a package index (or --find-links) that has these versions",
        )


def _package_files(package: Path) -> list[Path]:
    return sorted(
        path
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def _is_pop_project(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text()
    except OSError:
        return False
    return re.search(r'^name\s*=\s*"pop"\s*$', text, re.MULTILINE) is not None


def _requirement_class() -> Any:
    """packaging's Requirement (pip always carries a copy when packaging is not installed)."""
    import importlib

    try:
        return importlib.import_module("packaging.requirements").Requirement
    except ImportError:
        return importlib.import_module("pip._vendor.packaging.requirements").Requirement


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def file_digest(path: Path) -> str:
    """The sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
