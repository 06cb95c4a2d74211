"""``Record``: the base of pop's small value objects that start fast.

Layer: the bottom (standard library only). ``dataclasses`` imports ``inspect`` (10-15 ms), which
the fast commands (``pop status``, ``list``, ``logs``, ``submit``) cannot afford, so the value
objects they meet (a change record, a reference, an output file, a queued row) are plain classes
with ``__slots__`` and this base: equal and hashed by their slots, shown with them.
"""

from __future__ import annotations


class Record:
    """A value object: equal when of the same class with equal slots, hashed by them."""

    __slots__ = ()

    def _names(self) -> tuple[str, ...]:
        names: tuple[str, ...] = type(self).__slots__
        return names

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names())
        return f"{type(self).__name__}({shown})"
