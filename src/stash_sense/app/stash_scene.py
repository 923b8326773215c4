"""Identifying a Stash scene: the tagged-performer boost, the engine run and who each candidate
is in Stash, written once for the CLI, the API and (through the API) the plugin and dashboard.

How frames reach the engine differs by caller (the CLI decodes in its own thread, the sidecar
in its worker pool), so the caller passes that step in as ``identify``; everything around it
is here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import BaseModel, Field

from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import SceneIdentification
from stash_sense.stash.client import StashClient
from stash_sense.stash.models import Scene, normalize_endpoint
from stash_sense.stash.ratelimit import Priority

from .resolution import IdentityResolver, Resolution

# The caller's way from a Stash scene and parameters to an engine result (frames, engine, pool).
SceneRunner = Callable[[Scene, SceneParams], Awaitable[SceneIdentification]]


class StashSceneIdentification(BaseModel):
    """A Stash scene's identification with every candidate resolved in that Stash."""

    scene_id: str
    title: str | None = None
    performers_before: list[str] = Field(description="Stash performer ids on the scene before anything was applied.")
    result: SceneIdentification
    resolutions: dict[str, Resolution] = Field(
        default_factory=dict, description="Each candidate's performer_id (identity) -> who it is in Stash, or why nobody."
    )


def tagged_identities(scene: Scene, graphql_url: str) -> list[str]:
    """The identities of the scene's current performers, as face DBs spell them: this Stash's
    own (``<graphql url>#<performer id>``, what ``db build --from-stash`` stores) and every
    stash-box link. The engine gives those performers its small tagged boost."""
    own = normalize_endpoint(graphql_url)
    out: set[str] = set()
    for performer in scene.performers:
        out.add(f"{own}#{performer.id}")
        for sid in performer.stash_ids:
            try:
                out.add(f"{normalize_endpoint(sid.endpoint)}#{sid.stash_id}")
            except ValueError:
                continue  # a malformed endpoint in Stash: not an identity any DB can carry
    return sorted(out)


def with_tagged_boost(params: SceneParams, scene: Scene, graphql_url: str) -> SceneParams:
    """``params`` with the scene's tagged performers added to ``tagged_performers``."""
    tagged = sorted(set(params.tagged_performers) | set(tagged_identities(scene, graphql_url)))
    return params.model_copy(update={"tagged_performers": tagged})


async def resolve_candidates(resolver: IdentityResolver, result: SceneIdentification) -> dict[str, Resolution]:
    """Who every candidate the result shows (accepted, per person, diagnostics) is in Stash."""
    wanted: list[tuple[str, list[dict[str, str]]]] = []
    for candidate in [*result.performers, *(c for p in result.persons for c in p.candidates), *result.diagnostics]:
        wanted.append((candidate.performer_id, candidate.stash_ids))
    return await resolver.resolve_many(wanted)


async def identify_stash_scene(
    client: StashClient,
    scene_id: str,
    params: SceneParams,
    identify: SceneRunner,
    *,
    boost_tagged: bool = True,
    resolve: bool = True,
    priority: Priority | int | str = Priority.HIGH,
) -> StashSceneIdentification:
    """Fetch the scene, identify it with the tagged boost (unless ``boost_tagged`` is false or
    ``params.tagged_performers`` is already set), and resolve every candidate. Stash failures
    (``StashError``) and frame failures (``FrameSourceError``) reach the caller."""
    scene = await client.find_scene(scene_id, priority=priority)
    if boost_tagged and not params.tagged_performers:
        params = with_tagged_boost(params, scene, client.graphql_url)
    result = await identify(scene, params)
    resolutions = await resolve_candidates(IdentityResolver(client, priority=priority), result) if resolve else {}
    return StashSceneIdentification(
        scene_id=scene.id,
        title=scene.title,
        performers_before=[p.id for p in scene.performers],
        result=result,
        resolutions=resolutions,
    )


__all__ = [
    "SceneRunner",
    "StashSceneIdentification",
    "identify_stash_scene",
    "resolve_candidates",
    "tagged_identities",
    "with_tagged_boost",
]
