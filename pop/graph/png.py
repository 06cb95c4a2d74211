"""SVG to PNG with ``rsvg-convert`` (Debian: librsvg2-bin) when it is on PATH.

Layer: graph. Without the tool: RuntimeUnavailableError (exit 3) naming it.
"""

from __future__ import annotations

import shutil
import subprocess

from pop.errors import PopError, RuntimeUnavailableError

TOOL = "rsvg-convert"


def to_png(svg: str) -> bytes:
    """The PNG bytes of ``svg`` as ``rsvg-convert`` renders it."""
    path = shutil.which(TOOL)
    if path is None:
        raise RuntimeUnavailableError(
            f"--format png needs {TOOL}, which is not on PATH",
            hint="install it (Debian/Ubuntu: apt-get install librsvg2-bin), "
            "or write --format svg or dot",
        )
    done = subprocess.run(
        [path, "--format", "png"], input=svg.encode(), capture_output=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise PopError(f"{TOOL} could not convert the picture: {reason}")
    return done.stdout
