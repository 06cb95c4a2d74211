"""pop — Priority Operation Processing: store, schedule and run agendas (workflows of typed
operations) as local processes, Docker containers or Kubernetes pods.

The public library API lives here; the CLI (``pop``) is a thin layer over :mod:`pop.api`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
