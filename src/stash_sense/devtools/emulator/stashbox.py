"""A small stash-box (StashDB) emulator over a sample library.

Serves the real stash-box schema with the performer queries the project uses. Performer ids
are the library performers' stash IDs, and ``images`` lists *all* of a performer's gallery
photos (stash-box keeps several per performer, unlike Stash), served at ``/images/{id}`` with
``?size=full|<width>``. GraphQL needs the ``ApiKey`` header (stash-box has no query-parameter
fallback); images are public, as on stash-box's image host.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from stash_sense.devtools.emulator.auth import AccessLog, ApiKeyAuth
from stash_sense.devtools.emulator.criteria import search_matches
from stash_sense.devtools.emulator.gql import GraphQLEndpoint, Resolver, attach_resolvers, load_schema
from stash_sense.devtools.emulator.library import EmulatorLibrary, LibraryPerformer, read_library
from stash_sense.devtools.emulator.media import image_mime, image_size

# stash-box v0.10.2, the version of the schema files.
STASHBOX_VERSION = {"version": "v0.10.2", "hash": "f843ddd", "build_time": "2026-07-02", "build_type": "OFFICIAL"}
_QUERY_INPUT_SUPPORTED = {"names", "name", "alias", "page", "per_page", "direction", "sort"}


@dataclass(frozen=True)
class BoxImage:
    id: str
    path: Path
    width: int
    height: int


@dataclass(frozen=True)
class BoxPerformer:
    performer: LibraryPerformer
    stash_id: str
    images: tuple[BoxImage, ...]
    scene_count: int
    created: str


class StashBoxCatalog:
    """The library's performers as stash-box sees them."""

    def __init__(self, library: EmulatorLibrary):
        created = datetime.fromtimestamp(int((library.root / "library.json").stat().st_mtime), UTC)
        stamp = created.isoformat().replace("+00:00", "Z")
        self.performers: dict[str, BoxPerformer] = {}
        self.images: dict[str, BoxImage] = {}
        for performer in library.performers:
            if not performer.stash_id:
                continue
            images = []
            for path in performer.images:
                image_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{performer.stash_id}/{path.name}"))
                width, height = image_size(path.read_bytes())
                images.append(BoxImage(image_id, path, width, height))
                self.images[image_id] = images[-1]
            scene_count = sum(performer.id in scene.performer_ids for scene in library.scenes)
            self.performers[performer.stash_id] = BoxPerformer(
                performer, performer.stash_id, tuple(images), scene_count, stamp
            )


@dataclass
class StashBoxContext:
    catalog: StashBoxCatalog
    base_url: str


def _performer_object(entry: BoxPerformer, ctx: StashBoxContext) -> dict[str, Any]:
    return {
        "id": entry.stash_id,
        "name": entry.performer.name,
        "disambiguation": None,
        "aliases": [],
        "urls": [],
        "images": [
            {"id": image.id, "url": f"{ctx.base_url}/images/{image.id}", "width": image.width, "height": image.height}
            for image in entry.images
        ],
        "deleted": False,
        "scene_count": entry.scene_count,
        "merged_ids": [],
        "merged_into_id": None,
        "is_favorite": False,
        "created": entry.created,
        "updated": entry.created,
    }


def _find_performer(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx: StashBoxContext = info.context
    entry = ctx.catalog.performers.get(id)
    return _performer_object(entry, ctx) if entry else None


def _like(query: str) -> Callable[[str | None], bool]:
    """stash-box's "like query unless quoted": substring match, or exact when quoted."""
    stripped = query.strip()
    if len(stripped) >= 2 and stripped.startswith('"') and stripped.endswith('"'):
        exact = stripped[1:-1].casefold()
        return lambda value: value is not None and value.casefold() == exact
    return lambda value: value is not None and stripped.casefold() in value.casefold()


_SORTS: dict[str, Callable[[BoxPerformer], Any]] = {
    "NAME": lambda e: e.performer.name.casefold(),
    "CREATED_AT": lambda e: e.created,
    "UPDATED_AT": lambda e: e.created,
    "SCENE_COUNT": lambda e: e.scene_count,
}


def _query_performers(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
    ctx: StashBoxContext = info.context
    unsupported = sorted(k for k, v in input.items() if v is not None and k not in _QUERY_INPUT_SUPPORTED)
    if unsupported:
        raise GraphQLError(f"queryPerformers: the stash-box emulator does not support {', '.join(unsupported)}")
    entries = list(ctx.catalog.performers.values())
    if input.get("names"):
        match = _like(input["names"])
        entries = [e for e in entries if match(e.performer.name)]
    if input.get("name"):
        match = _like(input["name"])
        entries = [e for e in entries if match(e.performer.name)]
    if input.get("alias"):
        entries = []  # library performers have no aliases
    sort = input.get("sort", "CREATED_AT")
    if sort not in _SORTS:
        raise GraphQLError(f"queryPerformers: sort {sort} is not supported (one of {', '.join(sorted(_SORTS))})")
    entries.sort(key=lambda e: e.performer.name.casefold())
    entries.sort(key=_SORTS[sort], reverse=input.get("direction", "DESC") == "DESC")
    return _page(entries, input.get("page", 1), input.get("per_page", 25), ctx)


def _page(entries: list[BoxPerformer], page: int, per_page: int, ctx: StashBoxContext) -> dict[str, Any]:
    if page < 1 or per_page < 1:
        raise GraphQLError("page and per_page must be at least 1")
    chosen = entries[(page - 1) * per_page : page * per_page]
    return {"count": len(entries), "performers": [_performer_object(e, ctx) for e in chosen]}


def _search(ctx: StashBoxContext, term: str) -> list[BoxPerformer]:
    """Every word of the term in the name; exact names first, then prefixes, then the rest."""
    if not term.strip():
        raise GraphQLError("search term must not be empty")
    folded = term.strip().casefold()
    found = [e for e in ctx.catalog.performers.values() if search_matches(term, [e.performer.name])]

    def rank(entry: BoxPerformer) -> tuple[int, str]:
        name = entry.performer.name.casefold()
        return (0 if name == folded else 1 if name.startswith(folded) else 2, name)

    return sorted(found, key=rank)


def _search_performers(
    _root: Any,
    info: GraphQLResolveInfo,
    term: str,
    limit: int | None = None,
    page: int | None = None,
    per_page: int | None = None,
    filter: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    ctx: StashBoxContext = info.context
    entries = _search(ctx, term)
    if filter and filter.get("gender"):
        entries = []  # library performers have no gender
    return _page(entries, page or 1, per_page or limit or 25, ctx)


def _search_performer(_root: Any, info: GraphQLResolveInfo, term: str, limit: int | None = None) -> list[dict[str, Any]]:
    ctx: StashBoxContext = info.context
    return [_performer_object(e, ctx) for e in _search(ctx, term)[: limit or 25]]


def _version(_root: Any, _info: GraphQLResolveInfo) -> dict[str, str]:
    return dict(STASHBOX_VERSION)


def _me(_root: Any, _info: GraphQLResolveInfo) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, "stash-sense-emulator-user")), "name": "stash-sense", "roles": ["READ"]}


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "findPerformer"): _find_performer,
    ("Query", "queryPerformers"): _query_performers,
    ("Query", "searchPerformers"): _search_performers,
    ("Query", "searchPerformer"): _search_performer,
    ("Query", "version"): _version,
    ("Query", "me"): _me,
}

_SIZE = re.compile(r"^(full|\d{1,5})$")


def create_stashbox_app(
    library_dir: Path,
    *,
    api_key: str | None,
    schema_dir: Path | None = None,
    external_url: str | None = None,
) -> Starlette:
    """An ASGI app emulating a stash-box endpoint whose performers are the library's."""
    from stash_sense.config import stashbox_schema_dir

    schema = load_schema(Path(schema_dir or stashbox_schema_dir()).resolve())
    attach_resolvers(schema, RESOLVERS, "stash-box")
    catalog = StashBoxCatalog(read_library(Path(library_dir)))
    base = external_url.rstrip("/") if external_url else None

    def context(request: Request) -> StashBoxContext:
        return StashBoxContext(catalog, base or str(request.base_url).rstrip("/"))

    async def image(request: Request) -> Response:
        entry = catalog.images.get(request.path_params["image_id"])
        if entry is None:
            return PlainTextResponse("image not found", status_code=404)
        size = request.query_params.get("size", "full")
        if not _SIZE.match(size):
            return PlainTextResponse("size must be 'full' or a width in pixels", status_code=400)
        data = await run_in_threadpool(_image_bytes, entry, None if size == "full" else int(size))
        return Response(data, media_type=image_mime(data))

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(schema, context).handle, methods=["GET", "POST"]),
            Route("/images/{image_id}", image, methods=["GET", "HEAD"]),
        ],
        middleware=[
            Middleware(AccessLog, name="stashbox-emulator"),
            Middleware(ApiKeyAuth, api_key=api_key, allow_query_param=False, public_prefixes=("/images/",)),
        ],
    )
    app.state.catalog = catalog
    return app


def _image_bytes(entry: BoxImage, width: int | None) -> bytes:
    data = entry.path.read_bytes()
    if width is None or width >= entry.width:
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as source:
        height = max(1, round(entry.height * width / entry.width))
        resized = source.convert("RGB").resize((max(1, width), height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    resized.save(out, format="JPEG", quality=90)
    return out.getvalue()
