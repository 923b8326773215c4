"""The sidecar HTTP API (FastAPI): ``create_app(settings)`` builds it, ``stash-sense serve`` runs it.

Layout: :mod:`.settings` (configuration), :mod:`.app` (factory and middleware order),
:mod:`.auth`, :mod:`.middleware` and :mod:`.errors` (safety), :mod:`.state` (face DB: lazy load,
hot swap), :mod:`.work` (bounded worker threads), :mod:`.jobs` (bulk fingerprints) and one
router per area in :mod:`.routes`. Model code lives elsewhere; this package only calls it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Settings", "create_app", "load_settings"]

if TYPE_CHECKING:
    from stash_sense.api.app import create_app
    from stash_sense.api.settings import Settings, load_settings


def __getattr__(name: str) -> Any:
    # Lazy: reading the settings must not import FastAPI and the recognition engine.
    if name == "create_app":
        from stash_sense.api.app import create_app

        return create_app
    if name in ("Settings", "load_settings"):
        from stash_sense.api import settings

        return getattr(settings, name)
    raise AttributeError(name)
