"""The aiaas HTTP service: tenants, datasets, training jobs, model versions and endpoints over FastAPI.

Start it with `aiaas serve` or build the ASGI app with `create_app(Settings(...))`.
"""

from __future__ import annotations

from .settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None):
    """Build the FastAPI application (imported lazily so `Settings` is cheap to import)."""
    from .app import create_app as _create_app

    return _create_app(settings)
