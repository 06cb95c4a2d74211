"""What an ffmpeg build offers (its encoders and filters), asked once per binary per process.

Layer: handlers. Used by the transcode handler (encoders; the ssim and libvmaf filters for QC).
The listing runs ``ffmpeg -hide_banner -encoders`` / ``-filters`` through ``ctx.launch_external``
like every ffmpeg run, and is cached in a module-level dict keyed by (runtime, image, binary,
listing), so a resident handler serving many ops asks once, and a docker run never reuses what the
host's ffmpeg offers (or the reverse).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from pop.errors import HandlerError, PermanentError

if TYPE_CHECKING:  # the context (and asyncio) loads when a handler runs, not when
    # its payload model is read
    from pop.handlers.context import HandlerContext

Listing = Literal["encoders", "filters"]

_LISTINGS: dict[tuple[str, str, str, Listing], frozenset[str]] = {}
_LOCK = threading.Lock()


def listed(ctx: HandlerContext, ffmpeg: str, listing: Listing) -> frozenset[str]:
    """The names ``ffmpeg -<listing>`` prints (the second column of its table), cached."""
    runtime = ctx.launch_data.external_launch_type
    key = (runtime, ctx.external_image("ffmpeg") or "", ffmpeg, listing)
    with _LOCK:
        cached = _LISTINGS.get(key)
    if cached is not None:
        return cached
    lines: list[str] = []
    result = ctx.launch_external(
        [ffmpeg, "-hide_banner", "-nostdin", f"-{listing}"], name="ffmpeg", on_line=lines.append
    )
    if not result.ok:
        raise HandlerError(f"Cannot list the {listing} of {ffmpeg}: {result.describe()}")
    names = frozenset(parts[1] for parts in (line.split() for line in lines) if len(parts) > 1)
    with _LOCK:
        _LISTINGS[key] = names
    return names


def require(
    ctx: HandlerContext, ffmpeg: str, listing: Listing, wanted: Iterable[str], *, why: str = ""
) -> None:
    """PermanentError naming every one of ``wanted`` this build lacks (``why`` is appended)."""
    missing = sorted(set(wanted) - listed(ctx, ffmpeg, listing))
    if missing:
        kind = "encoder" if listing == "encoders" else "filter"
        raise PermanentError(
            f"This ffmpeg build ({ffmpeg}) has no {kind} {', '.join(missing)}{why}"
        )


def forget() -> None:
    """Drop every cached listing (a test, or after replacing a binary in place)."""
    with _LOCK:
        _LISTINGS.clear()
