"""Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie names a session held
in the server's memory (so sessions end when the server restarts).

A session keeps the id of the token signed in with (never its secret) and a CSRF token that
every state-changing form carries. Each request checks the token again by its id
(:func:`pop.server.auth.session_caller`): once it is revoked or expired the session ends.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field

SESSION_COOKIE = "pop_session"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Session:
    """One signed-in browser: the token's id and the CSRF token of its forms."""

    token_id: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf)


class Sessions:
    """The sessions of one app (``app.state.sessions``), by their random id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, token_id: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        session = Session(token_id=token_id)
        with self._lock:
            self._by_id[session_id] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            return self._by_id.get(session_id)

    def end(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._by_id.pop(session_id, None)
