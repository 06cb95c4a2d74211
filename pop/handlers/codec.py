"""The payload environment codec: how an op payload travels to a handler in environment variables.

Layer: handlers (imports only the standard library and :mod:`pop.errors`). Called by
:mod:`pop.handlers.launchdata` (handler side, decoding) and by the engine when it builds a
handler's environment (encoding).

Two forms, as POP (POP-REFERENCE §5.3):

* ``envVar``: ``PAYLOAD`` holds the JSON text, ``POP_PAYLOAD_TYPE=envVar``.
* ``compressedEnvVar``: zlib (with header, as :func:`zlib.compress`) of the UTF-8 JSON, then
  standard base64, split into chunks of ``segment_size`` characters in
  ``POP_COMPRESSED_PAYLOAD_0..n-1``. Used past a size threshold because one environment string
  may not exceed 128 KiB on Linux.

The threshold is measured in UTF-8 bytes (POP measured characters): a payload of 100,000
non-ASCII characters is larger than the kernel's limit for one variable, its byte size is not.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping

from pop.errors import PermanentError

PAYLOAD = "PAYLOAD"
PAYLOAD_TYPE = "POP_PAYLOAD_TYPE"
COMPRESSED_PREFIX = "POP_COMPRESSED_PAYLOAD_"
ENV_VAR = "envVar"
COMPRESSED_ENV_VAR = "compressedEnvVar"
DEFAULT_THRESHOLD = 100_000
DEFAULT_SEGMENT_SIZE = 100_000


def split_segments(text: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> list[str]:
    """``text`` cut into consecutive chunks of ``segment_size`` characters (the last may be
    shorter); an empty text has no chunks."""
    if segment_size <= 0:
        raise ValueError(f"segment_size must be positive, not {segment_size}")
    return [text[start : start + segment_size] for start in range(0, len(text), segment_size)]


def encode_payload_env(
    payload_json: str,
    *,
    compressed: bool | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
) -> dict[str, str]:
    """The environment variables that carry ``payload_json`` to a handler.

    ``compressed`` None compresses only when the payload's UTF-8 size exceeds ``threshold``.
    """
    data = payload_json.encode("utf-8")
    if compressed is None:
        compressed = len(data) > threshold
    if not compressed:
        return {PAYLOAD: payload_json, PAYLOAD_TYPE: ENV_VAR}
    text = base64.b64encode(zlib.compress(data)).decode("ascii")
    env = {
        f"{COMPRESSED_PREFIX}{index}": segment
        for index, segment in enumerate(split_segments(text, segment_size))
    }
    env[PAYLOAD_TYPE] = COMPRESSED_ENV_VAR
    return env


def decode_payload_env(env: Mapping[str, str]) -> str | None:
    """The payload JSON text carried by ``env``, or None when there is none.

    An empty variable counts as unset. ``POP_PAYLOAD_TYPE`` (case-insensitive, default envVar)
    picks the form; with no type given, chunks without ``PAYLOAD`` are decoded as well.
    Raises PermanentError when the compressed chunks cannot be decoded.
    """
    payload_type = (env.get(PAYLOAD_TYPE) or "").lower()
    plain = env.get(PAYLOAD) or None
    if payload_type == COMPRESSED_ENV_VAR.lower() or (not payload_type and plain is None):
        return _decode_compressed(env)
    return plain


def _decode_compressed(env: Mapping[str, str]) -> str | None:
    segments: list[str] = []
    while segment := env.get(f"{COMPRESSED_PREFIX}{len(segments)}"):
        segments.append(segment)
    if not segments:
        return None
    try:
        return zlib.decompress(base64.b64decode("".join(segments), validate=True)).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError) as exc:
        raise PermanentError(
            f"Failed to decode the compressed payload ({len(segments)} parts): {exc}"
        ) from exc
