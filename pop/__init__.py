"""pop — Priority Operation Processing: store, schedule and run agendas (workflows of typed
operations) as local processes, Docker containers or Kubernetes pods.

The public library API lives here (loaded on first use, so ``pop --help`` stays fast); the CLI
(``pop``) is a thin layer over :mod:`pop.api`::

    import pop

    client = pop.Client()
    progress = client.run_local("examples/hello.json")
    report = client.batch("examples/templates/transcode-360p.json", ["media/"], glob="*.mp4")
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["BatchReport", "Client", "PopError", "__version__"]

TYPE_CHECKING = False  # typing is not imported at run time: every `pop` command starts here
if TYPE_CHECKING:
    from typing import Any

    from pop.api import Client
    from pop.errors import PopError
    from pop.services.batch import BatchReport

_LAZY = {"Client": "pop.api", "PopError": "pop.errors", "BatchReport": "pop.services.batch"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pop' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
