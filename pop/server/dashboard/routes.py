"""The dashboard's pages: ``/`` (to the agendas), ``/signin``, ``/signout``, ``/agendas``.

Layer: server. Pages are HTML rendered from ``templates/``; ``/agendas`` asked with
``Accept: application/json`` answers the API's progress JSON (the envelope of
``GET /pop/progress/agenda``) for the same rows. The rows come from
:func:`pop.server.queries.progress_selection`, the very selection the API answers (one
visibility filter). Without a session (and unless ``pop serve --no-auth``) a page redirects to
the sign-in page. State-changing forms carry the session's CSRF token: a POST without it is
403.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pop.api import Client
from pop.errors import UnauthorizedError
from pop.models import ProcessingState
from pop.server.auth import Caller, client_thread, dashboard_session, session_caller
from pop.server.dashboard.sessions import CSRF_FIELD, SESSION_COOKIE, Session
from pop.server.envelope import cid_of, data_response
from pop.server.queries import ByQuery, progress_selection

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/dashboard/static"
PAGE_SIZE = 50
# the page's filters (query parameters) -> the API's ``by<field>`` conditions
FILTERS = {"state": "processingState", "customer": "customerId", "link": "linkId"}
ALL_ROWS = 10**9  # the selection's limit when the page slices the rows itself

templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first value of each)."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {name: values[0] for name, values in fields.items()}


async def _caller(request: Request) -> Caller | None:
    """The session's caller; None when the page must go to the sign-in page."""
    try:
        return await session_caller(request)
    except UnauthorizedError:
        return None


def _to_signin() -> RedirectResponse:
    return RedirectResponse("/signin", status_code=303)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    session = dashboard_session(request)
    context.setdefault("csrf", session.csrf if session else "")
    context.setdefault("signed_in", session is not None)
    context["static"] = STATIC_PATH
    return templates.TemplateResponse(request, name, context, status_code=status)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/agendas" if await _caller(request) else "/signin", status_code=303)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    if not request.app.state.auth:
        return RedirectResponse("/agendas", status_code=303)
    return _page(request, "signin.html", error=None, signed_in=False)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the token as the API does; a new session in an HttpOnly, SameSite=Strict cookie."""
    if not request.app.state.auth:
        return RedirectResponse("/agendas", status_code=303)
    secret = (await _form(request)).get("token")
    try:
        info = await client_thread(request).call(lambda client: client.token_verify(secret))
    except UnauthorizedError as error:
        # the form again with the reason (200: a refused sign-in is a page, not a failed load)
        return _page(request, "signin.html", error=error.message, signed_in=False)
    session_id, _ = request.app.state.sessions.start(info.id)
    answer = RedirectResponse("/agendas", status_code=303)
    answer.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return answer


def _require_csrf(session: Session | None, form: dict[str, str]) -> Response | None:
    if session is None or not session.csrf_ok(form.get(CSRF_FIELD)):
        return HTMLResponse("<!doctype html><title>403</title><p>Missing CSRF token.", 403)
    return None


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = dashboard_session(request)
    refused = _require_csrf(session, await _form(request))
    if refused is not None:
        return refused
    request.app.state.sessions.end(request.cookies.get(SESSION_COOKIE))
    answer = _to_signin()
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


def _rows(client: Client, caller: Caller, filters: dict[str, str]) -> list[dict[str, Any]]:
    """The rows of the API's progress selection for these filters, newest first."""
    conditions = {FILTERS[name]: value for name, value in filters.items() if value}
    query = ByQuery(conditions=conditions, limit=ALL_ROWS)
    return list(reversed(progress_selection(client, caller, query).items))  # newest first


@router.get("/agendas")
async def agendas(request: Request) -> Response:
    """The agendas the session may see, newest first, by state, customer and link, 50 a
    page."""
    caller = await _caller(request)
    wants_json = "application/json" in request.headers.get("accept", "")
    if caller is None:
        if wants_json:
            raise UnauthorizedError("sign in first", hint="POST /signin with a token")
        return _to_signin()
    filters = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    filters["state"] = filters["state"].upper()
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    found = await client_thread(request).call(lambda c: _rows(c, caller, filters))
    rows = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if wants_json:
        return data_response(rows, cid_of(request))

    def page_url(number: int) -> str:
        return "/agendas?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": number})

    pages = max(1, -(-len(found) // PAGE_SIZE))
    return _page(
        request,
        "agendas.html",
        rows=[_view(row) for row in rows],
        states=list(ProcessingState.__members__),
        filters=filters,
        page=page,
        pages=pages,
        total=len(found),
        previous_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
    )


def _view(row: dict[str, Any]) -> dict[str, Any]:
    """What a table row shows of an AgendaProgress (wire JSON)."""
    started = row.get("startedTime")
    ended = row.get("completedTime") or (time.time() * 1000 if started else None)
    elapsed = _duration((ended - started) / 1000) if started and ended else ""
    return {
        "id": row.get("agendaId") or row.get("id") or "",
        "title": row.get("title") or "",
        "state": row.get("processingState") or "",
        "percent": round(float(row.get("percentComplete") or 0)),
        "customer": row.get("customerId") or "",
        "link": row.get("linkId") or "",
        "started": _iso(started) if started else "",
        "elapsed": elapsed,
    }


def _iso(ms: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + "Z"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
