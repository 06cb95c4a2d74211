"""The outbox of one remote run: what a :class:`pop.api.remote_sink.RemoteSink` sends to a
``pop serve``, delivered in order by a thread of its own, riding out a server outage.

Layer: api. The engine's loop never waits on the network: each sink call puts its requests here
and returns. One thread per agenda sends them:

- transitions (``startAttempt``, ``recordLaunch``, ``appendLog`` at an op's end, ``endAttempt``,
  ``updateAgendaProgress`` reports, ``updateAgenda``) one at a time in the order they were put,
  each until the server took it: while it cannot be reached (or answers 5xx) the same request is
  sent again after 0.5 s, doubling to 10 s, so nothing is lost, reordered or sent twice (the
  routes take a resend of a request whose answer was lost as the same request);
- the latest report of each running op (``op_progress``), when no transition waits and at most
  once a :data:`REPORT_SECONDS`; a transition of an op drops that op's waiting report;
- the new lines of each running op's log (``appendLog``), with those reports, capped at
  ``POP_LOG_CAP_BYTES`` (the engine caps the local file too);
- a ``heartbeat`` when nothing else was answered for :data:`HEARTBEAT_SECONDS` (less when the
  executor renews more often, and at most a third of the lease the server last granted).

A 409 means the server took the agenda back (its lease was reclaimed): the outbox drops what it
holds, sends nothing more and says :attr:`Outbox.lost`; the run then stops. A request the server
refuses as malformed (4xx but 409) is dropped and noted in :attr:`Outbox.problems`.

Attempt ids: the sink answers its own ids at once; the server's id, from ``startAttempt``'s
answer, replaces them in the requests that follow.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pop.api.remote import RemoteClient
from pop.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    PopError,
    UnauthorizedError,
)
from pop.models import now_ms

HEARTBEAT_SECONDS = 5.0
REPORT_SECONDS = 1.0  # at most one op_progress report a second per agenda
FIRST_DELAY, LAST_DELAY = 0.5, 10.0  # the backoff while the server cannot be reached
CHUNK_BYTES = 256 * 1024  # the most one appendLog sends
_REFUSED = (InputError, NotFoundError, ForbiddenError, UnauthorizedError)


@dataclass
class Request:
    """One request: a service route and its body; ``attempt`` (a sink's attempt id) is turned
    into the server's ``attemptId`` when sent; ``final_log`` ships the rest of that attempt's
    log instead of a body of its own."""

    name: str
    body: dict[str, Any] = field(default_factory=dict)
    attempt: int | None = None
    starts: int | None = None  # the sink's id of the attempt startAttempt opens
    final_log: bool = False


@dataclass
class _Delivery:
    """The work of sending the queue's head."""

    outbox: Outbox
    request: Request

    def __call__(self) -> None:
        self.outbox._deliver(self.request)


@dataclass
class _Log:
    path: Path
    read: int = 0  # bytes of the local file sent
    offset: int = 0  # bytes the server's file has
    ended: bool = False


class Outbox:
    """Delivers one agenda's requests in order (see the module's docstring)."""

    def __init__(
        self,
        client: RemoteClient,
        owner: str,
        agenda_id: str,
        *,
        on_answer: Callable[[Mapping[str, Any]], None],
        log_cap_bytes: int,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.owner, self.agenda_id = client, owner, agenda_id
        self.on_answer = on_answer
        self.log_cap_bytes = log_cap_bytes
        self.heartbeat_seconds = self._most_heartbeat = min(heartbeat_seconds, HEARTBEAT_SECONDS)
        self.clock = clock
        self.lost = False
        self.problems: list[str] = []
        self.unreachable_since: float | None = None
        self._ready = threading.Condition()
        self._queue: deque[Request] = deque()
        self._pending: dict[str, dict[str, Any]] = {}  # op -> its latest unsent report
        self._pending_percent: float | None = None
        self._progress_id = ""
        self._ids: dict[int, int] = {}  # the sink's attempt id -> the server's
        self._logs: dict[int, _Log] = {}
        self._last_report = -REPORT_SECONDS
        self._last_answer = clock()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"pop-outbox-{agenda_id}")
        self._thread.daemon = True
        self._thread.start()

    # -- what the sink puts -----------------------------------------------------------------

    def put(self, request: Request, *, supersedes: str | None = None) -> None:
        """A transition, after every earlier one; ``supersedes``: the op whose waiting report
        it replaces."""
        with self._ready:
            if supersedes is not None:
                self._pending.pop(supersedes, None)
            if not self.lost:
                self._queue.append(request)
            self._ready.notify()

    def report(
        self, progress_id: str, operation: str, wire: dict[str, Any], percent: float
    ) -> None:
        """The latest report of a running op (kept until sent; a newer one replaces it)."""
        with self._ready:
            self._progress_id = progress_id
            self._pending[operation] = wire
            self._pending_percent = percent
            self._ready.notify()

    def follow_log(self, attempt: int, path: str) -> None:
        """Ship the op log at ``path`` of the sink's attempt ``attempt`` as it grows."""
        with self._ready:
            self._logs[attempt] = _Log(Path(path))

    def take_pending(self) -> tuple[list[dict[str, Any]], float | None]:
        """The waiting op reports (and agenda percent), taken out to go with a transition."""
        with self._ready:
            pending, percent = list(self._pending.values()), self._pending_percent
            self._pending.clear()
            self._pending_percent = None
            return pending, percent

    def close(self) -> None:
        """Nothing more will be put: the thread ends once everything was delivered."""
        with self._ready:
            self._closing = True
            self._ready.notify()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until everything put was delivered (or the agenda was lost); False on timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        delay = FIRST_DELAY
        while True:
            with self._ready:
                work = self._next_work()
                while work is None:
                    if self._closing and not self._queue:
                        return
                    self._ready.wait(self._idle_wait())
                    work = self._next_work()
            try:
                work()
            except ConflictError:
                with self._ready:
                    self.lost = True
                    self._queue.clear()
                    self._pending.clear()
                return
            except _REFUSED as exc:
                self.problems.append(exc.message)
                with self._ready:  # a request the server refuses is not sent again
                    if self._queue and getattr(work, "request", None) is self._queue[0]:
                        self._queue.popleft()
                    elif work == self._send_pending:
                        self._pending.clear()
                continue
            except PopError:
                if self.unreachable_since is None:
                    self.unreachable_since = self.clock()
                with self._ready:
                    self._ready.wait(delay)
                delay = min(delay * 2, LAST_DELAY)
                continue
            self.unreachable_since = None
            delay = FIRST_DELAY

    def _idle_wait(self) -> float:
        now = self.clock()
        waits = [self.heartbeat_seconds - (now - self._last_answer)]
        if self._pending:
            waits.append(REPORT_SECONDS - (now - self._last_report))
        return max(0.05, min(waits))

    def _next_work(self) -> Callable[[], None] | None:
        """What to send now (called holding the lock), or None to wait."""
        if self._queue:
            return _Delivery(self, self._queue[0])
        now = self.clock()
        if self._pending and now - self._last_report >= REPORT_SECONDS:
            return self._send_pending
        if self._closing:
            return None
        if now - self._last_answer >= self.heartbeat_seconds:
            return self._heartbeat
        return None

    def _deliver(self, request: Request) -> None:
        if request.final_log:
            assert request.attempt is not None
            self._ship_log(request.attempt, final=True)
        else:
            body = dict(request.body)
            if request.attempt is not None:
                body["attemptId"] = self._ids.get(request.attempt, 0)
            self._send(request.name, body, starts=request.starts)
        with self._ready:
            if self._queue and self._queue[0] is request:
                self._queue.popleft()

    def _send_pending(self) -> None:
        with self._ready:
            operations = list(self._pending.values())
            percent = self._pending_percent
        report: dict[str, Any] = {"id": self._progress_id, "operationProgress": operations}
        if percent is not None:
            report["percentComplete"] = percent
        self._send("updateAgendaProgress", {"agendaProgress": report})
        with self._ready:
            for operation in operations:  # keep any newer report put meanwhile
                name = str(operation.get("operation"))
                if self._pending.get(name) is operation:
                    del self._pending[name]
            if self._pending_percent == percent:
                self._pending_percent = None
        self._last_report = self.clock()
        for attempt in [key for key, log in self._logs.items() if not log.ended]:
            self._ship_log(attempt, final=False)

    def _heartbeat(self) -> None:
        self._send("heartbeat", {"agendaId": self.agenda_id})
        for attempt in [key for key, log in self._logs.items() if not log.ended]:
            self._ship_log(attempt, final=False)

    def _send(self, name: str, body: dict[str, Any], *, starts: int | None = None) -> None:
        answer = self.client.service(name, {**body, "executorId": self.owner})
        self._last_answer = self.clock()
        expires = answer.get("leaseExpiresTime")
        if isinstance(expires, int) and not isinstance(expires, bool):
            # renew three times a lease, however short the server grants it
            left = (expires - now_ms()) / 1000  # <= 0: the clocks disagree; keep the default
            if left > 0:
                self.heartbeat_seconds = max(0.2, min(self._most_heartbeat, left / 3))
        if starts is not None:
            attempt = answer.get("attempt")
            if isinstance(attempt, dict) and isinstance(attempt.get("id"), int):
                self._ids[starts] = attempt["id"]
        self.on_answer(answer)

    def _ship_log(self, attempt: int, *, final: bool) -> None:
        """Send what the attempt's log gained: whole lines only unless ``final``."""
        log = self._logs.get(attempt)
        server_id = self._ids.get(attempt)
        if log is None or server_id is None or log.ended:
            return
        while log.offset < self.log_cap_bytes:
            try:
                with open(log.path, "rb") as file:
                    file.seek(log.read)
                    data = file.read(CHUNK_BYTES)
            except OSError:
                break  # no log yet (the op wrote nothing)
            if not final:
                data = data[: data.rfind(b"\n") + 1]
            if not data:
                break
            text = data.decode("utf-8", errors="replace")
            answer = self.client.service(
                "appendLog",
                {
                    "attemptId": server_id,
                    "offset": log.offset,
                    "text": text,
                    "executorId": self.owner,
                },
            )
            self._last_answer = self.clock()
            size = answer.get("size")
            log.read += len(data)
            log.offset = size if isinstance(size, int) else log.offset + len(text.encode())
        if final:
            log.ended = True
