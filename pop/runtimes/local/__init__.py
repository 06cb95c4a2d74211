"""The local runtime: launches as subprocesses in their own process groups.

Layer: runtimes. Imported lazily by ``pop.runtimes.create_launcher("local")``; nothing else
should import it (the engine and handlers use the Launcher protocol only).
"""

from pop.runtimes.local.launcher import LocalHandle, LocalLauncher

__all__ = ["LocalHandle", "LocalLauncher"]
