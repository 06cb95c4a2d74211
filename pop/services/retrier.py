"""The retrier: reruns failed agendas whose failure is retryable, with continue semantics.

Layer: services. Called by ``pop retry`` (one pass, through :mod:`pop.api`) and by the executor
daemon on an interval. It reads the store only (the agenda attempt rows written by the executor),
never in-memory timers, so any process may run it and a restart loses nothing.

Rules (DESIGN §10, POP-REFERENCE §11.2): an agenda that is COMPLETE/failed, was not cancelled,
whose last agenda attempt ended ``failed``, ``timeout`` or ``lost`` (never ``cancelled`` or
``permanent``: a PermanentError, an invalid reference, a deadlock) is rerun while
``attemptsCompleted`` (null counting as 1) < min(20, ``maximumAttempts`` (null → 3)). The rerun
waits for a backoff of ``base x factor^(attemptsCompleted - 1)`` seconds (at most ``max``),
measured from ``completedTime``. Nothing is reset (continue semantics): succeeded ops keep their
output, the others get their earlier progress as ``LAST_PROGRESS``. The agenda is queued again
on its insight; a ``params.doNotRun`` agenda is reset but not queued.

Two retriers (two executor daemons) never rerun one failure twice: the rerun re-checks the
agenda inside the transaction that resets it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pop.config import Settings
from pop.engine.rerun import RerunPlan, apply_rerun
from pop.errors import PopError
from pop.models import MAXIMUM_ATTEMPTS_CAP, now_ms
from pop.models.agenda import DEFAULT_MAXIMUM_ATTEMPTS
from pop.store import Store
from pop.store.changes import AGENDA, Change

RETRYABLE_OUTCOMES = ("failed", "timeout", "lost")
RETRIER_ACTOR = "pop:retrier"  # who a retry's change record names
REQUEUED, RESET, WAITING, SKIPPED = "requeued", "reset", "waiting", "skipped"


@dataclass(frozen=True)
class RetryResult:
    """What one pass did with one failed agenda.

    ``action``: ``requeued`` (reset and queued), ``reset`` (``doNotRun``: reset, not queued),
    ``waiting`` (its backoff has not elapsed; ``retryTime`` says when) or ``skipped`` (it changed
    while the pass ran, or the rerun was refused; ``message`` says why).
    """

    agenda_id: str
    action: str
    attempts_completed: int
    maximum_attempts: int
    last_outcome: str
    retry_time: int
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "agendaId": self.agenda_id,
            "action": self.action,
            "attemptsCompleted": self.attempts_completed,
            "maximumAttempts": self.maximum_attempts,
            "lastOutcome": self.last_outcome,
            "retryTime": self.retry_time,
            "message": self.message,
        }


def retry_allowed(attempts_completed: int | None, maximum_attempts: int | None) -> bool:
    """POP's rule: ``attemptsCompleted`` (null → 1) < min(20, ``maximumAttempts`` (null → 3))."""
    attempts = 1 if attempts_completed is None else attempts_completed
    maximum = DEFAULT_MAXIMUM_ATTEMPTS if maximum_attempts is None else maximum_attempts
    return attempts < min(MAXIMUM_ATTEMPTS_CAP, maximum)


def retry_delay(settings: Settings, attempts_completed: int | None) -> float:
    """Seconds to wait after the failure: base x factor^(attemptsCompleted - 1), capped."""
    exponent = max(0, (attempts_completed or 1) - 1)
    delay = settings.retry_backoff_seconds * settings.retry_backoff_factor**exponent
    return max(0.0, min(settings.retry_backoff_max_seconds, delay))


def retry_once(store: Store, settings: Settings, *, now: int | None = None) -> list[RetryResult]:
    """One pass: rerun every retryable failed agenda whose backoff has elapsed at ``now``
    (epoch ms, default the current time); list those still waiting too."""
    now = now_ms() if now is None else now
    results: list[RetryResult] = []
    for candidate in store.progress.retry_candidates(**_QUERY):
        attempts = candidate["attemptsCompleted"]
        if not retry_allowed(attempts, candidate["maximumAttempts"]):
            continue
        due = (candidate["completedTime"] or 0) + int(retry_delay(settings, attempts) * 1000)
        if due > now:
            results.append(_result(candidate, WAITING, due))
            continue
        agenda_id = candidate["agendaId"]
        try:
            with store.transaction():
                again = store.progress.retry_candidates(**_QUERY, agenda_id=agenda_id)
                if again != [candidate]:
                    results.append(_result(candidate, SKIPPED, due, "it changed meanwhile"))
                    continue
                do_not_run = "doNotRun" in store.agendas.get(agenda_id).params
                apply_rerun(store, agenda_id, RerunPlan(reset=[], delete=[]))
                Change("retry", RETRIER_ACTOR).record(store.changes, AGENDA, agenda_id)
        except PopError as exc:
            results.append(_result(candidate, SKIPPED, due, exc.message))
            continue
        done = _result(candidate, RESET if do_not_run else REQUEUED, due)
        message = (
            f"attempt {done.attempts_completed + 1} of {done.maximum_attempts} "
            f"after {done.last_outcome}" + (" (doNotRun: not queued)" if do_not_run else "")
        )
        results.append(replace(done, message=message))
    return results


_QUERY: dict[str, Any] = {
    "cap": MAXIMUM_ATTEMPTS_CAP,
    "default_maximum": DEFAULT_MAXIMUM_ATTEMPTS,
    "outcomes": RETRYABLE_OUTCOMES,
}


def _result(candidate: dict[str, Any], action: str, due: int, message: str = "") -> RetryResult:
    return RetryResult(
        agenda_id=candidate["agendaId"],
        action=action,
        attempts_completed=candidate["attemptsCompleted"] or 0,
        maximum_attempts=min(
            MAXIMUM_ATTEMPTS_CAP, candidate["maximumAttempts"] or DEFAULT_MAXIMUM_ATTEMPTS
        ),
        last_outcome=candidate["lastOutcome"] or "",
        retry_time=due,
        message=message,
    )
