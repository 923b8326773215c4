"""Stash's mutations that the project sends, applied to the emulator's state database.

Input fields the emulator cannot honour are rejected by name rather than silently dropped, so
a test never passes on a change that was not made.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.media import image_mime
from stash_sense.devtools.emulator.stash_objects import (
    StashContext,
    context_of,
    ordered,
    parse_id,
    performer_object,
    scene_object,
    tag_object,
)
from stash_sense.devtools.emulator.state import StateError


_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_SCENE_COLUMNS = ("title", "code", "details", "director", "date")


def _reject_unsupported(input_: Mapping[str, Any], supported: set[str], mutation: str) -> None:
    unsupported = sorted(k for k, v in input_.items() if k not in supported and v is not None)
    if unsupported:
        raise GraphQLError(f"{mutation}: the Stash emulator does not support {', '.join(unsupported)}")


def _scene_columns(input_: Mapping[str, Any], mutation: str) -> dict[str, Any]:
    columns = {key: input_[key] for key in _SCENE_COLUMNS if key in input_}
    if columns.get("date") and not _DATE.match(columns["date"]):
        raise GraphQLError(f"{mutation}: invalid date {columns['date']!r} (use YYYY-MM-DD)")
    if "organized" in input_ and input_["organized"] is not None:
        columns["organized"] = int(bool(input_["organized"]))
    return columns


def _stash_id_inputs(values: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, str, str | None]]:
    return [(v["endpoint"], v["stash_id"], v.get("updated_at")) for v in values or ()]


def _ids(values: Sequence[Any] | None, noun: str) -> list[int]:
    return [parse_id(v, noun) for v in values or ()]


def _scenes_out(ctx: StashContext, ids: Sequence[int]) -> list[dict[str, Any]]:
    return [scene_object(r, ctx) for r in ordered(ctx.catalog.store.scenes(ids), ids)]


def _state_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Report a rejected mutation as a GraphQL error carrying Stash-like wording."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StateError as exc:
            raise GraphQLError(str(exc)) from None

    return wrapper


@_state_errors
def _scene_update(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_unsupported(
        input,
        {"clientMutationId", "id", *_SCENE_COLUMNS, "organized", "url", "urls", "performer_ids", "tag_ids", "stash_ids"},
        "sceneUpdate",
    )
    scene_id = parse_id(input["id"], "scene")
    urls: list[str] | None = None
    if "urls" in input:
        urls = list(input["urls"] or ())
    elif "url" in input:  # deprecated single URL: replaces the list
        urls = [input["url"]] if input["url"] else []
    ctx.catalog.store.update_scene(
        scene_id,
        columns=_scene_columns(input, "sceneUpdate"),
        urls=urls,
        performers=("SET", _ids(input["performer_ids"], "performer")) if "performer_ids" in input else None,
        tags=("SET", _ids(input["tag_ids"], "tag")) if "tag_ids" in input else None,
        stash_ids=_stash_id_inputs(input["stash_ids"]) if "stash_ids" in input else None,
    )
    ctx.changed()
    return _scenes_out(ctx, [scene_id])[0]


def _bulk_ids(value: Mapping[str, Any] | None, noun: str) -> tuple[str, list[int]] | None:
    if value is None:
        return None
    return value["mode"], _ids(value.get("ids"), noun)


@_state_errors
def _bulk_scene_update(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_unsupported(
        input,
        {"clientMutationId", "ids", *_SCENE_COLUMNS, "organized", "performer_ids", "tag_ids"},
        "bulkSceneUpdate",
    )
    scene_ids = list(dict.fromkeys(_ids(input.get("ids"), "scene")))
    ctx.catalog.store.update_scenes(
        scene_ids,
        columns=_scene_columns(input, "bulkSceneUpdate"),
        performers=_bulk_ids(input.get("performer_ids"), "performer"),
        tags=_bulk_ids(input.get("tag_ids"), "tag"),
    )
    ctx.changed()
    return _scenes_out(ctx, scene_ids)


# Performer fields stored as given and returned under the same name.
_PERFORMER_EXTRA = {
    "birthdate", "ethnicity", "eye_color", "height_cm", "measurements", "fake_tits", "penis_length", "circumcised",
    "career_length", "tattoos", "piercings", "rating100", "death_date", "hair_color", "weight", "ignore_auto_tag",
    "custom_fields",
}


async def _performer_create(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_unsupported(
        input,
        {"name", "disambiguation", "url", "urls", "twitter", "instagram", "gender", "country", "details", "favorite",
         "alias_list", "tag_ids", "stash_ids", "image", *_PERFORMER_EXTRA},
        "performerCreate",
    )
    image = await _fetch_image(input["image"]) if input.get("image") else None
    # Stash folds the deprecated url/twitter/instagram fields into urls.
    urls = list(input.get("urls") or ())
    for legacy in ("url", "twitter", "instagram"):
        if input.get(legacy) and input[legacy] not in urls:
            urls.append(input[legacy])
    try:
        performer_id = ctx.catalog.store.create_performer(
            name=input["name"],
            disambiguation=input.get("disambiguation"),
            gender=input.get("gender"),
            country=input.get("country"),
            details=input.get("details"),
            favorite=bool(input.get("favorite")),
            alias_list=[a for a in input.get("alias_list") or () if a.strip()],
            urls=urls,
            tag_ids=_ids(input.get("tag_ids"), "tag"),
            stash_ids=_stash_id_inputs(input.get("stash_ids")),
            image=image,
            extra={k: v for k, v in input.items() if k in _PERFORMER_EXTRA and v is not None},
        )
    except StateError as exc:
        raise GraphQLError(str(exc)) from None
    ctx.changed()
    record = ctx.catalog.store.performer(performer_id)
    assert record is not None
    return performer_object(record, ctx)


async def _fetch_image(source: str) -> bytes:
    """Stash accepts a data URL or an http(s) URL, which it downloads."""
    if source.startswith("data:"):
        header, _, payload = source.partition(",")
        if ";base64" not in header:
            raise GraphQLError("image data URL must be base64-encoded (data:image/...;base64,...)")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise GraphQLError(f"image data URL is not valid base64: {exc}") from None
    elif source.startswith(("http://", "https://")):
        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
                response = await client.get(source)
                response.raise_for_status()
        except httpx.HTTPError as exc:
            raise GraphQLError(f"could not download image {source.split('?')[0]}: {exc.__class__.__name__}") from None
        data = response.content
    else:
        raise GraphQLError("image must be a data URL or an http(s) URL")
    try:
        image_mime(data)
    except ValueError as exc:
        raise GraphQLError(f"image: {exc}") from None
    return data


@_state_errors
def _tag_create(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_unsupported(input, {"name", "description", "aliases", "favorite", "ignore_auto_tag"}, "tagCreate")
    tag_id = ctx.catalog.store.create_tag(
        name=input["name"],
        description=input.get("description"),
        aliases=list(input.get("aliases") or ()),
        favorite=bool(input.get("favorite")),
    )
    ctx.changed()
    record = ctx.catalog.store.tag(tag_id)
    assert record is not None
    return tag_object(record, ctx)


def _configure_plugin(_root: Any, info: GraphQLResolveInfo, plugin_id: str, input: Mapping[str, Any]) -> Any:
    # Stash replaces the plugin's whole configuration with the given map.
    context_of(info).catalog.store.set_plugin_config(plugin_id, dict(input))
    return dict(input)


MUTATION_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Mutation", "sceneUpdate"): _scene_update,
    ("Mutation", "bulkSceneUpdate"): _bulk_scene_update,
    ("Mutation", "performerCreate"): _performer_create,
    ("Mutation", "tagCreate"): _tag_create,
    ("Mutation", "configurePlugin"): _configure_plugin,
}
