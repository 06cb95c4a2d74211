"""Media inputs: paths, ``file://`` URLs and ``http(s)://`` URLs, as local files checked up front.

Layer: handlers. :func:`existing_files` (local inputs only) serves the package handler;
:func:`handler_inputs` (local or downloaded, :func:`fetched_inputs` with the op's progress)
serves analysis, transcode, thumbnail and filmstrip. Order of
work, so that a bad payload fails before anything slow starts: every input's scheme is checked,
then every local input's existence (one PermanentError naming all missing ones), and only then
are the ``http(s)`` inputs downloaded (:mod:`.download`) into ``<folder>/inputs/``. Downloaded
copies are removed when the ``with`` block ends: the op's outputs are its results, not them.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from pop.errors import PermanentError
from pop.handlers.media.download import download, human_bytes

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

REMOTE_SCHEMES = ("http", "https")
DOWNLOAD_FOLDER = "inputs"
REPORT_INTERVAL_SECONDS = 0.5
DOWNLOAD_SHARE = 10.0  # percent of an op that downloading its http(s) inputs stands for
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

# (input position, url, bytes received, Content-Length or None)
DownloadCallback = Callable[[int, str, int, int | None], None]


def is_remote(url: str) -> bool:
    """True for ``http://`` and ``https://`` inputs."""
    return urlparse(url).scheme.lower() in REMOTE_SCHEMES


def local_path(url: str) -> Path:
    """The local file an input names; PermanentError for URLs that are not local files."""
    parsed = urlparse(url)
    if parsed.scheme.lower() in REMOTE_SCHEMES:
        raise PermanentError(
            f"Input {url}: this handler takes local files only (analysis, transcode, thumbnail "
            "and filmstrip download http(s) inputs)"
        )
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter: a Windows drive, not a scheme
        raise PermanentError(f"Input {url}: unsupported URL scheme {parsed.scheme!r}")
    return Path(url)


def existing_files(urls: list[str]) -> list[Path]:
    """Every input as a local path; PermanentError naming each one that is not a readable file."""
    paths = [local_path(url) for url in urls]
    _check_exist([(url, path) for url, path in zip(urls, paths, strict=True)])
    return paths


def _check_exist(pairs: list[tuple[str, Path]]) -> None:
    missing = [url for url, path in pairs if not path.is_file()]
    if missing:
        raise PermanentError("Input file not found: " + ", ".join(missing))


def download_name(position: int, url: str) -> str:
    """``<position>-<last path segment>`` made safe as a file name (``input`` when empty)."""
    segment = unquote(urlparse(url).path.rstrip("/").rpartition("/")[2])
    safe = _UNSAFE_NAME.sub("_", segment).strip("._") or "input"
    return f"{position}-{safe}"


@contextmanager
def fetched_inputs(
    urls: list[str],
    *,
    folder: Path | None,
    on_progress: DownloadCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[list[Path]]:
    """Every input as a local file, downloading the remote ones into ``<folder>/inputs/`` (a
    temporary folder when ``folder`` is None); the downloads are deleted on leaving the block.

    PermanentError for an unsupported scheme or missing local files (before any download);
    the download errors of :func:`pop.handlers.media.download.download` otherwise.
    """
    local = {position: local_path(url) for position, url in enumerate(urls) if not is_remote(url)}
    _check_exist([(urls[position], path) for position, path in local.items()])
    with ExitStack() as cleanup:
        if folder is None:
            target = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="pop-in-")))
        else:
            target = folder / DOWNLOAD_FOLDER
            cleanup.callback(_remove_if_empty, target)
        paths: list[Path] = []
        for position, url in enumerate(urls):
            if position in local:
                paths.append(local[position])
                continue
            destination = target / download_name(position, url)
            cleanup.callback(destination.unlink, missing_ok=True)

            def report(received: int, total: int | None, *, at: int = position) -> None:
                if on_progress is not None:
                    on_progress(at, urls[at], received, total)

            paths.append(download(url, destination, on_progress=report, should_stop=should_stop))
        yield paths


@contextmanager
def handler_inputs(
    ctx: HandlerContext, urls: list[str], *, share: float = DOWNLOAD_SHARE
) -> Iterator[tuple[list[Path], Callable[[float], float]]]:
    """:func:`fetched_inputs` in the op's folder, for a handler: downloads report the first
    ``share`` percent of the op (when some input is remote) and stop with the op. Yields the
    local files and the function mapping the handler's own 0-100 percent onto the rest of the
    op."""
    start = share if any(is_remote(url) for url in urls) else 0.0
    progress = DownloadProgress(ctx.progress, count=len(urls), span=(0.0, start or 100.0))
    with fetched_inputs(
        urls, folder=ctx.op_dir, on_progress=progress, should_stop=lambda: ctx.stopping
    ) as paths:
        for url, path in zip(urls, paths, strict=False):
            ctx.log(f"input {url}" if str(path) == url else f"input {url} (as {path})")
        yield paths, lambda percent: start + percent * (100.0 - start) / 100.0


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):  # absent, or holds something we did not put there
        folder.rmdir()


class DownloadProgress:
    """A :data:`DownloadCallback` that reports through ``report(percent, message)`` (the
    handler's ``ctx.progress``), mapping the downloads onto ``span`` of the op's percent.

    With a Content-Length the message says the percent of it, without one the bytes so far.
    Reports at most every ``interval`` seconds, plus the start and end of each download.
    """

    def __init__(
        self,
        report: Callable[[float, str], None],
        *,
        count: int,
        span: tuple[float, float] = (0.0, 100.0),
        interval: float = REPORT_INTERVAL_SECONDS,
    ) -> None:
        self._report = report
        self._count = max(1, count)
        self._span = span
        self._interval = interval
        self._last = float("-inf")

    def __call__(self, position: int, url: str, received: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and received >= total
        if received and not finished and now - self._last < self._interval:
            return
        self._last = now
        if total:
            fraction = min(1.0, received / total)
            message = f"downloading {url}: {fraction * 100:.0f}% of {human_bytes(total)}"
        else:
            fraction = 0.0
            message = f"downloading {url}: {human_bytes(received)}"
        start, end = self._span
        self._report(start + (position + fraction) / self._count * (end - start), message)
