"""The web dashboard of ``pop serve`` (issue 14, first slice): sign-in and the agendas page.

Layer: server. Server-rendered HTML (Jinja2 templates shipped in ``templates/``) with the
project's own small script and style sheet in ``static/`` (no CDN: it works offline). Routes are
in :mod:`pop.server.dashboard.routes`, mounted by :func:`pop.server.app.create_app`; sessions in
:mod:`pop.server.dashboard.sessions`. See docs/dashboard.md.
"""
