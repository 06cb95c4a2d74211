"""Settings: where pop keeps its files and the durations it uses (see :mod:`pop.config`).

Layer: config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pop.config import STORE_FILE, WORK_DIR, _duration_env, _float_env, home_dir


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
    # Services: an agenda is reclaimed this long after its lease expired; a failed agenda is
    # retried after backoff x factor^(attemptsCompleted - 1) s, at most max; data is reaped
    # after this age.
    reclaim_grace_seconds: float = 60.0
    retry_backoff_seconds: float = 30.0
    retry_backoff_factor: float = 2.0
    retry_backoff_max_seconds: float = 600.0
    reap_data_age_seconds: float = 3 * 86400.0
    # The executor daemon runs the reclaimer and the retrier this often; priority ages one
    # level per this many seconds of waiting.
    reclaim_every_seconds: float = 30.0
    retry_every_seconds: float = 30.0
    priority_aging_seconds: float = 60.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.home / STORE_FILE

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_root(self) -> Path:
        return self.home / WORK_DIR

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(home_dir())
        registry = os.environ.get("POP_REGISTRY")
        return cls(
            home=home,
            registry_path=Path(registry).expanduser() if registry else None,
            lease_seconds=_float_env("POP_LEASE_SECONDS", 30.0),
            lease_renew_seconds=_float_env("POP_LEASE_RENEW_SECONDS", 10.0),
            progress_interval_seconds=_float_env("POP_PROGRESS_INTERVAL", 1.0),
            log_cap_bytes=int(_float_env("POP_LOG_CAP_BYTES", 10 * 1024 * 1024)),
            reclaim_grace_seconds=_duration_env("POP_RECLAIM_GRACE", 60.0),
            retry_backoff_seconds=_duration_env("POP_RETRY_BACKOFF", 30.0),
            retry_backoff_factor=_float_env("POP_RETRY_BACKOFF_FACTOR", 2.0),
            retry_backoff_max_seconds=_duration_env("POP_RETRY_BACKOFF_MAX", 600.0),
            reap_data_age_seconds=_duration_env("POP_REAP_DATA_AGE", 3 * 86400.0),
            reclaim_every_seconds=_duration_env("POP_RECLAIM_EVERY", 30.0),
            retry_every_seconds=_duration_env("POP_RETRY_EVERY", 30.0),
            priority_aging_seconds=_duration_env("POP_PRIORITY_AGING", 60.0),
        )

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
