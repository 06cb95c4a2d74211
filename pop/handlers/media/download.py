"""Downloading an ``http(s)://`` input into a local file, with progress and clear failures.

Layer: handlers. Used by :mod:`pop.handlers.media.inputs`; stdlib ``urllib`` only. The body is
streamed in chunks to a hidden temporary name beside the destination and renamed when complete,
so a stopped download never leaves a file that looks finished.

Failures become the SDK's retry classes: an HTTP 4xx answer is a PermanentError (the URL is
wrong or forbidden; asking again gives the same answer) except 408, 425 and 429, which say
"later"; 5xx answers, refused connections, unknown hosts, timeouts and bodies cut short are
TemporaryErrors (a ``Retry-After`` in seconds becomes the retry delay).
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from pop.errors import HandlerError, PermanentError, TemporaryError

CHUNK_BYTES = 256 * 1024
TIMEOUT_SECONDS = 30.0
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})
USER_AGENT = "pop-media-handlers"

# (bytes received so far, Content-Length or None when the server did not say)
ByteProgress = Callable[[int, int | None], None]


def human_bytes(count: float) -> str:
    """``1.2 MB`` style (powers of 1000, like download tools show)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def download(
    url: str,
    destination: Path,
    *,
    on_progress: ByteProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Path:
    """Fetch ``url`` into ``destination`` (written as ``.<name>.part``, then renamed).

    ``on_progress`` gets the byte count after every chunk; ``should_stop`` is asked between
    chunks (a TemporaryError ends the download when it says yes). Raises PermanentError or
    TemporaryError as the module docstring describes; the partial file is always removed.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.part")
    try:
        _fetch(url, temporary, on_progress=on_progress, should_stop=should_stop, timeout=timeout)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(destination)
    return destination


def _fetch(
    url: str,
    temporary: Path,
    *,
    on_progress: ByteProgress | None,
    should_stop: Callable[[], bool] | None,
    timeout: float,
) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    received = 0
    total: int | None = None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = _content_length(response.headers.get("Content-Length"))
            if on_progress is not None:
                on_progress(0, total)
            with temporary.open("wb") as out:
                while chunk := response.read(CHUNK_BYTES):
                    if should_stop is not None and should_stop():
                        raise TemporaryError(f"Download of {url} stopped (op cancelled)")
                    out.write(chunk)
                    received += len(chunk)
                    if on_progress is not None:
                        on_progress(received, total)
    except urllib.error.HTTPError as exc:
        raise _http_error(url, exc) from exc
    except urllib.error.URLError as exc:
        host = urllib.parse.urlparse(url).netloc
        raise TemporaryError(
            f"Cannot download {url}: cannot reach {host}: {_reason(exc.reason)}"
        ) from exc
    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
        raise TemporaryError(
            f"Download of {url} failed after {human_bytes(received)}: {_reason(exc)}"
        ) from exc
    except OSError as exc:  # writing the file: a full disk is not the server's fault
        raise HandlerError(f"Cannot write the download of {url} to {temporary}: {exc}") from exc
    if total is not None and received < total:
        raise TemporaryError(
            f"Download of {url} ended after {received} of {total} bytes (connection closed early)"
        )


def _content_length(header: str | None) -> int | None:
    try:
        length = int(header) if header is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _reason(reason: object) -> str:
    text = str(reason) or type(reason).__name__
    return text if not isinstance(reason, TimeoutError) else f"timed out ({text})"


def _http_error(url: str, exc: urllib.error.HTTPError) -> HandlerError:
    message = f"Cannot download {url}: HTTP {exc.code} {exc.reason}"
    if 400 <= exc.code < 500 and exc.code not in RETRYABLE_CLIENT_STATUSES:
        return PermanentError(message)
    retry_after = exc.headers.get("Retry-After") if exc.headers else None
    delay = float(retry_after) if retry_after and retry_after.isdigit() else None
    return TemporaryError(message, delay=delay)
