"""Stash's query root fields: version, status, configuration and the find* queries with
their filters, sorting and pagination."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator import criteria as c
from stash_sense.devtools.emulator.catalog import SceneFile
from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.stash_objects import (
    STASH_VERSION,
    StashContext,
    context_of,
    parse_id,
    performer_object,
    scene_object,
    tag_object,
)
from stash_sense.devtools.emulator.state import PerformerRecord, SceneRecord, TagRecord


def _version(_root: Any, _info: GraphQLResolveInfo) -> dict[str, str]:
    return dict(STASH_VERSION)


def _system_status(_root: Any, info: GraphQLResolveInfo) -> dict[str, Any]:
    catalog = context_of(info).catalog
    return {
        "databaseSchema": 75,
        "databasePath": str(catalog.store.path),
        "configPath": str(catalog.state_dir / "config.yml"),
        "appSchema": 75,
        "status": "OK",
        "os": "linux",
        "workingDir": str(catalog.library.root),
        "homeDir": str(catalog.state_dir),
    }


@dataclass
class _SceneRow:
    """A scene with everything its filters and sorts need."""

    record: SceneRecord
    file: SceneFile  # the primary file
    file_count: int = 1

    @property
    def id(self) -> int:
        return self.record.id


_SCENE_CRITERIA: dict[str, Callable[[_SceneRow, Any], bool]] = {
    "id": lambda r, v: c.number_matches(r.record.id, v, "id"),
    "title": lambda r, v: c.string_matches(r.record.title, v, "title"),
    "code": lambda r, v: c.string_matches(r.record.code, v, "code"),
    "details": lambda r, v: c.string_matches(r.record.details, v, "details"),
    "director": lambda r, v: c.string_matches(r.record.director, v, "director"),
    "oshash": lambda r, v: c.string_matches(r.file.info.oshash, v, "oshash"),
    "checksum": lambda r, v: c.string_matches(r.file.info.md5, v, "checksum"),
    "path": lambda r, v: c.string_matches(str(r.file.info.path), v, "path"),
    "file_count": lambda r, v: c.number_matches(r.file_count, v, "file_count"),
    "organized": lambda r, v: r.record.organized == v,
    "resolution": lambda r, v: c.resolution_matches(r.file.info.width, r.file.info.height, v),
    "framerate": lambda r, v: c.number_matches(int(r.file.info.frame_rate), v, "framerate"),
    "bitrate": lambda r, v: c.number_matches(r.file.info.bit_rate, v, "bitrate"),
    "video_codec": lambda r, v: c.string_matches(r.file.info.video_codec, v, "video_codec"),
    "audio_codec": lambda r, v: c.string_matches(r.file.info.audio_codec, v, "audio_codec"),
    "duration": lambda r, v: c.number_matches(int(r.file.info.duration), v, "duration"),
    "is_missing": lambda r, v: _scene_is_missing(r, v),
    "tags": lambda r, v: c.ids_match(r.record.tag_ids, v, "tags"),
    "tag_count": lambda r, v: c.number_matches(len(r.record.tag_ids), v, "tag_count"),
    "performers": lambda r, v: c.ids_match(r.record.performer_ids, v, "performers"),
    "performer_count": lambda r, v: c.number_matches(len(r.record.performer_ids), v, "performer_count"),
    "stash_id_endpoint": lambda r, v: c.stash_id_matches(
        [(s.endpoint, s.stash_id) for s in r.record.stash_ids], v, "stash_id_endpoint"
    ),
    "url": lambda r, v: c.any_string_matches(r.record.urls, v, "url"),
    "date": lambda r, v: c.time_matches(r.record.date, v, "date"),
    "created_at": lambda r, v: c.time_matches(r.record.created_at, v, "created_at"),
    "updated_at": lambda r, v: c.time_matches(r.record.updated_at, v, "updated_at"),
    "interactive": lambda r, v: v is False,
    "has_markers": lambda r, v: str(v).lower() == "false",
}

# Fields Stash treats as missing with no relation behind them in the emulator.
_ALWAYS_MISSING = {"galleries", "studio", "movie", "group", "phash"}
_COLUMN_MISSING = {"title", "code", "details", "director"}


def _scene_is_missing(row: _SceneRow, what: str) -> bool:
    record = row.record
    if what in _ALWAYS_MISSING:
        return True
    if what == "performers":
        return not record.performer_ids
    if what == "tags":
        return not record.tag_ids
    if what == "stash_id":
        return not record.stash_ids
    if what == "url":
        return not record.urls
    if what == "date":
        return not record.date
    if what == "cover":
        return False  # covers are generated screenshots, always available
    if what in _COLUMN_MISSING:
        value = getattr(record, what)
        return value is None or value.strip() == ""
    supported = sorted(_ALWAYS_MISSING | _COLUMN_MISSING | {"performers", "tags", "stash_id", "url", "date", "cover"})
    raise GraphQLError(f"scene_filter.is_missing: {what!r} is not supported (one of {', '.join(supported)})")


def _performer_criteria(counts: Mapping[int, int]) -> dict[str, Callable[[PerformerRecord, Any], bool]]:
    return {
        "name": lambda p, v: c.string_matches(p.name, v, "name"),
        "disambiguation": lambda p, v: c.string_matches(p.disambiguation, v, "disambiguation"),
        "details": lambda p, v: c.string_matches(p.details, v, "details"),
        "country": lambda p, v: c.string_matches(p.country, v, "country"),
        "aliases": lambda p, v: c.any_string_matches(p.alias_list, v, "aliases"),
        "url": lambda p, v: c.any_string_matches(p.urls, v, "url"),
        "gender": lambda p, v: c.gender_matches(p.gender, v),
        "filter_favorites": lambda p, v: p.favorite == v,
        "is_missing": lambda p, v: _performer_is_missing(p, v, counts),
        "tags": lambda p, v: c.ids_match(p.tag_ids, v, "tags"),
        "tag_count": lambda p, v: c.number_matches(len(p.tag_ids), v, "tag_count"),
        "scene_count": lambda p, v: c.number_matches(counts.get(p.id, 0), v, "scene_count"),
        "stash_id_endpoint": lambda p, v: c.stash_id_matches(
            [(s.endpoint, s.stash_id) for s in p.stash_ids], v, "stash_id_endpoint"
        ),
        "created_at": lambda p, v: c.time_matches(p.created_at, v, "created_at"),
        "updated_at": lambda p, v: c.time_matches(p.updated_at, v, "updated_at"),
    }


def _performer_is_missing(p: PerformerRecord, what: str, counts: Mapping[int, int]) -> bool:
    checks: dict[str, Callable[[], bool]] = {
        "scenes": lambda: counts.get(p.id, 0) == 0,
        "image": lambda: not p.has_image,
        "stash_id": lambda: not p.stash_ids,
        "aliases": lambda: not p.alias_list,
        "url": lambda: not p.urls,
        "tags": lambda: not p.tag_ids,
        "disambiguation": lambda: not (p.disambiguation or "").strip(),
        "gender": lambda: p.gender is None,
        "country": lambda: not (p.country or "").strip(),
        "details": lambda: not (p.details or "").strip(),
    }
    if what not in checks:
        raise GraphQLError(f"performer_filter.is_missing: {what!r} is not supported (one of {', '.join(sorted(checks))})")
    return checks[what]()


def _tag_criteria(counts: Mapping[int, int]) -> dict[str, Callable[[TagRecord, Any], bool]]:
    return {
        "name": lambda t, v: c.string_matches(t.name, v, "name"),
        "aliases": lambda t, v: c.any_string_matches(t.aliases, v, "aliases"),
        "description": lambda t, v: c.string_matches(t.description, v, "description"),
        "favorite": lambda t, v: t.favorite == v,
        "scene_count": lambda t, v: c.number_matches(counts.get(t.id, 0), v, "scene_count"),
    }


def _matches(item: Any, filter_: Mapping[str, Any], criteria: Mapping[str, Callable[[Any, Any], bool]], kind: str) -> bool:
    """Stash's filter tree: own criteria combined with at most one of AND / OR / NOT."""
    subs = [key for key in ("AND", "OR", "NOT") if filter_.get(key) is not None]
    if len(subs) > 1:
        raise GraphQLError(f"{kind}: AND, OR and NOT cannot be combined in one filter object")
    own_keys = [key for key, value in filter_.items() if key not in ("AND", "OR", "NOT") and value is not None]
    unknown = [key for key in own_keys if key not in criteria]
    if unknown:
        raise GraphQLError(
            f"{kind}: {', '.join(unknown)} not supported by the Stash emulator (supported: {', '.join(sorted(criteria))})"
        )
    own = all(criteria[key](item, filter_[key]) for key in own_keys)
    if not subs:
        return own
    sub = _matches(item, filter_[subs[0]], criteria, kind)
    if subs[0] == "AND":
        return own and sub
    if subs[0] == "OR":
        return (own and bool(own_keys)) or sub
    return own and not sub


def _natural_key(text: str | None) -> tuple[Any, ...]:
    """Stash sorts text with a case-insensitive natural collation ("scene 2" < "scene 10")."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", (text or "").casefold()))


def _random_rank(item_id: int, seed: int) -> int:
    # Stash's seeded random order: mod((id+seed)^2 * 52959209 + (id+seed) * 1047483763, 2^31-1).
    n = item_id + seed
    return (n * n * 52959209 + n * 1047483763) % 2147483647


def _sorted(items: list[Any], sort: str | None, direction: str | None, keys: Mapping[str, Callable[[Any], Any]], kind: str) -> list[Any]:
    descending = (direction or "ASC") == "DESC"
    ordered = sorted(items, key=lambda item: item.id)
    if not sort:
        return ordered
    if sort == "random" or sort.startswith("random_"):
        seed_text = sort.removeprefix("random").lstrip("_")
        if seed_text and not seed_text.isdigit():
            raise GraphQLError(f"{kind} sort {sort!r}: the random seed must be a number (random_<seed>)")
        seed = int(seed_text) if seed_text else random.randrange(10**8)
        return sorted(ordered, key=lambda item: _random_rank(item.id, seed), reverse=descending)
    if sort not in keys:
        raise GraphQLError(f"{kind} sort {sort!r} is not supported (one of {', '.join(sorted(keys))}, random, random_<seed>)")
    # Stable sorts: ties keep id order, like Stash's final ORDER BY on title/id.
    return sorted(ordered, key=lambda item: keys[sort](item), reverse=descending)


def _page(items: list[Any], find_filter: Mapping[str, Any]) -> list[Any]:
    per_page = find_filter.get("per_page")
    per_page = 25 if per_page is None else per_page
    if per_page < 0:
        return items
    page = max(1, find_filter.get("page") or 1)
    return items[(page - 1) * per_page : page * per_page]


_SCENE_SORTS: dict[str, Callable[[_SceneRow], Any]] = {
    "id": lambda r: r.record.id,
    "title": lambda r: _natural_key(r.record.title or r.file.info.path.name),
    "path": lambda r: _natural_key(str(r.file.info.path)),
    "date": lambda r: r.record.date or "",
    "created_at": lambda r: r.record.created_at,
    "updated_at": lambda r: r.record.updated_at,
    "duration": lambda r: r.file.info.duration,
    "filesize": lambda r: r.file.info.size,
    "bitrate": lambda r: r.file.info.bit_rate,
    "framerate": lambda r: r.file.info.frame_rate,
    "file_mod_time": lambda r: r.file.info.mod_time,
    "performer_count": lambda r: len(r.record.performer_ids),
    "tag_count": lambda r: len(r.record.tag_ids),
    "file_count": lambda r: 1,
    "organized": lambda r: r.record.organized,
}


def _restrict(items: list[Any], ids: Sequence[Any] | None, noun: str) -> list[Any]:
    if ids is None:
        return items
    wanted = {parse_id(i, noun) for i in ids}
    return [item for item in items if item.id in wanted]


def _find_scenes(
    _root: Any,
    info: GraphQLResolveInfo,
    scene_filter: Mapping[str, Any] | None = None,
    scene_ids: Sequence[int] | None = None,
    ids: Sequence[str] | None = None,
    filter: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    ctx = context_of(info)
    find_filter = filter or {}
    assigned = ctx.catalog.file_state.assignments()
    rows = [
        _SceneRow(record, ctx.catalog.files[record.id], len(assigned.get(record.id, ()))) for record in ctx.catalog.store.scenes()
    ]
    rows = _restrict(_restrict(rows, ids, "scene"), scene_ids, "scene")
    if scene_filter:
        rows = [row for row in rows if _matches(row, scene_filter, _SCENE_CRITERIA, "scene_filter")]
    if find_filter.get("q"):
        rows = [
            row for row in rows
            if c.search_matches(find_filter["q"], [
                row.record.title, row.record.details, str(row.file.info.path), row.file.info.oshash, row.file.info.md5,
            ])
        ]
    rows = _sorted(rows, find_filter.get("sort"), find_filter.get("direction"), _SCENE_SORTS, "scene")
    return {
        "count": len(rows),
        "duration": round(sum(row.file.info.duration for row in rows), 3),
        "filesize": float(sum(row.file.info.size for row in rows)),
        "scenes": [scene_object(row.record, ctx) for row in _page(rows, find_filter)],
    }


def _find_scene(_root: Any, info: GraphQLResolveInfo, id: str | None = None, checksum: str | None = None) -> Any:
    ctx = context_of(info)
    if id is not None:
        record = ctx.catalog.store.scene(parse_id(id, "scene"))
        return scene_object(record, ctx) if record else None
    if checksum is not None:
        return _scene_by(ctx, lambda f: f.info.md5 == checksum)
    raise GraphQLError("findScene needs id or checksum")


def _find_scene_by_hash(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    if input.get("oshash"):
        return _scene_by(ctx, lambda f: f.info.oshash == input["oshash"])
    if input.get("checksum"):
        return _scene_by(ctx, lambda f: f.info.md5 == input["checksum"])
    raise GraphQLError("findSceneByHash needs checksum or oshash")


def _scene_by(ctx: StashContext, test: Callable[[SceneFile], bool]) -> Any:
    scene_id = next((sid for sid, f in ctx.catalog.files.items() if test(f)), None)
    record = ctx.catalog.store.scene(scene_id) if scene_id is not None else None
    return scene_object(record, ctx) if record else None


def _find_performers(
    _root: Any,
    info: GraphQLResolveInfo,
    performer_filter: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | None = None,
    performer_ids: Sequence[int] | None = None,
    ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    ctx = context_of(info)
    find_filter = filter or {}
    counts = ctx.cached("performer_scenes", lambda: ctx.catalog.store.scene_counts("performer_id"))
    items = _restrict(_restrict(ctx.catalog.store.performers(), ids, "performer"), performer_ids, "performer")
    if performer_filter:
        criteria = _performer_criteria(counts)
        items = [p for p in items if _matches(p, performer_filter, criteria, "performer_filter")]
    if find_filter.get("q"):
        items = [p for p in items if c.search_matches(find_filter["q"], [p.name, p.disambiguation, *p.alias_list])]
    sorts: dict[str, Callable[[PerformerRecord], Any]] = {
        "id": lambda p: p.id,
        "name": lambda p: _natural_key(p.name),
        "created_at": lambda p: p.created_at,
        "updated_at": lambda p: p.updated_at,
        "scenes_count": lambda p: counts.get(p.id, 0),
        "tag_count": lambda p: len(p.tag_ids),
    }
    items = _sorted(items, find_filter.get("sort"), find_filter.get("direction"), sorts, "performer")
    return {"count": len(items), "performers": [performer_object(p, ctx) for p in _page(items, find_filter)]}


def _find_performer(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx = context_of(info)
    record = ctx.catalog.store.performer(parse_id(id, "performer"))
    return performer_object(record, ctx) if record else None


def _find_tags(
    _root: Any,
    info: GraphQLResolveInfo,
    tag_filter: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | None = None,
    ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    ctx = context_of(info)
    find_filter = filter or {}
    counts = ctx.cached("tag_scenes", lambda: ctx.catalog.store.scene_counts("tag_id"))
    items = _restrict(ctx.catalog.store.tags(), ids, "tag")
    if tag_filter:
        items = [t for t in items if _matches(t, tag_filter, _tag_criteria(counts), "tag_filter")]
    if find_filter.get("q"):
        items = [t for t in items if c.search_matches(find_filter["q"], [t.name, *t.aliases])]
    sorts: dict[str, Callable[[TagRecord], Any]] = {
        "id": lambda t: t.id,
        "name": lambda t: _natural_key(t.name),
        "created_at": lambda t: t.created_at,
        "updated_at": lambda t: t.updated_at,
        "scenes_count": lambda t: counts.get(t.id, 0),
    }
    items = _sorted(items, find_filter.get("sort"), find_filter.get("direction"), sorts, "tag")
    return {"count": len(items), "tags": [tag_object(t, ctx) for t in _page(items, find_filter)]}


def _find_tag(_root: Any, info: GraphQLResolveInfo, id: str) -> Any:
    ctx = context_of(info)
    record = ctx.catalog.store.tag(parse_id(id, "tag"))
    return tag_object(record, ctx) if record else None


def _scene_marker_tags(_root: Any, info: GraphQLResolveInfo, scene_id: str) -> list[dict[str, Any]]:
    # The emulator's scenes have no markers (Scene.scene_markers is empty too).
    parse_id(scene_id, "scene")
    return []


QUERY_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "version"): _version,
    ("Query", "systemStatus"): _system_status,
    ("Query", "findScenes"): _find_scenes,
    ("Query", "findScene"): _find_scene,
    ("Query", "findSceneByHash"): _find_scene_by_hash,
    ("Query", "findPerformers"): _find_performers,
    ("Query", "findPerformer"): _find_performer,
    ("Query", "findTags"): _find_tags,
    ("Query", "findTag"): _find_tag,
    ("Query", "sceneMarkerTags"): _scene_marker_tags,
}
