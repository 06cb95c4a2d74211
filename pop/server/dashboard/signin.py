"""The dashboard's entry: ``/`` (to the agendas), ``/signin``, ``/signout``.

Layer: server. Signing in checks the token as the API does and starts a server-side session
(:mod:`pop.server.dashboard.sessions`) named by an HttpOnly, SameSite=Strict cookie. Under
``pop serve --no-auth`` there is no sign-in.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from pop.errors import UnauthorizedError
from pop.server.auth import client_thread
from pop.server.dashboard.pages import (
    caller_or_none,
    checked_form,
    posted_form,
    render,
    set_session_cookie,
    to_signin,
)
from pop.server.dashboard.sessions import SESSION_COOKIE

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    return RedirectResponse("/agendas" if await caller_or_none(request) else "/signin", 303)


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    if not request.app.state.auth:
        return RedirectResponse("/agendas", status_code=303)
    return render(request, "signin.html", error=None, signed_in=False)


@router.post("/signin")
async def signin(request: Request) -> Response:
    """Check the token as the API does; a new session in an HttpOnly, SameSite=Strict cookie."""
    if not request.app.state.auth:
        return RedirectResponse("/agendas", status_code=303)
    secret = (await posted_form(request)).fields.get("token")
    try:
        info = await client_thread(request).call(lambda client: client.token_verify(secret))
    except UnauthorizedError as error:
        # the form again with the reason (200: a refused sign-in is a page, not a failed load)
        return render(request, "signin.html", error=error.message, signed_in=False)
    session_id, _ = request.app.state.sessions.start(info.id)
    answer = RedirectResponse("/agendas", status_code=303)
    set_session_cookie(request, answer, session_id)
    return answer


@router.post("/signout")
async def signout(request: Request) -> Response:
    form = await checked_form(request)
    if isinstance(form, Response):
        return form
    request.app.state.sessions.end(request.cookies.get(SESSION_COOKIE))
    answer = to_signin()
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer
