"""Adding performers to a scene and creating one from its stash-box entry: the Stash changes a
user confirms, written once. Every identity goes through :class:`IdentityResolver`, so a row
that showed "Add" adds exactly the performer it showed."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashError, StashNotFoundError
from stash_sense.stash.models import Performer, StashID, normalize_endpoint
from stash_sense.stash.ratelimit import Priority
from stash_sense.stash.stashbox import StashBoxClient

from .errors import UseCaseError
from .resolution import IdentityResolver, ResolvedPerformer, split_identity

# Stash stores one portrait per performer; a few hundred pixels is what its UI shows.
PORTRAIT_SIZE = 600


class ChosenPerformer(BaseModel):
    performer_id: str = Field(description="Stash performer id.")
    name: str
    identity: str | None = Field(None, description="The identity it was resolved from, if one was given.")


class SceneUpdate(BaseModel):
    scene_id: str
    added: list[ChosenPerformer] = Field(description="Every performer asked for (those already on the scene included).")
    newly_added: list[str] = Field(default_factory=list, description="Stash ids that were not on the scene before.")
    scene_performer_ids: list[str]


async def choose_performers(resolver: IdentityResolver, performer_ids: Sequence[str], identities: Sequence[str]) -> list[ChosenPerformer]:
    """Every requested performer (Stash ids, or identities), or a :class:`UseCaseError` naming
    each one that does not resolve to exactly one Stash performer (then nothing changes)."""
    chosen: dict[str, ChosenPerformer] = {}
    problems: list[str] = []
    for pid in performer_ids:
        try:
            performer = await resolver.client.find_performer(pid, priority=resolver.priority)
        except StashNotFoundError:
            problems.append(f"performer id {pid}: not found in Stash")
            continue
        except ValueError as exc:
            problems.append(f"performer id {pid!r}: {exc}")
            continue
        chosen.setdefault(performer.id, ChosenPerformer(performer_id=performer.id, name=performer.name))
    for identity in identities:
        resolution = await resolver.resolve(identity)
        if resolution.performer is None:
            problems.append(f"{identity}: {resolution.reason}")
            continue
        found = resolution.performer
        chosen.setdefault(found.id, ChosenPerformer(performer_id=found.id, name=found.name, identity=identity))
    if problems:
        raise UseCaseError("unprocessable", "unresolved_performers", "nothing was changed; " + "; ".join(problems[:10]))
    return list(chosen.values())


async def add_to_scene(
    client: StashClient,
    scene_id: str,
    performer_ids: Sequence[str] = (),
    identities: Sequence[str] = (),
    *,
    priority: Priority | int | str = Priority.CRITICAL,
) -> SceneUpdate:
    """Adds performers to a scene, keeping the ones already there (``bulkSceneUpdate`` ADD)."""
    if not performer_ids and not identities:
        raise UseCaseError("unprocessable", "nothing_to_apply", "name at least one performer (performer_ids or identities)")
    scene = await client.find_scene(scene_id, priority=priority)
    before = [p.id for p in scene.performers]
    chosen = await choose_performers(IdentityResolver(client, priority=priority), performer_ids, identities)
    updated = await client.add_performers_to_scenes([scene.id], [p.performer_id for p in chosen], priority=priority)
    after = next((u.performer_ids for u in updated if u.id == scene.id), before)
    return SceneUpdate(
        scene_id=scene.id,
        added=chosen,
        newly_added=[p.performer_id for p in chosen if p.performer_id not in before],
        scene_performer_ids=after,
    )


async def create_from_stashbox(
    client: StashClient, identity: str, *, priority: Priority | int | str = Priority.HIGH
) -> tuple[Performer, bool]:
    """The Stash performer linked to a stash-box ``identity``, created from its stash-box entry
    (name, disambiguation, aliases, portrait, link) when Stash has none; ``(performer, created)``."""
    pair = split_identity(identity)
    if pair is None or not pair[0].startswith(("http://", "https://")):
        raise UseCaseError("unprocessable", "invalid_identity", "identity must be '<stash-box GraphQL URL>#<stash_id>'")
    endpoint, stash_id = pair
    resolver = IdentityResolver(client, priority=priority)
    resolution = await resolver.resolve(identity)
    if resolution.performer is not None:
        return await client.find_performer(resolution.performer.id, priority=priority), False
    if resolution.ambiguous:
        raise UseCaseError("unprocessable", "ambiguous_identity", resolution.reason or "several Stash performers match")
    if _is_own(resolver, endpoint):
        raise UseCaseError(
            "unprocessable",
            "not_a_stashbox_identity",
            f"{identity} is this Stash's own performer id, not a stash-box entry: {resolution.reason}",
        )
    config = await resolver.configured_box(endpoint)
    if config is None:
        raise UseCaseError(
            "unprocessable",
            "stashbox_not_configured",
            f"Stash has no stash-box configured for {endpoint}; add it in Stash (Settings > Metadata Providers)",
        )
    if not config.api_key.get_secret_value():
        raise UseCaseError(
            "unprocessable",
            "stashbox_no_key",
            f"Stash has no API key for the stash-box {config.name or config.endpoint}; add it in Stash first",
        )
    box = StashBoxClient.from_config(config, timeout=30.0, retries=1)
    try:
        try:
            entry = await box.find_performer(stash_id, priority=priority)
        except StashNotFoundError:
            raise UseCaseError("not_found", "not_found", f"performer {stash_id} not found on {config.name or config.endpoint}") from None
        if entry.deleted or entry.merged_into_id:
            raise UseCaseError(
                "unprocessable",
                "stashbox_performer_gone",
                f"{entry.name} was deleted or merged on {config.name or config.endpoint}; link the performer it was merged into",
            )
        image: bytes | None = None
        images = box.best_images(entry, limit=1)
        if images:
            try:
                image = await box.fetch_image(images[0], size=PORTRAIT_SIZE, priority=priority)
            except (StashError, ValueError):
                image = None  # a performer without a portrait is still worth creating
    finally:
        await box.aclose()
    performer = await client.create_performer(
        entry.name,
        disambiguation=entry.disambiguation,
        aliases=entry.aliases,
        image=image,
        stash_ids=[StashID(endpoint=config.endpoint, stash_id=entry.id)],
        priority=priority,
    )
    return performer, True


def _is_own(resolver: IdentityResolver, endpoint: str) -> bool:
    try:
        return normalize_endpoint(endpoint) == resolver.own_endpoint
    except ValueError:
        return False


__all__ = [
    "ChosenPerformer",
    "PORTRAIT_SIZE",
    "ResolvedPerformer",
    "SceneUpdate",
    "add_to_scene",
    "choose_performers",
    "create_from_stashbox",
]
