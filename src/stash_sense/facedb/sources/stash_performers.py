"""Stage 1 of a build from Stash: each performer with a real image becomes a DB performer.

A DB performer carries every stash-box identity Stash has for it, plus a local identity for
this Stash (endpoint = its GraphQL URL, stash_id = its performer id), so it is addressable
even when it has no stash-box link. Stash keeps one image per performer; performers showing
Stash's generated placeholder are skipped (it is not a face).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ...stash.client import StashClient
from ...stash.models import Performer, normalize_endpoint
from ...stash.ratelimit import Priority
from ...stash.redaction import strip_secret_params
from ..errors import IdentityConflictError
from ..types import Identity
from .context import BuildContext, fetch_skip_reason, prefetch_batches

# Performer images downloaded ahead of the face pipeline; small, so Ctrl-C wastes little.
_BATCH = 16
NO_IMAGE = "no image (Stash shows its generated default image)"
IDENTITY_CONFLICT = "identity conflict with another DB performer"


def stash_identities(performer: Performer, stash_graphql_url: str) -> list[Identity]:
    """The performer's stash-box identities (as Stash lists them), then this Stash's own."""
    out: list[Identity] = []
    for sid in performer.stash_ids:
        try:
            identity = Identity(normalize_endpoint(sid.endpoint), sid.stash_id.strip())
        except ValueError:
            continue  # a malformed link in Stash: the local identity still names the performer
        if identity not in out:
            out.append(identity)
    out.append(local_identity(stash_graphql_url, performer.id))
    return out


def local_identity(stash_graphql_url: str, performer_id: str) -> Identity:
    return Identity(normalize_endpoint(stash_graphql_url), str(performer_id))


def image_source_key(performer: Performer) -> str:
    """One key per image version: Stash's ``?t=`` changes when the performer is edited, so a
    new image is picked up on the next build (and an unchanged one is caught as a duplicate)."""
    return "stash-image:" + strip_secret_params(performer.image_path or "")


@dataclass
class PerformerStage:
    in_stash: int = 0
    without_image: dict[str, str] = field(default_factory=dict)  # Stash id -> name
    conflicts: list[str] = field(default_factory=list)
    images_processed_now: int = 0
    skipped_now: Counter[str] = field(default_factory=Counter)
    db_ids: dict[str, int] = field(default_factory=dict)  # Stash performer id -> DB performer id


def _db_id(ctx: BuildContext, identity: Identity) -> int | None:
    row = ctx.writer.connection.execute(
        "SELECT performer_id FROM performer_ids WHERE endpoint = ? AND stash_id = ?", (identity.endpoint, identity.stash_id)
    ).fetchone()
    return None if row is None else int(row[0])


def upsert_stash_performer(ctx: BuildContext, stash: StashClient, performer: Performer) -> int:
    identities = stash_identities(performer, stash.graphql_url)
    image_url = strip_secret_params(performer.image_path) if performer.has_image and performer.image_path else None
    return ctx.writer.upsert_performer(
        identities[0],
        performer.name,
        disambiguation=performer.disambiguation or None,
        gender=performer.gender or None,
        country=performer.country or None,
        image_url=image_url,
        aliases=performer.alias_list,
        extra_identities=identities[1:],
    )


def add_performer_images(ctx: BuildContext, stash: StashClient, performers: list[Performer]) -> PerformerStage:
    stage = PerformerStage(in_stash=len(performers))
    pending: list[tuple[int, Performer, str]] = []
    for performer in performers:
        if not performer.has_image:
            stage.without_image[performer.id] = performer.name
            # Faces from an earlier build (an older image, stash-box) still make it a DB performer.
            known = _db_id(ctx, local_identity(stash.graphql_url, performer.id))
            if known is not None:
                stage.db_ids[performer.id] = known
            continue
        try:
            pid = upsert_stash_performer(ctx, stash, performer)
        except IdentityConflictError as exc:
            stage.conflicts.append(f"{performer.name} (Stash id {performer.id}): {exc}")
            continue
        stage.db_ids[performer.id] = pid
        key = image_source_key(performer)
        if not ctx.writer.is_source_done(key):
            pending.append((pid, performer, key))
    ctx.writer.commit()

    async def fetch(job: tuple[int, Performer, str]) -> bytes:
        return await stash.fetch_bytes(job[1].image_path or "", Priority.LOW)

    task = ctx.progress.add_task("performer images", total=len(pending))
    for batch in prefetch_batches(ctx.bridge, pending, fetch, _BATCH):
        fetched = [(job, data) for job, data in batch if isinstance(data, bytes)]
        for (pid, performer, key), error in batch:
            if isinstance(error, BaseException):
                reason = fetch_skip_reason(error)
                ctx.writer.mark_source_done(key, "skipped", reason)
                stage.skipped_now[reason] += 1
        results = ctx.analyze_images([(data, f"Stash performer {job[1].id} image") for job, data in fetched])
        for ((pid, performer, key), _), result in zip(fetched, results):
            reason = ctx.store_image(pid, key, result, {"stash_performer_id": performer.id})
            if reason is not None:
                stage.skipped_now[reason] += 1
        stage.images_processed_now += len(batch)
        ctx.progress.advance(task, len(batch))
    return stage
