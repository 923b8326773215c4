"""Finding scenes and performers in Stash for the dashboard, and the request and response
shapes of the identity and stash-box routes (the use cases are in ``stash_sense.app``).

Everything goes through the sidecar's Stash client (and so its rate limiter).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from stash_sense.app.resolution import Resolution, ResolvedPerformer
from stash_sense.stash import Performer, Priority, Scene, StashClient, StashNotFoundError

# A search box needs the first screenful, not the whole library.
SEARCH_LIMIT = 20


# A Stash performer as every route shows it (search results, resolutions, created performers).
PerformerSummary = ResolvedPerformer


class SceneSummary(BaseModel):
    id: str
    title: str | None
    date: str | None = None
    duration_s: float
    performers: list[PerformerSummary]
    stash_ids: list[dict[str, str]] = []


class SceneSearchResponse(BaseModel):
    query: str
    scenes: list[SceneSummary]


class PerformerSearchResponse(BaseModel):
    query: str
    performers: list[PerformerSummary]


class ResolveRequest(BaseModel):
    identities: list[str] = Field(min_length=1, max_length=100, description="Identities from an identification.")


class ResolveResponse(BaseModel):
    results: list[Resolution]


class CreateFromStashBoxRequest(BaseModel):
    confirm: bool = Field(description="Must be true: this creates a performer in Stash.")
    identity: str = Field(min_length=3, max_length=1024, description="'<stash-box endpoint>#<stash_id>'.")
    scene_id: str | None = Field(None, pattern=r"^[0-9]{1,18}$", description="Also add the performer to this scene.")


class CreateFromStashBoxResponse(BaseModel):
    performer: PerformerSummary
    created: bool = Field(description="False when Stash already had a performer linked to that stash ID.")
    scene_id: str | None = None
    scene_performer_ids: list[str] = []


def performer_summary(p: Performer) -> PerformerSummary:
    return ResolvedPerformer.of(p)


def scene_summary(scene: Scene) -> SceneSummary:
    return SceneSummary(
        id=scene.id, title=scene.title, date=scene.date, duration_s=round(scene.duration, 2),
        performers=[
            PerformerSummary(id=p.id, name=p.name, disambiguation=p.disambiguation, stash_ids=[s.to_input() for s in p.stash_ids])
            for p in scene.performers
        ],
        stash_ids=[s.to_input() for s in scene.stash_ids],
    )


async def search_scenes(stash: StashClient, query: str) -> list[SceneSummary]:
    """Scenes whose title (or path, as Stash searches) matches; a number is also tried as an id."""
    found: list[SceneSummary] = []
    text = query.strip()
    if text.isdigit() and len(text) <= 18:
        try:
            found.append(scene_summary(await stash.find_scene(text, priority=Priority.HIGH)))
        except StashNotFoundError:
            pass
    async for scene in stash.find_scenes(q=text or None, per_page=SEARCH_LIMIT, priority=Priority.HIGH):
        if all(s.id != scene.id for s in found):
            found.append(scene_summary(scene))
        if len(found) >= SEARCH_LIMIT:
            break
    # Stash matches each word anywhere (paths included); a title holding the whole query is
    # what the user typed it for, so those come first (the id match stays on top).
    wanted = text.casefold()
    return sorted(found, key=lambda s: (s.id != text, wanted not in (s.title or "").casefold()))


async def search_performers(stash: StashClient, query: str) -> list[PerformerSummary]:
    found: list[PerformerSummary] = []
    async for performer in stash.find_performers(q=query.strip() or None, per_page=SEARCH_LIMIT, sort="name", priority=Priority.HIGH):
        found.append(performer_summary(performer))
        if len(found) >= SEARCH_LIMIT:
            break
    return found
