"""The ASGI application of ``pop serve``: routers, error handlers and the request middleware.

Layer: server (below cli, above api). :func:`create_app` assembles what
:mod:`pop.server.run` serves and tests may call in-process; every route reaches the store only
through one :class:`pop.api.Client` on its own thread (:mod:`pop.server.calls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import pkgutil
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

import pop
import pop.server
from pop.api import Client
from pop.config import Settings
from pop.server.calls import ClientThread
from pop.server.dashboard import page_modules
from pop.server.dashboard.pages import STATIC_DIR, STATIC_PATH
from pop.server.dashboard.sessions import Sessions
from pop.server.envelope import install_error_handlers
from pop.server.metrics import ServerMetrics
from pop.server.middleware import RequestContext
from pop.server.upkeep import keep_work_safe

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# CORS (``pop serve --cors-origin``): POP's allowed headers (POP-REFERENCE §2.2), and the
# event stream's Last-Event-ID; the correlation id is readable by the page.
CORS_HEADERS = (
    "X-pop-cid",
    "Origin",
    "Accept",
    "Content-Type",
    "Authorization",
    "Referer",
    "User-Agent",
    "Last-Event-ID",
)
CORS_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")


def create_app(
    *,
    settings: Settings,
    registry_path: Path | None = None,
    auth: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    upkeep: bool = False,
    reap_data_age: float | None = None,
    cors_origins: Sequence[str] = (),
) -> FastAPI:
    """The app serving the store of ``settings`` (agendas checked against ``registry_path``,
    else the usual registry). ``auth=False`` (``--no-auth``) makes every caller global.
    ``upkeep`` runs the reclaimer and the retrier on their intervals while the app serves, and
    the data reaper for agendas older than ``reap_data_age`` seconds when given
    (:mod:`pop.server.upkeep`); ``pop serve`` turns it on. ``cors_origins`` (``--cors-origin``)
    are the browser origins answered with CORS headers (none: no CORS headers at all)."""

    def make_client() -> Client:
        return Client(settings, registry_path=registry_path)

    client_thread = ClientThread(make_client, inline=True)  # the requests' (pop.server.calls)
    upkeep_thread = ClientThread(make_client)  # the upkeep's own, so it never holds one up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if upkeep:  # the reclaimer and retrier (and the data reaper) on their intervals
            task = asyncio.create_task(
                keep_work_safe(upkeep_thread, settings, reap_data_age=reap_data_age)
            )
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            upkeep_thread.close()
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
    for module in router_modules():
        # the routes themselves, not the router: FastAPI matches an included router as a unit
        # before its routes (about a tenth of a request's time with ~25 routers); each route
        # already carries its router's prefix, tags and dependencies
        app.router.routes.extend(module.router.routes)
        app.state.route_methods.extend(
            (route.path_regex, route.methods)
            for route in module.router.routes
            if isinstance(route, APIRoute)
        )
    # the dashboard (issue 14): its pages at /, its script and style sheet, its sessions
    app.state.sessions = Sessions()
    for page in page_modules():
        app.router.routes.extend(page.router.routes)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), "dashboard")
    app.add_middleware(DashboardGZip)
    app.state.metrics = ServerMetrics()
    app.add_middleware(RequestContext, max_body_bytes=max_body_bytes, metrics=app.state.metrics)
    if cors_origins:  # outermost: every answer, 413 and 500 too, carries the headers
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=["X-pop-cid"],
        )
    return app


class DashboardGZip:
    """Gzip for the dashboard (every path outside ``/pop/``: its pages, script and style sheets)
    when the browser accepts it; the API's answers and streams go as they were."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith("/pop/"):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def router_modules() -> list[ModuleType]:
    """Every module of ``pop.server`` with a module-level ``router`` (an APIRouter), ordered by
    its ``ROUTER_ORDER`` (default 50; lower first: a fixed path such as
    ``/pop/agenda/service/run`` before a pattern such as ``/pop/agenda/{id}``), then by name. A
    new group of routes is a new module; nothing else changes."""
    found = []
    for info in pkgutil.iter_modules(pop.server.__path__):
        module = importlib.import_module(f"pop.server.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            found.append(module)
    return sorted(found, key=lambda module: (getattr(module, "ROUTER_ORDER", 50), module.__name__))
