"""Who is calling: a bearer token becomes a caller, once per request, and what a caller may see.

Layer: server. :func:`current_caller` is the dependency every ``/pop/`` route but
``/pop/version`` declares, so no route can forget it: it reads ``Authorization: Bearer <token>``
and asks :meth:`pop.api.Client.token_verify` for the token's rights (``UnauthorizedError``, 401,
for a missing, unknown, expired or revoked token). With ``pop serve --no-auth`` every request is
:data:`NO_AUTH_CALLER`, global. Visibility is POP's ``Customer`` filter (POP-REFERENCE §2.4):
reads silently leave out what the caller may not see; writes for another customer are refused
(``ForbiddenError``, 403, naming the customer). The secret is never logged or echoed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Request

from pop.api import Client
from pop.api.tokens import token_actor
from pop.engine.input_paths import PathPolicy
from pop.errors import ForbiddenError, InputError, NotFoundError, UnauthorizedError
from pop.models import DEFAULT_CUSTOMER_ID, TokenInfo
from pop.models.agenda import SUBMIT_DIR_PARAM
from pop.server.calls import ClientThread
from pop.server.dashboard.sessions import SESSION_COOKIE, Session


class Caller(Protocol):
    """What a route needs of a caller (``pop.models.TokenInfo`` is one)."""

    @property
    def is_global(self) -> bool: ...

    @property
    def customers(self) -> Sequence[str]: ...

    @property
    def single_customer(self) -> str | None:
        """The ``customerId`` given to what it submits without one; None: it must name one."""

    def can_see_customer(self, customer_id: str | None) -> bool: ...


@dataclass(frozen=True)
class NoAuthCaller:
    """Everyone, with ``pop serve --no-auth``: global rights; submissions without a
    ``customerId`` belong to ``default`` (as with the local CLI)."""

    is_global: bool = True
    customers: Sequence[str] = field(default_factory=tuple)
    single_customer: str | None = DEFAULT_CUSTOMER_ID

    def can_see_customer(self, customer_id: str | None) -> bool:
        return True


NO_AUTH_CALLER = NoAuthCaller()
NO_AUTH_ACTOR = "no-auth"


def actor_of(caller: Caller) -> str:
    """Who change records name for this caller: ``token:<name>/<id>``, or ``no-auth``."""
    if isinstance(caller, TokenInfo):
        return token_actor(caller)
    return NO_AUTH_ACTOR


def limit_inputs(app: FastAPI, roots: Sequence[Path]) -> None:
    """The directories (``pop serve --input-root``) the input paths of a customer token's
    agendas must be inside; none given: a customer token may name no local input path."""
    app.state.input_roots = tuple(str(root) for root in roots)


def path_policy(request: Request, caller: Caller) -> PathPolicy:
    """What the input paths of an agenda this caller sends may be: absolute always; for a
    caller that is not global also inside the input roots, with no ``params.workDir``."""
    if caller.is_global:
        return PathPolicy()
    return PathPolicy.limited(getattr(request.app.state, "input_roots", ()))


def drop_client_dir(caller: Caller, document: dict[str, Any]) -> None:
    """A caller that is not global cannot name a directory of the server: the
    ``params.submitDir`` it sends (a directory on its own machine) is dropped."""
    params = document.get("params")
    if not caller.is_global and isinstance(params, dict) and SUBMIT_DIR_PARAM in params:
        document["params"] = {
            key: value for key, value in params.items() if key != SUBMIT_DIR_PARAM
        }


def bearer_secret(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when there is none."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise UnauthorizedError("the Authorization header must read 'Bearer <token>'")
    return secret.strip() or None


def client_thread(request: Request) -> ClientThread:
    thread: ClientThread = request.app.state.client_thread
    return thread


async def current_caller(request: Request) -> Caller:
    """The caller of this request (the dependency of every authenticated route)."""
    if not request.app.state.auth:
        return NO_AUTH_CALLER
    secret = bearer_secret(request.headers.get("authorization"))
    caller: Caller = await client_thread(request).call(lambda client: client.token_verify(secret))
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def dashboard_session(request: Request) -> Session | None:
    """The dashboard session the request's cookie names (None: no cookie, or it ended)."""
    sessions = getattr(request.app.state, "sessions", None)
    return None if sessions is None else sessions.get(request.cookies.get(SESSION_COOKIE))


def active_token(client: Client, token_id: str) -> TokenInfo:
    """The token a dashboard session was signed in with, checked again by its id: an
    UnauthorizedError once it is revoked, expired or deleted."""
    try:
        info = client.token_get(token_id)
    except NotFoundError:
        raise UnauthorizedError(
            "the token of this session no longer exists", hint="sign in again"
        ) from None
    state = info.state()
    if state != "active":
        raise UnauthorizedError(f"the token {info.label} is {state}", hint="sign in again")
    return info


async def session_caller(request: Request) -> Caller:
    """The caller of a request that may come from the dashboard: a bearer token as for every
    route, else the token of the session its cookie names (checked again on each request;
    a revoked or expired token ends the session)."""
    if not request.app.state.auth:
        return NO_AUTH_CALLER
    if request.headers.get("authorization") is not None or SESSION_COOKIE not in request.cookies:
        return await current_caller(request)
    session = dashboard_session(request)
    if session is None:
        raise UnauthorizedError("this dashboard session has ended", hint="sign in again")
    try:
        caller: Caller = await client_thread(request).call(
            lambda client: active_token(client, session.token_id)
        )
    except UnauthorizedError:
        request.app.state.sessions.end(request.cookies.get(SESSION_COOKIE))
        raise
    return caller


SessionCallerDep = Annotated[Caller, Depends(session_caller)]


TOKEN_CHECK_SECONDS = 5.0


class TokenWatch:
    """A long answer's check of the token it was opened with (a bearer token, else the
    dashboard session's): :meth:`ended` is True once the token is revoked, expired or deleted
    (asked of the store at most every ``TOKEN_CHECK_SECONDS``), so event streams and followed
    logs end with their token. Under ``pop serve --no-auth`` nothing ends."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._secret = bearer_secret(request.headers.get("authorization"))
        self._session = dashboard_session(request) if self._secret is None else None
        self._checked = time.monotonic()

    async def ended(self) -> bool:
        if not self._request.app.state.auth:
            return False
        if time.monotonic() - self._checked < TOKEN_CHECK_SECONDS:
            return False
        self._checked = time.monotonic()
        session, secret = self._session, self._secret
        try:
            if session is not None:
                await client_thread(self._request).call(
                    lambda client: active_token(client, session.token_id)
                )
            else:
                await client_thread(self._request).call(lambda client: client.token_verify(secret))
        except UnauthorizedError:
            return True
        return False


def can_see(caller: Caller, customer_id: str | None) -> bool:
    """POP's ``Customer`` filter; an object without a customer belongs to ``default``."""
    return caller.can_see_customer(customer_id or DEFAULT_CUSTOMER_ID)


def require_customer(caller: Caller, customer_id: str) -> None:
    """ForbiddenError (403) naming the customer unless the caller may write its objects."""
    if not can_see(caller, customer_id):
        raise ForbiddenError(f"this token may not act for customerId {customer_id}")


def submission_customer(caller: Caller, given: object) -> str:
    """The ``customerId`` a submitted object gets: the one it names (which the caller must be
    allowed), else the caller's single customer (``default`` without auth), else InputError."""
    if isinstance(given, str) and given.strip():
        require_customer(caller, given)
        return given
    if given is not None and not isinstance(given, str):
        raise InputError("customerId must be a string")
    if caller.single_customer is not None:
        return caller.single_customer
    raise InputError(
        "the customerId field must be specified: this token is not limited to one customer"
    )


def can_read_shared(
    caller: Caller,
    customer_id: str | None,
    *,
    is_global: bool | None,
    allowed_customer_ids: Sequence[str] | None,
) -> bool:
    """POP's GET rule for templates and insights: the ``Customer`` filter, or the object is
    ``isGlobal``, or one of the caller's customers (lower-cased) is in ``allowedCustomerIds``."""
    if can_see(caller, customer_id) or is_global:
        return True
    allowed = {str(customer).lower() for customer in allowed_customer_ids or ()}
    return any(customer.lower() in allowed for customer in caller.customers)


def require_global(caller: Caller, what: str) -> None:
    """ForbiddenError (403) unless the caller is global: facility objects (pools, customers,
    insights) are the operator's to change."""
    if not caller.is_global:
        raise ForbiddenError(f"only a global token may change {what}")
