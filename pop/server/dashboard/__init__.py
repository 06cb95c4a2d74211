"""The web dashboard of ``pop serve``: sign-in, agendas, one agenda, templates, queues and link
groups, as pages at ``/`` (the API stays under ``/pop/``).

Layer: server. Server-rendered HTML (Jinja2 templates shipped in ``templates/``) with the
project's own small scripts and style sheets in ``static/`` (no CDN: it works offline). Each
page module holds a module-level ``router``; :func:`page_modules` finds them and
:func:`pop.server.app.create_app` mounts their routes; what pages share is in
:mod:`pop.server.dashboard.pages`, sessions in :mod:`pop.server.dashboard.sessions`.
See docs/dashboard.md.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from fastapi import APIRouter


def page_modules() -> list[ModuleType]:
    """Every module of the dashboard with a module-level ``router``, by its ``ROUTER_ORDER``
    (default 50; lower first: a fixed path before a pattern that would match it), then name."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if isinstance(getattr(module, "router", None), APIRouter):
            found.append(module)
    return sorted(found, key=lambda module: (getattr(module, "ROUTER_ORDER", 50), module.__name__))
