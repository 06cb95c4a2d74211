"""POP's response envelope (POP-REFERENCE §2.2) and the one place errors become responses.

Layer: server. Data responses are ``{"all": [...], "count": N, "cid": ...}``; errors are
``{"errorResponse": {"title", "description", "responseCode", "correlationId"}, "cid": ...}``
with the HTTP status equal to ``responseCode`` (unlike POP, which answers 200). ``title`` is the
name of pop's error class, which clients map back to that class (and so to its exit code);
``description`` is pop's own message with every problem it lists. No stack trace is ever
returned: an unexpected exception is logged here with its traceback and answered with
"internal error".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pop.errors import (
    ConflictError,
    ForbiddenError,
    InputError,
    MethodNotAllowedError,
    NotFoundError,
    PopError,
    RequestTooLargeError,
    RuntimeUnavailableError,
    UnauthorizedError,
)

logger = logging.getLogger("pop.server")

CID_HEADER = "X-pop-cid"

# the first class an error is an instance of gives its status (subclasses before their bases)
STATUS_BY_ERROR: tuple[tuple[type[PopError], int], ...] = (
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (MethodNotAllowedError, 405),
    (RequestTooLargeError, 413),
    (ConflictError, 409),
    (InputError, 422),
    (NotFoundError, 404),
    (RuntimeUnavailableError, 503),
    (PopError, 500),
)


def cid_of(request: Request) -> str:
    """The request's correlation id (set by :class:`pop.server.middleware.RequestContext`)."""
    return str(request.scope.get("state", {}).get("cid", ""))


def data_response(items: Sequence[dict[str, Any]], cid: str) -> JSONResponse:
    return JSONResponse({"all": list(items), "count": len(items), "cid": cid})


def count_response(count: int, cid: str) -> JSONResponse:
    """``bycount=true``: the number of matches and no objects (POP omits the empty ``all``)."""
    return JSONResponse({"count": count, "cid": cid})


def status_of(error: PopError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def error_response(
    title: str,
    description: str,
    status: int,
    cid: str,
    *,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    problem: dict[str, Any] = {
        "title": title,
        "description": description,
        "responseCode": status,
        "correlationId": cid,
    }
    if hint:
        problem["hint"] = hint  # pop's extension: what the CLI prints as `hint:`
    return JSONResponse({"errorResponse": problem, "cid": cid}, status_code=status, headers=headers)


def pop_error_response(error: PopError, cid: str) -> JSONResponse:
    return error_response(
        type(error).__name__, error.message, status_of(error), cid, hint=error.hint
    )


def internal_error_response(cid: str) -> JSONResponse:
    return error_response("PopError", "internal error", 500, cid)


async def _on_pop_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, PopError)
    status = status_of(error)
    if status >= 500:
        logger.error("cid=%s %s: %s", cid_of(request), type(error).__name__, error.message)
    return pop_error_response(error, cid_of(request))


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own answers (no such route, wrong method) in the envelope."""
    assert isinstance(error, HTTPException)
    cid = cid_of(request)
    where = f"{request.method} {request.url.path}"
    if error.status_code == 404:
        return error_response("NotFoundError", f"no route {where}", 404, cid)
    if error.status_code == 405:
        allowed = ", ".join(allowed_methods(request)) or (error.headers or {}).get("Allow", "")
        return error_response(
            MethodNotAllowedError.__name__,
            f"{request.method} is not allowed on {request.url.path}"
            + (f" (allowed: {allowed})" if allowed else ""),
            405,
            cid,
            headers={"Allow": allowed} if allowed else None,
        )
    title = InputError.__name__ if error.status_code < 500 else PopError.__name__
    return error_response(title, str(error.detail), error.status_code, cid)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (``app.state.route_methods``, which
    :func:`pop.server.app.create_app` fills: Starlette's ``Allow`` names one route's only)."""
    methods: set[str] = set()
    for pattern, answered in getattr(request.app.state, "route_methods", ()):
        if pattern.match(request.url.path):
            methods.update(answered)
    return sorted(methods)


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's parameter checks: every problem, ``where: what``, in one 422."""
    assert isinstance(error, RequestValidationError)
    problems = [
        ".".join(str(part) for part in problem.get("loc", ())) + ": " + str(problem.get("msg"))
        for problem in error.errors()
    ]
    return error_response(InputError.__name__, "; ".join(problems), 422, cid_of(request))


def install_error_handlers(app: FastAPI) -> None:
    """Every error a route or the framework raises answered in the envelope. Exceptions that
    are not pop's reach :class:`pop.server.middleware.RequestContext`, which logs them."""
    app.add_exception_handler(PopError, _on_pop_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
