"""Stash's merge and delete mutations, applied to the emulator's state for real:
``sceneMerge``, ``performerMerge`` and ``deleteFiles`` (see ``scene_files.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.stash_objects import context_of, parse_id, performer_object, scene_object
from stash_sense.devtools.emulator.state import StateError


def _reject_values(input_: Mapping[str, Any], mutation: str) -> None:
    # Stash's UI merges metadata itself and sends it as `values`; the emulator applies merges
    # only, so a caller relying on `values` gets an error rather than a silent no-op.
    if input_.get("values"):
        raise GraphQLError(f"{mutation}: the Stash emulator does not support values")


def _scene_merge(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_values(input, "sceneMerge")
    destination = parse_id(input["destination"], "scene")
    sources = [parse_id(s, "scene") for s in input.get("source") or ()]
    try:
        ctx.catalog.file_state.merge_scenes(sources, destination)
    except StateError as exc:
        raise GraphQLError(str(exc)) from None
    ctx.changed()
    record = ctx.catalog.store.scene(destination)
    return scene_object(record, ctx) if record else None


def _performer_merge(_root: Any, info: GraphQLResolveInfo, input: Mapping[str, Any]) -> Any:
    ctx = context_of(info)
    _reject_values(input, "performerMerge")
    destination = parse_id(input["destination"], "performer")
    sources = [parse_id(s, "performer") for s in input.get("source") or ()]
    try:
        ctx.catalog.file_state.merge_performers(sources, destination)
    except StateError as exc:
        raise GraphQLError(str(exc)) from None
    ctx.changed()
    record = ctx.catalog.store.performer(destination)
    assert record is not None
    return performer_object(record, ctx)


def _delete_files(_root: Any, info: GraphQLResolveInfo, ids: Sequence[str]) -> bool:
    ctx = context_of(info)
    try:
        ctx.catalog.file_state.delete_files([parse_id(i, "file") for i in ids])
    except StateError as exc:
        raise GraphQLError(str(exc)) from None
    ctx.changed()
    return True


MERGE_MUTATION_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Mutation", "sceneMerge"): _scene_merge,
    ("Mutation", "performerMerge"): _performer_merge,
    ("Mutation", "deleteFiles"): _delete_files,
}
