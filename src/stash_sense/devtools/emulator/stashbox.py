"""A stash-box (StashDB) emulator: the real stash-box v0.10 schema over a sample library or over
folders of labelled photos.

The parts live in modules of their own:

- ``stashbox_sources``: the catalogue from a sample library or ``<folder>/<Identity>/<images>``
  folders (deterministic ids, per ``id_namespace``);
- ``stashbox_catalog``: performers and images, and the edits (create, edit, delete, merge);
- ``stashbox_graphql``: ``findPerformer``, ``queryPerformers``, ``searchPerformer(s)``, ...;
- ``stashbox_images``: the public image host, ``/images/{id}?size=full|<width>``;
- ``stashbox_admin``: the test API under ``/_emulator/``;
- ``stashbox_ratelimit``: traffic counters and the optional 429 rate limit.

GraphQL and ``/_emulator/`` need the ``ApiKey`` header when a key is set (stash-box has no
query-parameter fallback); images are public, as on stash-box's image host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import Route

from stash_sense.devtools.emulator.auth import AccessLog, ApiKeyAuth
from stash_sense.devtools.emulator.gql import GraphQLEndpoint, attach_resolvers, load_schema
from stash_sense.devtools.emulator.library import read_library
from stash_sense.devtools.emulator.stashbox_admin import admin_routes
from stash_sense.devtools.emulator.stashbox_catalog import StashBoxCatalog
from stash_sense.devtools.emulator.stashbox_graphql import RESOLVERS, STASHBOX_VERSION, StashBoxContext
from stash_sense.devtools.emulator.stashbox_images import image_route
from stash_sense.devtools.emulator.stashbox_ratelimit import RequestStats, TokenBucket, TrafficMiddleware
from stash_sense.devtools.emulator.stashbox_sources import catalog_from_folders, catalog_from_library, performer_stash_id

__all__ = ["STASHBOX_VERSION", "StashBoxCatalog", "create_stashbox_app", "performer_stash_id"]


def create_stashbox_app(
    library_dir: Path | None = None,
    *,
    folders: Sequence[Path] = (),
    api_key: str | None,
    schema_dir: Path | None = None,
    external_url: str | None = None,
    max_requests_per_second: float | None = None,
    id_namespace: str = "",
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """An ASGI app emulating a stash-box endpoint.

    Its performers are either the sample library's at ``library_dir`` (those with a stash ID)
    or one per identity in ``folders`` (``<folder>/<Identity Name>/<images>``; the same name in
    several folders is one performer). ``id_namespace`` picks the set of ids (two namespaces
    serve the same people under different ids); ``max_requests_per_second`` turns on a 429 rate
    limit; ``clock`` (a UTC ``datetime`` source, default the wall clock) times the edits.

    ``app.state`` holds ``catalog`` (edit it in-process), ``stats`` and ``rate_limit``. Raises
    ``ValueError`` (``LibraryError`` for a library, ``FileNotFoundError`` for a missing folder
    or schema) when the source cannot be served.
    """
    from stash_sense.config import stashbox_schema_dir

    catalog = _catalog(library_dir, folders, id_namespace, clock)
    bucket = TokenBucket(max_requests_per_second) if max_requests_per_second is not None else None
    schema = load_schema(Path(schema_dir or stashbox_schema_dir()).resolve())
    attach_resolvers(schema, RESOLVERS, "stash-box")
    stats = RequestStats()
    base = external_url.rstrip("/") if external_url else None

    def base_url(request: Request) -> str:
        return base or str(request.base_url).rstrip("/")

    def context(request: Request) -> StashBoxContext:
        return StashBoxContext(catalog, base_url(request))

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(schema, context).handle, methods=["GET", "POST"]),
            image_route(catalog),
            *admin_routes(catalog, stats, base_url),
        ],
        middleware=[
            Middleware(TrafficMiddleware, stats=stats, bucket=bucket),
            Middleware(AccessLog, name="stashbox-emulator"),
            Middleware(ApiKeyAuth, api_key=api_key, allow_query_param=False, public_prefixes=("/images/",)),
        ],
    )
    app.state.catalog = catalog
    app.state.stats = stats
    app.state.rate_limit = bucket
    return app


def _catalog(
    library_dir: Path | None, folders: Sequence[Path], id_namespace: str, clock: Callable[[], datetime] | None
) -> StashBoxCatalog:
    if isinstance(folders, (str, Path)):
        raise ValueError("folders must be a list of folders")
    if (library_dir is None) == (not folders):
        raise ValueError("give either a sample library or photo folders (one of them, not both)")
    if library_dir is not None:
        return catalog_from_library(read_library(Path(library_dir)), id_namespace=id_namespace, clock=clock)
    return catalog_from_folders([Path(folder) for folder in folders], id_namespace=id_namespace, clock=clock)
