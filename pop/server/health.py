"""``GET /pop/version``, ``GET /healthz`` and ``GET /readyz``: what a client or a load balancer
asks before anything else; none needs a token.

Layer: server. ``/pop/version`` names pop's version and the wire contract (``api``) that
clients check before talking; ``/healthz`` says the process answers; ``/readyz`` says the store
opens and answers a read (503 in the envelope, with pop's message, when it does not).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

import pop
from pop.errors import PopError
from pop.server.auth import client_thread
from pop.server.envelope import cid_of, error_response

API_VERSION = 1  # the wire contract; a client refuses a server speaking another one

router = APIRouter(tags=["health"])


@router.get("/pop/version")
async def version() -> dict[str, object]:
    return {"version": pop.__version__, "api": API_VERSION}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    try:
        await client_thread(request).call(lambda client: client.list(limit=1))
    except PopError as exc:
        return error_response(type(exc).__name__, exc.message, 503, cid_of(request))
    return JSONResponse({"status": "ready"})
