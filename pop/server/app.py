"""The ASGI application of ``pop serve``: routers, error handlers and the request middleware.

Layer: server (below cli, above api). :func:`create_app` assembles what
:mod:`pop.server.run` serves and tests may call in-process; every route reaches the store only
through one :class:`pop.api.Client` on its own thread (:mod:`pop.server.calls`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute

import pop
from pop.api import Client
from pop.config import Settings
from pop.server import agendas, health, progress
from pop.server.calls import ClientThread
from pop.server.envelope import install_error_handlers
from pop.server.middleware import RequestContext

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def create_app(
    *,
    settings: Settings,
    registry_path: Path | None = None,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The app serving the store of ``settings`` (agendas checked against ``registry_path``,
    else the usual registry). ``auth=False`` (``--no-auth``) makes every caller global."""
    client_thread = ClientThread(lambda: Client(settings, registry_path=registry_path))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        client_thread.close()

    app = FastAPI(
        title="pop",
        version=pop.__version__,
        description="POP's Agenda and Progress services over HTTP (issue 13, first part).",
        lifespan=lifespan,
    )
    app.state.client_thread = client_thread
    app.state.auth = auth
    install_error_handlers(app)
    app.state.route_methods = []
    for module in (health, agendas, progress):
        app.include_router(module.router)
        app.state.route_methods.extend(
            (route.path_regex, route.methods)
            for route in module.router.routes
            if isinstance(route, APIRoute)
        )
    app.add_middleware(RequestContext, max_body_bytes=max_body_bytes)
    return app
