"""What the fast ``pop submit`` (:mod:`pop.cli.quick_submit`) knows of the built-in registry
(``pop/data/registry.yaml``) without reading YAML or importing a handler: its operation types,
and which of them have a handler that declares a payload model (an agenda using one of those is
checked by the model, so it goes the usual way, through pydantic).

Layer: registry. A test (tests/cli/test_quick_submit_paths.py) loads the registry and the handlers
and fails when these sets differ from what they say.
"""

from __future__ import annotations

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
