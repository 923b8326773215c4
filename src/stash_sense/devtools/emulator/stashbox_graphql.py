"""The stash-box GraphQL root fields the emulator answers, over a :class:`StashBoxCatalog`.

Results follow stash-box v0.10: ``queryPerformers`` and the searches leave deleted (and
merged-away) performers out, ``findPerformer`` finds them with ``deleted: true``. Sorts end with
the performer id, so every order is total and paging never skips or repeats a performer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.criteria import search_matches
from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.stashbox_catalog import EPOCH, BoxImage, BoxPerformer, StashBoxCatalog, format_time

# stash-box v0.10.2, the version of the schema files.
STASHBOX_VERSION = {"version": "v0.10.2", "hash": "f843ddd", "build_time": "2026-07-02", "build_type": "OFFICIAL"}
_QUERY_INPUT_SUPPORTED = {"names", "name", "alias", "gender", "page", "per_page", "direction", "sort"}

# PerformerSortEnum -> key. BIRTHDATE, DEATHDATE, CAREER_START_YEAR, DEBUT, LAST_SCENE and
# POPULARITY sort by data the emulator has for nobody: every performer ties, and the id decides.
_SORT_KEYS: dict[str, Callable[[BoxPerformer], Any]] = {
    "NAME": lambda p: (p.name.casefold(), p.name),
    "CREATED_AT": lambda p: p.created,
    "UPDATED_AT": lambda p: p.updated,
    "SCENE_COUNT": lambda p: p.scene_count,
}
_NO_DATA_SORTS = frozenset({"BIRTHDATE", "DEATHDATE", "CAREER_START_YEAR", "DEBUT", "LAST_SCENE", "POPULARITY"})


@dataclass
class StashBoxContext:
    catalog: StashBoxCatalog
    base_url: str


@dataclass(frozen=True)
class ImageView:
    """An ``Image`` whose size is read (from the file header) only if the query selects it."""

    image: BoxImage
    base_url: str

    @property
    def id(self) -> str:
        return self.image.id

    @property
    def url(self) -> str:
        return f"{self.base_url}/images/{self.image.id}"

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


def performer_object(performer: BoxPerformer, catalog: StashBoxCatalog, base_url: str) -> dict[str, Any]:
    """A ``Performer`` as the schema types it; fields left out resolve to Go's zero values."""
    return {
        "id": performer.id,
        "name": performer.name,
        "disambiguation": performer.disambiguation,
        "aliases": list(performer.aliases),
        "gender": performer.gender,
        "country": performer.country,
        "urls": [url_object(url) for url in performer.urls],
        "images": [ImageView(image, base_url) for image in catalog.images_of(performer)],
        "deleted": performer.deleted,
        "scene_count": performer.scene_count,
        "merged_ids": list(performer.merged_ids),
        "merged_into_id": performer.merged_into_id,
        "is_favorite": False,
        "created": format_time(performer.created),
        "updated": format_time(performer.updated),
    }


def performer_json(performer: BoxPerformer, catalog: StashBoxCatalog, base_url: str) -> dict[str, Any]:
    """The same performer as plain JSON (the admin API's answers)."""
    data = performer_object(performer, catalog, base_url)
    data["images"] = [{"id": v.id, "url": v.url, "width": v.width, "height": v.height} for v in data["images"]]
    data["urls"] = [url["url"] for url in data["urls"]]
    return data


def url_object(url: str) -> dict[str, Any]:
    """A ``URL`` with the ``Site`` its host stands for (stash-box links every URL to a site)."""
    host = urlsplit(url).hostname or ""
    stamp = format_time(EPOCH)
    site = {
        "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, host)),
        "name": host,
        "description": None,
        "url": f"https://{host}/",
        "regex": None,
        "valid_types": ["PERFORMER"],
        "icon": "",
        "category": None,
        "highlighted": False,
        "created": stamp,
        "updated": stamp,
    }
    return {"url": url, "type": host, "site": site}


def _find_performer(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx: StashBoxContext = info.context
    performer = ctx.catalog.get(id)
    return performer_object(performer, ctx.catalog, ctx.base_url) if performer else None


def _like(query: str) -> Callable[[str | None], bool]:
    """stash-box's "like query unless quoted": substring match, or exact when quoted."""
    stripped = query.strip()
    if len(stripped) >= 2 and stripped.startswith('"') and stripped.endswith('"'):
        exact = stripped[1:-1].casefold()
        return lambda value: value is not None and value.casefold() == exact
    return lambda value: value is not None and stripped.casefold() in value.casefold()


def _filter(performers: list[BoxPerformer], input: Mapping[str, Any]) -> list[BoxPerformer]:
    if input.get("names"):
        match = _like(input["names"])  # name and disambiguation
        performers = [p for p in performers if match(p.name) or match(p.disambiguation)]
    if input.get("name"):
        match = _like(input["name"])
        performers = [p for p in performers if match(p.name)]
    if input.get("alias"):
        match = _like(input["alias"])
        performers = [p for p in performers if any(match(alias) for alias in p.aliases)]
    if input.get("gender"):
        wanted = None if input["gender"] == "UNKNOWN" else input["gender"]
        performers = [p for p in performers if p.gender == wanted]
    return performers


def sort_performers(performers: list[BoxPerformer], sort: str, direction: str) -> list[BoxPerformer]:
    """``performers`` in ``sort`` order, the id breaking ties (a total order, so pages never
    overlap); ``DESC`` reverses the whole order."""
    return sorted(performers, key=_sort_key(sort), reverse=direction == "DESC")


def _sort_key(sort: str) -> Callable[[BoxPerformer], Any]:
    if sort in _NO_DATA_SORTS:
        return _by_id  # every value is null: all tie
    value = _SORT_KEYS.get(sort)
    if value is None:
        raise GraphQLError(f"queryPerformers: sort {sort} is not supported")
    return lambda performer: (value(performer), performer.id)


def _by_id(performer: BoxPerformer) -> str:
    return performer.id


def _query_performers(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> dict[str, Any]:
    ctx: StashBoxContext = info.context
    unsupported = sorted(k for k, v in input.items() if v is not None and k not in _QUERY_INPUT_SUPPORTED)
    if unsupported:
        raise GraphQLError(f"queryPerformers: the stash-box emulator does not support {', '.join(unsupported)}")
    performers = _filter(ctx.catalog.active(), input)
    ordered = sort_performers(performers, input.get("sort", "CREATED_AT"), input.get("direction", "DESC"))
    return _page(ordered, input.get("page", 1), input.get("per_page", 25), ctx)


def _page(performers: list[BoxPerformer], page: int, per_page: int, ctx: StashBoxContext) -> dict[str, Any]:
    if page < 1 or per_page < 1:
        raise GraphQLError("page and per_page must be at least 1")
    chosen = performers[(page - 1) * per_page : page * per_page]
    return {"count": len(performers), "performers": [performer_object(p, ctx.catalog, ctx.base_url) for p in chosen]}


def _search(ctx: StashBoxContext, term: str) -> list[BoxPerformer]:
    """Every word of the term in the name, disambiguation or an alias; exact names first, then
    prefixes, then the rest (by name, then id)."""
    if not term.strip():
        raise GraphQLError("search term must not be empty")
    folded = term.strip().casefold()
    found = [p for p in ctx.catalog.active() if search_matches(term, [p.name, p.disambiguation, *p.aliases])]

    def rank(performer: BoxPerformer) -> tuple[int, str, str]:
        name = performer.name.casefold()
        return (0 if name == folded else 1 if name.startswith(folded) else 2, name, performer.id)

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
    performers = _search(ctx, term)
    if filter and filter.get("gender"):
        performers = [p for p in performers if p.gender == filter["gender"]]
    return _page(performers, page or 1, per_page or limit or 25, ctx)


def _search_performer(_root: Any, info: GraphQLResolveInfo, term: str, limit: int | None = None) -> list[dict[str, Any]]:
    ctx: StashBoxContext = info.context
    return [performer_object(p, ctx.catalog, ctx.base_url) for p in _search(ctx, term)[: limit or 25]]


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
