"""Finding scenes and performers in Stash for the dashboard, and creating a performer from its
stash-box entry when Stash does not have it yet.

Everything goes through the sidecar's Stash client (and so its rate limiter); stash-box is
reached with the key and rate budget configured in Stash for that endpoint, so the user keeps
one place where stash-box keys live.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from stash_sense.api.apply import resolve_identity
from stash_sense.api.errors import ApiError, unprocessable
from stash_sense.stash import (
    Performer,
    Priority,
    Scene,
    StashBoxClient,
    StashClient,
    StashError,
    StashID,
    StashNotFoundError,
)
from stash_sense.stash.models import StashBoxConfig, normalize_endpoint

# A search box needs the first screenful, not the whole library.
SEARCH_LIMIT = 20
# Stash stores one portrait per performer; a few hundred pixels is what its UI shows.
PORTRAIT_SIZE = 600


class PerformerSummary(BaseModel):
    id: str = Field(description="Stash performer id.")
    name: str
    disambiguation: str | None = None
    aliases: list[str] = []
    stash_ids: list[dict[str, str]] = []


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


class ResolvedIdentity(BaseModel):
    identity: str
    performer: PerformerSummary | None = Field(description="The one Stash performer it names, if exactly one does.")
    reason: str | None = Field(None, description="Why none was found.")
    can_create: bool = Field(description="Stash lacks it and it is a stash-box identity: it can be created from stash-box.")


class ResolveResponse(BaseModel):
    results: list[ResolvedIdentity]


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
    return PerformerSummary(
        id=p.id, name=p.name, disambiguation=p.disambiguation, aliases=list(p.alias_list),
        stash_ids=[s.to_input() for s in p.stash_ids],
    )


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


def _is_stashbox_identity(identity: str) -> bool:
    return identity.partition("#")[0].startswith(("http://", "https://"))


async def resolve(stash: StashClient, identity: str) -> ResolvedIdentity:
    performer, why = await resolve_identity(stash, identity)
    if performer is not None:
        return ResolvedIdentity(identity=identity, performer=performer_summary(performer), can_create=False)
    # Only "no such performer" can be fixed by creating one; an ambiguous match cannot.
    missing = why is not None and why.startswith("no Stash performer")
    return ResolvedIdentity(identity=identity, performer=None, reason=why, can_create=missing and _is_stashbox_identity(identity))


async def _configured_box(stash: StashClient, endpoint: str) -> StashBoxConfig:
    try:
        wanted = normalize_endpoint(endpoint)
    except ValueError as exc:
        raise unprocessable(f"identity endpoint: {exc}", error="invalid_identity") from None
    for box in await stash.stash_box_configs(priority=Priority.HIGH):
        try:
            if normalize_endpoint(box.endpoint) == wanted:
                return box
        except ValueError:
            continue
    raise unprocessable(
        f"Stash has no stash-box configured for {endpoint}; add it in Stash (Settings > Metadata Providers)",
        error="stashbox_not_configured",
    )


async def create_from_stashbox(stash: StashClient, identity: str) -> tuple[Performer, bool]:
    """The Stash performer linked to ``identity``, created from its stash-box entry if needed."""
    endpoint, sep, stash_id = identity.partition("#")
    if not sep or not stash_id.strip() or not _is_stashbox_identity(identity):
        raise unprocessable("identity must be '<stash-box GraphQL URL>#<stash_id>'", error="invalid_identity")
    existing, _why = await resolve_identity(stash, identity)
    if existing is not None:
        return existing, False
    config = await _configured_box(stash, endpoint)
    if not config.api_key.get_secret_value():
        raise unprocessable(
            f"Stash has no API key for the stash-box {config.name or config.endpoint}; add it in Stash first",
            error="stashbox_no_key",
        )
    box = StashBoxClient.from_config(config, timeout=30.0, retries=1)
    try:
        try:
            entry = await box.find_performer(stash_id.strip(), priority=Priority.HIGH)
        except StashNotFoundError:
            raise ApiError(404, "not_found", f"performer {stash_id} not found on {config.name or config.endpoint}") from None
        if entry.deleted or entry.merged_into_id:
            raise unprocessable(
                f"{entry.name} was deleted or merged on {config.name or config.endpoint}; link the performer it was merged into",
                error="stashbox_performer_gone",
            )
        image: bytes | None = None
        images = box.best_images(entry, limit=1)
        if images:
            try:
                image = await box.fetch_image(images[0], size=PORTRAIT_SIZE, priority=Priority.HIGH)
            except (StashError, ValueError):
                image = None  # a performer without a portrait is still worth creating
    finally:
        await box.aclose()
    performer = await stash.create_performer(
        entry.name, disambiguation=entry.disambiguation, aliases=entry.aliases, image=image,
        stash_ids=[StashID(endpoint=config.endpoint, stash_id=entry.id)], priority=Priority.HIGH,
    )
    return performer, True
