"""Locating the ffmpeg binary the media handlers launch.

Layer: handlers. Called by the media handlers and the media test fixtures. Order: the
``POP_FFMPEG`` environment variable, else ``ffmpeg`` on PATH, else the static build bundled with
the ``imageio-ffmpeg`` package (which has libx264, libx265, libvpx-vp9, libsvtav1 and libvmaf).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

from pop.errors import HandlerError

FFMPEG_ENV = "POP_FFMPEG"


class FfmpegNotFoundError(HandlerError):
    """No ffmpeg binary could be found (a setup problem: install one, or set POP_FFMPEG)."""


def find_ffmpeg(env: Mapping[str, str] | None = None) -> str:
    """The ffmpeg to run: ``$POP_FFMPEG``, else ``ffmpeg`` on PATH, else imageio-ffmpeg's binary.

    Raises FfmpegNotFoundError with what was tried when none is available.
    """
    environment = os.environ if env is None else env
    configured = environment.get(FFMPEG_ENV)
    if configured:
        return configured
    on_path = shutil.which("ffmpeg", path=environment.get("PATH"))
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        bundled: str = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise FfmpegNotFoundError(
            f"No ffmpeg found: {FFMPEG_ENV} is not set, there is no ffmpeg on PATH and the "
            f"imageio-ffmpeg package gives none ({type(exc).__name__}: {exc}). Install ffmpeg, "
            f"`pip install imageio-ffmpeg`, or set {FFMPEG_ENV} to the binary's path."
        ) from exc
    return bundled
