"""The fixes that change Stash: merge performers, delete a scene's extra files, merge scenes.

Each one re-reads what it is about to change from Stash (at CRITICAL priority, like the
mutation itself), refuses when Stash no longer matches the recommendation, and returns what
was there before and after, for the action record. A scene never loses its last file: the
keeper must still be one of its files and is never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stash_sense.stash import Priority, StashClient, StashNotFoundError
from stash_sense.stash.library_client import delete_files, merge_performers, merge_scenes, scene_files
from stash_sense.userdb import Recommendation

ACTIONS_BY_TYPE = {
    "duplicate_performers": "merge_performers",
    "duplicate_files": "delete_files",
    "duplicate_scenes": "merge_scenes",
}


class ActionRefused(Exception):
    """The action cannot be done as asked; ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


@dataclass
class ActionOutcome:
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, **self.detail}


def _members(rec: Recommendation) -> list[str]:
    return rec.target.split(":", 1)[1].split(",")


def _keeper(rec: Recommendation, keeper: str | None, members: Sequence[str], noun: str) -> str:
    chosen = str(keeper) if keeper is not None else str(rec.evidence.get("keeper", ""))
    if chosen not in members:
        raise ActionRefused(422, "invalid_keeper", f"keeper {chosen!r} is not one of this recommendation's {noun}: {', '.join(members)}")
    return chosen


async def apply_fix(client: StashClient, rec: Recommendation, *, keeper: str | None = None,
                    file_ids: Sequence[str] | None = None) -> ActionOutcome:
    if rec.type == "duplicate_performers":
        return await _merge_performers(client, rec, keeper)
    if rec.type == "duplicate_files":
        return await _delete_files(client, rec, keeper, file_ids)
    if rec.type == "duplicate_scenes":
        return await _merge_scenes(client, rec, keeper)
    raise ActionRefused(422, "unsupported", f"recommendations of type {rec.type} have no fix")


async def _merge_performers(client: StashClient, rec: Recommendation, keeper: str | None) -> ActionOutcome:
    members = _members(rec)
    destination = _keeper(rec, keeper, members, "performers")
    sources = [m for m in members if m != destination]
    result = await merge_performers(client, sources, destination, priority=Priority.CRITICAL)
    return ActionOutcome(
        "merge_performers", before={"performer_ids": members}, after={"performer_ids": [str(result.get("id", destination))]},
        detail={"merged": sources, "into": destination, "scene_count": result.get("scene_count")},
    )


async def _delete_files(
    client: StashClient, rec: Recommendation, keeper: str | None, file_ids: Sequence[str] | None
) -> ActionOutcome:
    scene_id = rec.target.split(":", 1)[1]
    current = await scene_files(client, scene_id, priority=Priority.CRITICAL)
    ids = [f.id for f in current]
    keep = str(keeper) if keeper is not None else str(rec.evidence.get("keeper", ""))
    if keep not in ids:
        raise ActionRefused(409, "stale", f"file {keep} is no longer a file of scene {scene_id} (it has {', '.join(ids) or 'none'}); "
                            "run the analysis again")
    doomed = [i for i in ids if i != keep] if file_ids is None else [str(i) for i in file_ids]
    unknown = sorted(set(doomed) - set(ids))
    if unknown:
        raise ActionRefused(409, "stale", f"file(s) {', '.join(unknown)} are not files of scene {scene_id}")
    if keep in doomed:
        raise ActionRefused(422, "invalid_keeper", f"file {keep} is the keeper: it cannot be deleted")
    if not doomed or len(doomed) >= len(ids):
        raise ActionRefused(422, "last_file", f"scene {scene_id} must keep at least one file")
    await delete_files(client, doomed, priority=Priority.CRITICAL)
    after = await scene_files(client, scene_id, priority=Priority.CRITICAL)
    by_id = {f.id: f for f in current}
    return ActionOutcome(
        "delete_files", before={"scene_id": scene_id, "file_ids": ids}, after={"scene_id": scene_id, "file_ids": [f.id for f in after]},
        detail={
            "deleted": [{"id": i, "path": by_id[i].path, "size": by_id[i].size, "video_codec": by_id[i].video_codec} for i in doomed],
            "kept": keep, "space_freed": sum(by_id[i].size for i in doomed),
        },
    )


async def _merge_scenes(client: StashClient, rec: Recommendation, keeper: str | None) -> ActionOutcome:
    members = _members(rec)
    destination = _keeper(rec, keeper, members, "scenes")
    sources = [m for m in members if m != destination]
    before = {}
    for sid in members:
        try:
            before[sid] = [f.id for f in await scene_files(client, sid, priority=Priority.CRITICAL)]
        except StashNotFoundError:
            raise ActionRefused(409, "stale", f"scene {sid} is no longer in Stash; run the analysis again") from None
    result = await merge_scenes(client, sources, destination, priority=Priority.CRITICAL)
    return ActionOutcome(
        "merge_scenes", before={"scene_ids": members, "files": before},
        after={"scene_ids": [str(result.get("id", destination))], "files": [f.get("id") for f in result.get("files") or []]},
        detail={"merged": sources, "into": destination},
    )
