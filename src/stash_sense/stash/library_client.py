"""Library listings for the analyzers and the merge / delete mutations, on a :class:`StashClient`.

Listings page by id (stable while the library changes). Mutations are sent with whatever
priority the caller gives: the review actions use ``Priority.CRITICAL``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from stash_sense.stash import library_documents as docs
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashNotFoundError, StashProtocolError
from stash_sense.stash.models import StashIDList, VideoFile, _Model, _none_to_empty_list
from stash_sense.stash.ratelimit import Priority

PAGE_SIZE = 1000


class IdRef(_Model):
    id: str


class AnalysisScene(_Model):
    id: str
    title: str | None = None
    date: str | None = None
    updated_at: str = ""
    studio: IdRef | None = None
    performers: Annotated[list[IdRef], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    stash_ids: StashIDList = Field(default_factory=list)
    files: Annotated[list[VideoFile], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)


class AnalysisPerformer(_Model):
    id: str
    name: str
    disambiguation: str | None = None
    alias_list: Annotated[list[str], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    updated_at: str = ""
    scene_count: int = 0
    image_count: int = 0
    gallery_count: int = 0
    image_path: str | None = None
    stash_ids: StashIDList = Field(default_factory=list)

    @property
    def has_image(self) -> bool:
        return bool(self.image_path) and "default=true" not in (self.image_path or "")


async def _pages(
    client: StashClient, document: Any, root: str, key: str, variables: Mapping[str, Any], priority: Priority | int | str
) -> AsyncIterator[dict[str, Any]]:
    page, seen = 1, set()
    while True:
        data = await client.execute(
            document, {**variables, "filter": {"page": page, "per_page": PAGE_SIZE, "sort": "id", "direction": "ASC"}},
            priority=priority,
        )
        try:
            count = int(data[root]["count"])
            items = data[root][key] or []
        except (KeyError, TypeError, ValueError):
            raise StashProtocolError(f"{document.name}: {root}.count/{key} missing in Stash's answer", url=client.url) from None
        for item in items:
            if isinstance(item, dict) and item.get("id") not in seen:
                seen.add(item.get("id"))
                yield item
        if len(items) < PAGE_SIZE or page * PAGE_SIZE >= count:
            return
        page += 1


async def analysis_scenes(
    client: StashClient, *, updated_after: str | None = None, priority: Priority | int | str = Priority.LOW
) -> AsyncIterator[AnalysisScene]:
    """Scenes with what the duplicate analyzers compare; only those updated after the given
    Stash timestamp (``YYYY-MM-DD HH:MM`` or RFC 3339) when it is set."""
    scene_filter = {"updated_at": {"value": updated_after, "modifier": "GREATER_THAN"}} if updated_after else None
    async for item in _pages(client, docs.ANALYSIS_SCENES, "findScenes", "scenes", {"scene_filter": scene_filter}, priority):
        yield AnalysisScene.model_validate(item)


async def scene_ids(client: StashClient, *, priority: Priority | int | str = Priority.LOW) -> set[str]:
    """The id of every scene in Stash (to notice deleted ones)."""
    return {str(item["id"]) async for item in _pages(client, docs.ANALYSIS_SCENE_IDS, "findScenes", "scenes", {}, priority)}


async def analysis_performers(client: StashClient, *, priority: Priority | int | str = Priority.LOW) -> list[AnalysisPerformer]:
    return [
        AnalysisPerformer.model_validate(item)
        async for item in _pages(client, docs.ANALYSIS_PERFORMERS, "findPerformers", "performers", {}, priority)
    ]


def _id_list(values: Iterable[str | int]) -> list[str]:
    out = [str(v).strip() for v in values]
    if not out or any(not v for v in out):
        raise ValueError("ids must be non-empty")
    return out


async def merge_performers(
    client: StashClient, sources: Iterable[str | int], destination: str | int, *, priority: Priority | int | str = Priority.CRITICAL
) -> dict[str, Any]:
    data = await client.execute(
        docs.PERFORMER_MERGE, {"source": _id_list(sources), "destination": str(destination)}, priority=priority
    )
    return dict(data.get("performerMerge") or {})


async def merge_scenes(
    client: StashClient, sources: Iterable[str | int], destination: str | int, *, priority: Priority | int | str = Priority.CRITICAL
) -> dict[str, Any]:
    data = await client.execute(docs.SCENE_MERGE, {"source": _id_list(sources), "destination": str(destination)}, priority=priority)
    if data.get("sceneMerge") is None:
        raise StashNotFoundError(f"scene {destination} not found in Stash at {client.url}", url=client.url, kind="scene", id=str(destination))
    return dict(data["sceneMerge"])


async def delete_files(client: StashClient, file_ids: Iterable[str | int], *, priority: Priority | int | str = Priority.CRITICAL) -> bool:
    data = await client.execute(docs.DELETE_FILES, {"ids": _id_list(file_ids)}, priority=priority)
    return bool(data.get("deleteFiles"))


async def scene_files(client: StashClient, scene_id: str | int, *, priority: Priority | int | str = Priority.CRITICAL) -> list[VideoFile]:
    """A scene's files as Stash has them now (read again right before a destructive action)."""
    data = await client.execute(docs.SCENE_FILES, {"id": str(scene_id)}, priority=priority)
    scene = data.get("findScene")
    if scene is None:
        raise StashNotFoundError(f"scene {scene_id} not found in Stash at {client.url}", url=client.url, kind="scene", id=str(scene_id))
    return [VideoFile.model_validate(f) for f in scene.get("files") or []]


async def scene_sprite_paths(
    client: StashClient, scene_id: str | int, *, priority: Priority | int | str = Priority.LOW
) -> tuple[str | None, str | None]:
    """The URLs of a scene's sprite sheet and VTT index (None when Stash has not generated them)."""
    data = await client.execute(docs.SCENE_SPRITE_PATHS, {"id": str(scene_id)}, priority=priority)
    scene = data.get("findScene")
    if scene is None:
        raise StashNotFoundError(f"scene {scene_id} not found in Stash at {client.url}", url=client.url, kind="scene", id=str(scene_id))
    paths = scene.get("paths") or {}
    return paths.get("sprite") or None, paths.get("vtt") or None
