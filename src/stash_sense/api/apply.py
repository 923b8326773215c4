"""Turning identification results into Stash performers, and adding them to a scene."""

from __future__ import annotations

from stash_sense.api.errors import ApiError
from stash_sense.api.schemas import AppliedPerformer
from stash_sense.stash import Performer, Priority, StashClient, StashNotFoundError
from stash_sense.stash.filters import stash_id_equals

# Enough to tell a unique name from an ambiguous one without paging through a huge library.
_NAME_CANDIDATES = 50


async def _by_stash_id(stash: StashClient, endpoint: str, stash_id: str) -> list[Performer]:
    found = []
    async for performer in stash.find_performers(stash_id_equals(endpoint, stash_id), per_page=5, priority=Priority.HIGH):
        found.append(performer)
    return found


async def _by_name(stash: StashClient, name: str) -> list[Performer]:
    """Performers whose name or alias is exactly ``name`` (ignoring case)."""
    wanted = name.casefold()
    found = []
    seen = 0
    async for performer in stash.find_performers(q=name, per_page=_NAME_CANDIDATES, priority=Priority.HIGH):
        seen += 1
        if performer.name.casefold() == wanted or any(a.casefold() == wanted for a in performer.alias_list):
            found.append(performer)
        if seen >= _NAME_CANDIDATES:
            break
    return found


async def resolve_identity(stash: StashClient, identity: str) -> tuple[Performer | None, str | None]:
    """The Stash performer an identity names, or ``(None, why not)``.

    Stash-box identities (``https://stashdb.org/graphql#<uuid>``) match the performer linked to
    that stash ID; identities from a local folder DB (``local:<folder>#<name>``) match by exact
    name or alias. Anything but exactly one match is refused: tagging the wrong performer is
    worse than asking.
    """
    endpoint, sep, stash_id = identity.partition("#")
    if not sep or not endpoint or not stash_id.strip():
        return None, "not an identity of the form '<endpoint>#<stash_id>'"
    if endpoint.startswith(("http://", "https://")):
        matches = await _by_stash_id(stash, endpoint, stash_id)
        what = f"linked to {endpoint} id {stash_id}"
    elif endpoint.startswith("local:"):
        matches = await _by_name(stash, stash_id)
        what = f"named {stash_id!r}"
    else:
        return None, f"unknown identity namespace {endpoint!r}"
    if not matches:
        return None, f"no Stash performer {what}"
    if len({p.id for p in matches}) > 1:
        return None, f"{len(matches)} Stash performers {what}; choose one by performer id"
    return matches[0], None


async def resolve_all(stash: StashClient, performer_ids: list[str], identities: list[str]) -> list[AppliedPerformer]:
    """Every requested performer, or a 422 naming each one that cannot be resolved (nothing is changed then)."""
    chosen: dict[str, AppliedPerformer] = {}
    problems: list[str] = []
    for pid in performer_ids:
        try:
            performer = await stash.find_performer(pid, priority=Priority.HIGH)
        except StashNotFoundError:
            problems.append(f"performer id {pid}: not found in Stash")
            continue
        except ValueError as exc:
            problems.append(f"performer id {pid!r}: {exc}")
            continue
        chosen.setdefault(performer.id, AppliedPerformer(performer_id=performer.id, name=performer.name))
    for identity in identities:
        performer, why = await resolve_identity(stash, identity)
        if performer is None:
            problems.append(f"{identity}: {why}")
            continue
        chosen.setdefault(performer.id, AppliedPerformer(performer_id=performer.id, name=performer.name, identity=identity))
    if problems:
        raise ApiError(422, "unresolved_performers", "nothing was changed; " + "; ".join(problems[:10]))
    return list(chosen.values())
