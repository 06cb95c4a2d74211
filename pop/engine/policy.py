"""Per-op timeouts and retry policy: registry defaults, overridden by the op's ``params``.

Layer: engine. Called by the executor when it starts an attempt and when an attempt fails.

Op params (ours): ``timeoutSeconds`` (number), ``silenceTimeoutSeconds`` (number, or null to
turn the silence timeout off) and ``retries`` ``{limit, backoffSeconds, factor,
maxBackoffSeconds}`` (missing keys keep the registry's values).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pop.engine.state import NEVER_RETRIED
from pop.errors import InputError
from pop.models import DiagnosticEvent, Operation
from pop.registry import HandlerEntry, RetryPolicy

_RETRY_KEYS = {
    "limit": "limit",
    "backoffSeconds": "backoff_seconds",
    "factor": "factor",
    "maxBackoffSeconds": "max_backoff_seconds",
}


def _seconds(value: Any, name: str, operation: Operation) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"operation '{operation.name}': {name} {value!r} is not a number"
        ) from None
    if seconds <= 0:
        raise InputError(f"operation '{operation.name}': {name} must be positive")
    return seconds


def op_timeout(entry: HandlerEntry, operation: Operation) -> float | None:
    """The attempt's time limit: op ``params.timeoutSeconds``, else the registry's."""
    if "timeoutSeconds" in operation.params:
        return _seconds(operation.params["timeoutSeconds"], "timeoutSeconds", operation)
    return entry.timeout_seconds


def silence_timeout(entry: HandlerEntry, operation: Operation) -> float | None:
    """How long a protocol handler may print nothing before it is stopped (None = no limit)."""
    if "silenceTimeoutSeconds" in operation.params:
        value = operation.params["silenceTimeoutSeconds"]
        return _seconds(value, "silenceTimeoutSeconds", operation)
    return entry.silence_timeout_seconds if entry.protocol == "pop" else None


def agenda_timeout(params: Mapping[str, Any]) -> float | None:
    """The agenda's ``params.timeoutSeconds`` (None when absent); InputError when not a number."""
    raw = params.get("timeoutSeconds")
    if raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise InputError(f"agenda params.timeoutSeconds {raw!r} is not a number") from None


def retry_policy(entry: HandlerEntry, operation: Operation) -> RetryPolicy:
    """The registry's policy with the op's ``params.retries`` keys laid over it."""
    given = operation.params.get("retries")
    if given is None:
        return entry.retries
    if isinstance(given, int) and not isinstance(given, bool):
        given = {"limit": given}
    if not isinstance(given, dict):
        raise InputError(f"operation '{operation.name}': params.retries must be an object")
    changes: dict[str, Any] = {}
    for key, value in given.items():
        attribute = _RETRY_KEYS.get(key)
        if attribute is None:
            raise InputError(
                f"operation '{operation.name}': unknown retries key '{key}' "
                f"(known: {', '.join(_RETRY_KEYS)})"
            )
        try:
            changes[attribute] = int(value) if attribute == "limit" else float(value)
        except (TypeError, ValueError):
            raise InputError(
                f"operation '{operation.name}': retries.{key} {value!r} is not a number"
            ) from None
    return replace(entry.retries, **changes)


def backoff_seconds(policy: RetryPolicy, failed_attempts: int) -> float:
    """Wait before the next attempt after ``failed_attempts`` failures (1 → backoffSeconds)."""
    delay = policy.backoff_seconds * policy.factor ** max(0, failed_attempts - 1)
    return max(0.0, min(policy.max_backoff_seconds, delay))


def retry_delay(
    policy: RetryPolicy, failed_attempts: int, diagnostics: Sequence[DiagnosticEvent]
) -> float:
    """The wait before the next attempt: the backoff, or longer when the failed attempt asked
    for a longer wait (``TemporaryError(delay=N)``, e.g. an HTTP ``Retry-After``), that request
    capped at ``maxBackoffSeconds``."""
    delay = backoff_seconds(policy, failed_attempts)
    asked = max((d.retry_after for d in diagnostics if d.retry_after is not None), default=None)
    if asked is not None:
        delay = max(delay, min(policy.max_backoff_seconds, asked))
    return delay


def should_retry(policy: RetryPolicy, *, attempts: int, outcome: str) -> bool:
    """True when a failed attempt may run again: retries left and the failure not permanent."""
    return outcome not in NEVER_RETRIED and attempts <= policy.limit
