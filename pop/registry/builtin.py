"""What the fast ``pop submit`` (:mod:`pop.cli.quick_submit`) knows of the built-in registry
(``pop/data/registry.yaml``) without reading YAML: its operation types, each one's handler, and
which handlers declare a payload model (pydantic is loaded only for an agenda using those).

Layer: registry. A test (tests/cli/test_quick_submit_paths.py) loads the registry and the handlers
and fails when these facts differ from what they say.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class HandlerRefs(Protocol):
        """What submit-time payload checks ask of a registry (:class:`Registry` answers too)."""

        def __contains__(self, op_type: object) -> bool: ...
        def handler_ref(self, op_type: str) -> str | None: ...


TYPES = frozenset(
    {
        "analysis",
        "filmstrip",
        "logMessages",
        "noop",
        "package",
        "sample",
        "thumbnail",
        "transcode",
    }
)
WITH_PAYLOAD_MODEL = frozenset(
    {"analysis", "filmstrip", "logMessages", "package", "sample", "thumbnail", "transcode"}
)
HANDLER_REFS = {
    "analysis": "pop.handlers.media.analysis:run",
    "filmstrip": "pop.handlers.media.filmstrip:run",
    "logMessages": "pop.handlers.log:run",
    "noop": "pop.handlers.log:noop",
    "package": "pop.handlers.media.package:run",
    "sample": "pop.handlers.sample:run",
    "thumbnail": "pop.handlers.media.thumbnail:run",
    "transcode": "pop.handlers.media.transcode:run",
}


class BuiltinHandlers:
    """The built-in registry's handler references, answered as :class:`Registry` answers them."""

    def __contains__(self, op_type: object) -> bool:
        return op_type in TYPES

    def handler_ref(self, op_type: str) -> str | None:
        return HANDLER_REFS.get(op_type)
