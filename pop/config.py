"""Settings: where pop keeps its files and the durations it uses.

Layer: just above ``pop.errors``. Every duration is a default that the environment (or a test)
overrides, so tests can run in seconds where production uses minutes.

Environment variables: ``POP_HOME`` (default ``~/.pop``), ``POP_REGISTRY``, ``POP_LEASE_SECONDS``,
``POP_LEASE_RENEW_SECONDS``, ``POP_LOG_CAP_BYTES``, ``POP_PROGRESS_INTERVAL``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        return default


@dataclass(frozen=True)
class Settings:
    """Locations and durations; build with :meth:`from_env`, change with :meth:`with_changes`."""

    home: Path
    registry_path: Path | None = None
    lease_seconds: float = 30.0
    lease_renew_seconds: float = 10.0
    progress_interval_seconds: float = 1.0
    log_cap_bytes: int = 10 * 1024 * 1024
    output_tail_lines: int = 50
    diagnostic_tail_lines: int = 10
    default_concurrency: int = 50
    cancel_grace_seconds: float = 5.0
    handler_complete_grace_seconds: float = 5.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.home / "pop.db"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_root(self) -> Path:
        return self.home / "work"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("POP_HOME") or Path.home() / ".pop").expanduser()
        registry = os.environ.get("POP_REGISTRY")
        return cls(
            home=home,
            registry_path=Path(registry).expanduser() if registry else None,
            lease_seconds=_float_env("POP_LEASE_SECONDS", 30.0),
            lease_renew_seconds=_float_env("POP_LEASE_RENEW_SECONDS", 10.0),
            progress_interval_seconds=_float_env("POP_PROGRESS_INTERVAL", 1.0),
            log_cap_bytes=int(_float_env("POP_LOG_CAP_BYTES", 10 * 1024 * 1024)),
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
