"""Media inputs: a file path or ``file://`` URL to a local path, checked before any work starts.

Layer: handlers. Used by the analysis and transcode handlers. ``http(s)://`` inputs are not
supported yet (issue 5: downloading into the work directory comes later).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from pop.errors import PermanentError


def local_path(url: str) -> Path:
    """The local file an input names; PermanentError for URLs that are not files."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        raise PermanentError(f"Input {url}: http(s) inputs are not supported yet")
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, not a scheme
        raise PermanentError(f"Input {url}: unsupported URL scheme {parsed.scheme!r}")
    return Path(url)


def existing_files(urls: list[str]) -> list[Path]:
    """Every input as a local path; PermanentError naming each one that is not a readable file."""
    paths = [local_path(url) for url in urls]
    missing = [url for url, path in zip(urls, paths, strict=True) if not path.is_file()]
    if missing:
        raise PermanentError("Input file not found: " + ", ".join(missing))
    return paths
