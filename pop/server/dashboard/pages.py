"""What every dashboard page shares: the session's caller, rendering a template, forms and
their CSRF check, the JSON answer of a page asked with ``Accept: application/json``, the 404
page.

Layer: server. A page module (``agendas``, ``agenda``, ``templates_pages``, ``queues``,
``links``, ``signin``) holds a module-level ``router``; :func:`pop.server.dashboard.page_modules`
finds them all. Pages are rendered from ``templates/`` with ``static`` (the URL of ``static/``),
``csrf`` (the session's CSRF token), ``signed_in`` and ``active`` (the nav entry) in context.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pop.errors import UnauthorizedError
from pop.server.auth import Caller, dashboard_session, session_caller
from pop.server.dashboard.sessions import CSRF_FIELD, SESSION_COOKIE, Session

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/dashboard/static"

NO_AUTH_TOKEN = "no-auth"  # the token id of the sessions of ``pop serve --no-auth``

templates = Jinja2Templates(directory=str(HERE / "templates"))


@dataclass(frozen=True)
class PostedForm:
    """A urlencoded form: every value of each field (``lists``: checkboxes of one name) and the
    first value of each (``fields``)."""

    lists: dict[str, list[str]]

    @property
    def fields(self) -> dict[str, str]:
        return {name: values[0] for name, values in self.lists.items()}


async def posted_form(request: Request) -> PostedForm:
    return PostedForm(parse_qs((await request.body()).decode("utf-8", "replace")))


async def checked_form(request: Request) -> PostedForm | Response:
    """The posted form once it carries the session's CSRF token; else the 403 answer."""
    form = await posted_form(request)
    refused = csrf_refused(dashboard_session(request), form.fields)
    return form if refused is None else refused


async def caller_or_none(request: Request) -> Caller | None:
    """The session's caller; None when the page must go to the sign-in page."""
    try:
        return await session_caller(request)
    except UnauthorizedError:
        return None


def wants_json(request: Request) -> bool:
    """The page was asked with ``Accept: application/json``: answer the API's JSON."""
    return "application/json" in request.headers.get("accept", "")


def to_signin() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def not_signed_in(request: Request) -> Response:
    """The answer to a page asked without a session: 401 JSON or the sign-in page."""
    if wants_json(request):
        raise UnauthorizedError("sign in first", hint="POST /signin with a token")
    return to_signin()


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` with the page's common context."""
    session = dashboard_session(request)
    context.setdefault("csrf", session.csrf if session else "")
    context.setdefault("signed_in", session is not None and bool(request.app.state.auth))
    context.setdefault("active", "")
    context["static"] = STATIC_PATH
    if session is None and not request.app.state.auth:
        # pop serve --no-auth: no sign-in, but forms still carry a CSRF token of a session
        session_id, session = request.app.state.sessions.start(NO_AUTH_TOKEN)
        context["csrf"] = session.csrf
        answer = templates.TemplateResponse(request, name, context, status_code=status)
        set_session_cookie(request, answer, session_id)
        return answer
    return templates.TemplateResponse(request, name, context, status_code=status)


def set_session_cookie(request: Request, answer: Response, session_id: str) -> None:
    """The session's cookie: HttpOnly, SameSite=Strict, Secure over https."""
    answer.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )


def not_found(request: Request, what: str) -> HTMLResponse:
    """The 404 page: ``what`` (e.g. ``agenda 1f2e...``) is not there or not the session's."""
    return render(request, "notfound.html", status=404, what=what)


def csrf_refused(session: Session | None, form: dict[str, str]) -> Response | None:
    """403 unless the form carries the session's CSRF token; None when it does."""
    if session is None or not session.csrf_ok(form.get(CSRF_FIELD)):
        return HTMLResponse("<!doctype html><title>403</title><p>Missing CSRF token.", 403)
    return None


def csrf_header_refused(request: Request) -> Response | None:
    """For ``fetch`` requests of the page's script: the token in ``X-CSRF-Token``."""
    session = dashboard_session(request)
    return csrf_refused(session, {CSRF_FIELD: request.headers.get("x-csrf-token", "")})


def iso(ms: float | None) -> str:
    """A store time (epoch ms) as ``2026-12-01 22:14:55Z``; empty for none."""
    if not ms:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def duration(seconds: float) -> str:
    """``4:05`` or ``1:02:03``: how long an agenda ran."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
