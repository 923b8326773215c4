"""Stash objects as the emulator serves them, and the per-request GraphQL context.

Objects are plain dicts keyed by schema field names; relations (a scene's performers, a
performer's scenes and counts) are resolved lazily so a query only pays for what it selects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.catalog import SceneFile, StashCatalog
from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.state import STASHDB_ENDPOINT, PerformerRecord, SceneRecord, StashIdRecord, TagRecord

# The schema files are Stash at commit cf3489efd, 19 commits after v0.30.1 (git describe form).
STASH_VERSION = {"version": "v0.30.1-19-gcf3489efd", "hash": "cf3489efd", "build_time": "2026-01-11 00:00:00"}
DEFAULT_STASH_BOXES: tuple[Mapping[str, Any], ...] = (
    {"endpoint": STASHDB_ENDPOINT, "api_key": "", "name": "StashDB", "max_requests_per_minute": 240},
)


@dataclass
class StashSettings:
    api_key: str | None = None
    external_url: str | None = None
    stash_boxes: Sequence[Mapping[str, Any]] = DEFAULT_STASH_BOXES


@dataclass
class StashContext:
    """Per-request GraphQL context."""

    catalog: StashCatalog
    settings: StashSettings
    base_url: str
    _cache: dict[str, Any] = field(default_factory=dict)
    plugins: Any = None  # the PluginHost when the emulator was given a plugins folder

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """Memoise per-request aggregates (scene counts) across the objects of one response."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def changed(self) -> None:
        """Forget memoised aggregates after a mutation (a document may hold several)."""
        self._cache.clear()


def context_of(info: GraphQLResolveInfo) -> StashContext:
    return info.context


def _unix(rfc3339: str) -> int:
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")


def parse_id(value: Any, noun: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise GraphQLError(f"{noun} id {value!r} is not an integer") from None
    return number


def _stash_ids(records: Iterable[StashIdRecord]) -> list[dict[str, str]]:
    return [{"endpoint": r.endpoint, "stash_id": r.stash_id, "updated_at": r.updated_at} for r in records]


def scene_object(record: SceneRecord, ctx: StashContext) -> dict[str, Any]:
    scene_file = ctx.catalog.files[record.id]
    base = f"{ctx.base_url}/scene/{record.id}"
    stream = f"{base}/stream"
    if ctx.settings.api_key:
        stream += f"?apikey={quote(ctx.settings.api_key, safe='')}"
    oshash = scene_file.info.oshash
    return {
        "id": str(record.id),
        "title": record.title,
        "code": record.code,
        "details": record.details,
        "director": record.director,
        "url": record.urls[0] if record.urls else None,
        "urls": list(record.urls),
        "date": record.date,
        "organized": record.organized,
        "o_counter": 0,
        "interactive": False,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "files": [file_object(f) for f in ctx.catalog.scene_files(record.id)],
        "paths": {
            "screenshot": f"{base}/screenshot?t={_unix(record.updated_at)}",
            "preview": f"{base}/preview",
            "stream": stream,
            "webp": f"{base}/webp",
            "vtt": f"{ctx.base_url}/scene/{oshash}_thumbs.vtt",
            "sprite": f"{ctx.base_url}/scene/{oshash}_sprite.jpg",
            "funscript": f"{base}/funscript",
            "interactive_heatmap": f"{base}/interactive_heatmap",
            "caption": f"{base}/caption",
        },
        "stash_ids": _stash_ids(record.stash_ids),
        "sceneStreams": [{"url": stream, "mime_type": "video/mp4", "label": "Direct stream"}],
        "_performer_ids": list(record.performer_ids),
        "_tag_ids": list(record.tag_ids),
    }


def file_object(scene_file: SceneFile) -> dict[str, Any]:
    info = scene_file.info
    mod_time = _rfc3339(info.mod_time)
    return {
        "id": str(scene_file.id),
        "path": str(info.path),
        "basename": info.path.name,
        "parent_folder_id": str(scene_file.folder_id),
        "parent_folder": {
            "id": str(scene_file.folder_id),
            "path": str(info.path.parent),
            "mod_time": mod_time,
            "created_at": mod_time,
            "updated_at": mod_time,
        },
        "zip_file": None,
        "zip_file_id": None,
        "mod_time": mod_time,
        "size": info.size,
        "fingerprints": [
            {"type": "oshash", "value": info.oshash},
            {"type": "md5", "value": info.md5},
            # Stash serves the phash as hex without leading zeros (strconv.FormatUint(h, 16)).
            *([{"type": "phash", "value": format(int(scene_file.phash, 16), "x")}] if scene_file.phash else []),
        ],
        "format": info.format,
        "width": info.width,
        "height": info.height,
        "duration": info.duration,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
        "frame_rate": info.frame_rate,
        "bit_rate": info.bit_rate,
        "created_at": mod_time,
        "updated_at": mod_time,
    }


def performer_object(record: PerformerRecord, ctx: StashContext) -> dict[str, Any]:
    image_path = f"{ctx.base_url}/performer/{record.id}/image?t={_unix(record.updated_at)}"
    if not record.has_image:
        image_path += "&default=true"
    return {
        **record.extra,
        "id": str(record.id),
        "name": record.name,
        "disambiguation": record.disambiguation,
        "gender": record.gender,
        "country": record.country,
        "details": record.details,
        "favorite": record.favorite,
        "url": record.urls[0] if record.urls else None,
        "urls": list(record.urls),
        "alias_list": list(record.alias_list),
        "image_path": image_path,
        "stash_ids": _stash_ids(record.stash_ids),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "_tag_ids": list(record.tag_ids),
    }


def tag_object(record: TagRecord, ctx: StashContext) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "name": record.name,
        "description": record.description,
        "aliases": list(record.aliases),
        "favorite": record.favorite,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "image_path": f"{ctx.base_url}/tag/{record.id}/image?t={_unix(record.updated_at)}&default=true",
    }


def ordered(records: Sequence[Any], ids: Sequence[int]) -> list[Any]:
    by_id = {r.id: r for r in records}
    return [by_id[i] for i in ids if i in by_id]


def _scene_performers(scene: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    ctx = context_of(info)
    ids = scene.get("_performer_ids", [])
    return [performer_object(p, ctx) for p in ordered(ctx.catalog.store.performers(ids), ids)]


def _tags_of(obj: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    ctx = context_of(info)
    ids = obj.get("_tag_ids", [])
    return [tag_object(t, ctx) for t in ordered(ctx.catalog.store.tags(ids), ids)]


def _performer_scene_count(performer: dict[str, Any], info: GraphQLResolveInfo) -> int:
    counts = context_of(info).cached("performer_scenes", lambda: context_of(info).catalog.store.scene_counts("performer_id"))
    return counts.get(int(performer["id"]), 0)


def _performer_scenes(performer: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    ctx = context_of(info)
    pid = int(performer["id"])
    return [scene_object(s, ctx) for s in ctx.catalog.store.scenes() if pid in s.performer_ids]


def _tag_scene_count(tag: dict[str, Any], info: GraphQLResolveInfo, depth: int | None = None) -> int:
    counts = context_of(info).cached("tag_scenes", lambda: context_of(info).catalog.store.scene_counts("tag_id"))
    return counts.get(int(tag["id"]), 0)


def _tag_performer_count(tag: dict[str, Any], info: GraphQLResolveInfo, depth: int | None = None) -> int:
    counts = context_of(info).cached("tag_performers", lambda: context_of(info).catalog.store.performer_count_by_tag())
    return counts.get(int(tag["id"]), 0)


def _file_fingerprint(file: dict[str, Any], info: GraphQLResolveInfo, type: str) -> str | None:
    return next((fp["value"] for fp in file["fingerprints"] if fp["type"] == type), None)


def _config_plugins(config: dict[str, Any], info: GraphQLResolveInfo, include: list[str] | None = None) -> Any:
    plugins = context_of(info).catalog.store.plugin_configs()
    return plugins if include is None else {k: v for k, v in plugins.items() if k in include}


OBJECT_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Scene", "performers"): _scene_performers,
    ("Scene", "tags"): _tags_of,
    ("Performer", "tags"): _tags_of,
    ("Performer", "scene_count"): _performer_scene_count,
    ("Performer", "scenes"): _performer_scenes,
    ("Tag", "scene_count"): _tag_scene_count,
    ("Tag", "performer_count"): _tag_performer_count,
    ("VideoFile", "fingerprint"): _file_fingerprint,
    ("ConfigResult", "plugins"): _config_plugins,
}
