"""Splitting a launch's output bytes into text lines: one splitter for every runtime.

Layer: runtimes. Used by the local runtime's pipes, the docker runtime's log stream and the
kubernetes runtime's pod logs.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (progress bars such as ffmpeg's rewrite one
line with ``\\r``; each rewrite becomes a line). Bytes that are not UTF-8 become U+FFFD. A line
longer than ``max_line_chars`` is passed on in pieces of that size, so nothing is lost and memory
stays bounded.
"""

from __future__ import annotations

import codecs
import re

MAX_LINE_CHARS = 16 * 1024 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Turns a byte stream fed in arbitrary chunks into text lines without their line ends."""

    def __init__(self, *, max_line_chars: int = MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._max_line_chars = max_line_chars
        self._pieces: list[str] = []  # the unfinished line, in pieces (no quadratic joins)
        self._pending_chars = 0
        self._skip_newline = False  # the last chunk ended in "\r": a "\n" next completes "\r\n"

    def feed(self, data: bytes) -> list[str]:
        """The lines completed by ``data``."""
        return self._split(self._decoder.decode(data))

    def close(self) -> list[str]:
        """The lines left at end of stream (an unterminated last line included)."""
        lines = self._split(self._decoder.decode(b"", final=True))
        if self._pieces:
            lines.append("".join(self._pieces))
            self._pieces, self._pending_chars = [], 0
        return lines

    def _split(self, text: str) -> list[str]:
        if self._skip_newline and text:
            self._skip_newline = False
            if text.startswith("\n"):
                text = text[1:]
        if not text:
            return []
        self._skip_newline = text.endswith("\r")
        *complete, rest = _LINE_END.split(text)
        if complete:
            complete[0] = "".join([*self._pieces, complete[0]])
            self._pieces, self._pending_chars = [], 0
        if rest:
            self._pieces.append(rest)
            self._pending_chars += len(rest)
        if self._pending_chars > self._max_line_chars:
            pending = "".join(self._pieces)
            keep = len(pending) % self._max_line_chars
            complete.append(pending[: len(pending) - keep])
            self._pieces = [pending[len(pending) - keep :]] if keep else []
            self._pending_chars = keep
        return [piece for line in complete for piece in self._chop(line)]

    def _chop(self, line: str) -> list[str]:
        size = self._max_line_chars
        if len(line) <= size:
            return [line]
        return [line[i : i + size] for i in range(0, len(line), size)]
