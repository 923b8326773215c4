"""Bringing the analyzers' scene index up to date with Stash, from a watermark.

Stash filters ``updated_at`` at coarse resolution and in its own time zone, so the query asks
for a generous margin before the watermark and the index then keeps only the scenes whose
``updated_at`` really differs: those, and the deleted ones, are what an incremental run examines.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from stash_sense.recommendations.base import RunControl
from stash_sense.stash import StashClient
from stash_sense.stash.library_client import AnalysisScene, analysis_scenes, scene_ids
from stash_sense.userdb import IndexedFile, IndexedScene, LibraryIndex

# Wider than any time-zone offset: Stash may read the filter's time in its local zone.
QUERY_MARGIN = timedelta(hours=26)


def parse_phash(value: str | None) -> int | None:
    """Stash's phash fingerprint: the 64-bit hash as 16 hex digits."""
    if not value:
        return None
    try:
        number = int(value, 16)
    except ValueError:
        return None
    return number if 0 <= number < 1 << 64 else None


def indexed_scene(scene: AnalysisScene) -> IndexedScene:
    return IndexedScene(
        scene_id=scene.id, updated_at=scene.updated_at, title=scene.title or None, date=scene.date or None,
        studio_id=scene.studio.id if scene.studio else None,
        performer_ids=tuple(sorted({p.id for p in scene.performers})),
        stash_ids=tuple(sorted({f"{s.endpoint}#{s.stash_id}" for s in scene.stash_ids})),
        files=tuple(
            IndexedFile(
                file_id=f.id, path=f.path, size=f.size, width=f.width, height=f.height, duration=f.duration,
                bit_rate=f.bit_rate, video_codec=f.video_codec, phash=parse_phash(f.fingerprint("phash")),
            )
            for f in scene.files
        ),
    )


class SceneSource(Protocol):
    def changed_scenes(self, updated_after: str | None) -> AsyncIterator[IndexedScene]: ...

    async def scene_ids(self) -> set[str]: ...


@dataclass
class SyncResult:
    changed: list[str]
    removed: list[str]
    total: int
    watermark: str | None
    present: set[str] | None  # every scene id Stash has now (None: not asked)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _query_time(watermark: str) -> str | None:
    instant = _instant(watermark)
    return None if instant is None else (instant - QUERY_MARGIN).strftime("%Y-%m-%d %H:%M")


def _later(a: str | None, b: str | None) -> str | None:
    ia, ib = _instant(a), _instant(b)
    if ia is None:
        return b
    if ib is None:
        return a
    return a if ia >= ib else b


async def sync_scenes(
    source: SceneSource | None, index: LibraryIndex, since: str | None, control: RunControl
) -> SyncResult:
    """Update ``index`` from ``source``; the changed scenes are those updated after ``since``
    (every scene when None). Each analyzer keeps its own watermark, so whichever analyzer
    refreshed the index first, the others still see the same changes. With no source the index
    is taken as it is (all scenes count as changed on a full pass, none on an incremental one)."""
    known = index.updated_at()
    if source is None:
        return SyncResult(
            changed=list(known) if since is None else [], removed=[], total=len(known), watermark=since, present=None
        )
    after = _query_time(since) if since else None
    since_instant = _instant(since)
    fetched: list[IndexedScene] = []
    changed: list[str] = []
    watermark = since
    async for scene in source.changed_scenes(after):
        control.check()
        fetched.append(scene)
        watermark = _later(watermark, scene.updated_at)
        instant = _instant(scene.updated_at)
        if since_instant is None or instant is None or instant > since_instant:
            changed.append(scene.scene_id)
        if len(fetched) % 1000 == 0:
            control.report(0.4 * min(1.0, len(fetched) / max(1, len(known) or len(fetched))), f"read {len(fetched)} scenes")
    if since is None:
        present = {s.scene_id for s in fetched}
    else:
        present = await source.scene_ids()
    removed = [sid for sid in known if sid not in present]
    changed_set = set(changed)
    index.upsert(s for s in fetched if s.scene_id in changed_set or known.get(s.scene_id) != s.updated_at)
    index.remove(removed)
    control.report(0.4, f"{len(changed)} scenes changed, {len(removed)} removed")
    return SyncResult(changed=changed, removed=removed, total=index.count(), watermark=watermark, present=present)


class StashSceneSource:
    """Scenes straight from Stash (LOW priority: analysis never delays interactive requests)."""

    def __init__(self, client: StashClient) -> None:
        self.client = client

    async def changed_scenes(self, updated_after: str | None) -> AsyncIterator[IndexedScene]:
        async for scene in analysis_scenes(self.client, updated_after=updated_after):
            yield indexed_scene(scene)

    async def scene_ids(self) -> set[str]:
        return await scene_ids(self.client)
