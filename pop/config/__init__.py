"""Settings: where pop keeps its files and the durations it uses.

``Settings`` (a dataclass, :mod:`pop.config.settings`) loads on first use; the functions here
need only ``os``, so the fast commands (:mod:`pop.cli.quick`) find the store without it.

Layer: just above ``pop.errors``. Every duration is a default that the environment (or a test)
overrides, so tests can run in seconds where production uses minutes.

Environment variables: ``POP_HOME`` (default ``~/.pop``), ``POP_REGISTRY``, ``POP_LEASE_SECONDS``,
``POP_LEASE_RENEW_SECONDS``, ``POP_LOG_CAP_BYTES``, ``POP_PROGRESS_INTERVAL``, and for the
services ``POP_RECLAIM_GRACE``, ``POP_RETRY_BACKOFF``, ``POP_RETRY_BACKOFF_FACTOR``,
``POP_RETRY_BACKOFF_MAX``, ``POP_REAP_DATA_AGE``, ``POP_RECLAIM_EVERY``, ``POP_RETRY_EVERY`` and
``POP_PRIORITY_AGING`` (durations: ``30s``, ``5m``, ``24h``, ``3d``
or plain seconds).
"""

from __future__ import annotations

import os

from pop.errors import InputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pop.config.settings import Settings

__all__ = ["SERVER_ENV", "Settings", "home_dir", "parse_duration", "uses_server"]

SERVER_ENV = "POP_SERVER"  # the `pop serve` a command talks to instead of the local store

_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str, *, what: str = "duration") -> float:
    """Seconds in ``text``: a number with an optional unit ``s``, ``m``, ``h`` or ``d``
    (``30s``, ``5m``, ``24h``, ``3d``, ``1.5h``, ``90``). InputError for anything else,
    including negative numbers."""
    raw = str(text).strip().lower()
    unit = _DURATION_UNITS.get(raw[-1:]) if raw else None
    number = raw[:-1].strip() if unit is not None else raw
    try:
        seconds = float(number) * (unit or 1.0)
    except ValueError:
        seconds = float("nan")
    if not seconds >= 0 or seconds == float("inf"):  # also rejects NaN
        raise InputError(
            f"invalid {what} {text!r}", hint="give a duration like 30s, 5m, 24h, 3d or seconds"
        )
    return seconds


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        return default


def _duration_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except InputError:
        return default


def home_dir() -> str:
    """``POP_HOME`` (``~`` expanded), else ``~/.pop``: where the store, logs and work live."""
    return os.path.expanduser(
        os.environ.get("POP_HOME") or os.path.join(os.path.expanduser("~"), ".pop")
    )


STORE_FILE = "pop.db"  # under POP_HOME: the store
WORK_DIR = "work"  # under POP_HOME: the agendas' default work directories
REGISTRY_FILE = "registry.yaml"  # looked for in the current directory, then in POP_HOME


def registry_places(cwd: str, home: str) -> tuple[str, str]:
    """Where a registry file is looked for when neither ``--registry`` nor ``POP_REGISTRY``
    names one, in order: the current directory, then POP_HOME."""
    return os.path.join(cwd, REGISTRY_FILE), os.path.join(home, REGISTRY_FILE)


def uses_server(server: str | None = None, token_file: object = None) -> bool:
    """A command with these options talks to a server (``--server``, else ``POP_SERVER``), or
    is refused for ``--token-file`` without one: either way not the local store."""
    return bool(server or os.environ.get(SERVER_ENV) or token_file is not None)


def __getattr__(name: str) -> object:
    if name == "Settings":
        from pop.config.settings import Settings

        return Settings
    raise AttributeError(f"module 'pop.config' has no attribute {name!r}")
