"""Who a face-DB identity is in Stash: the one implementation, for every route.

A face-DB performer carries endpoint-qualified identities (``<endpoint>#<id>``):

* this Stash's own (a DB built with ``db build --from-stash``): the endpoint is this Stash's
  GraphQL URL and the id its performer id, which maps directly, whether or not the performer
  has any stash-box link;
* a stash-box's (``https://stashdb.org/graphql#<uuid>``): the Stash performer linked to that
  stash ID (Stash's ``stash_id_endpoint`` filter, tried with the endpoint as Stash spells it);
* a folder DB's (``local:<folder>#<name>``): the Stash performer with exactly that name or
  alias.

Exactly one Stash performer must match: an ambiguous answer is refused (tagging the wrong
performer is worse than asking). A performer Stash lacks can be created from stash-box only
when one of its identities is on a stash-box that Stash has configured; the resolution says
which identity and endpoint that would use, so no caller (CLI, API, dashboard, plugin) ever
decides it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from stash_sense.stash import filters
from stash_sense.stash.client import StashClient
from stash_sense.stash.errors import StashNotFoundError
from stash_sense.stash.models import Performer, StashBoxConfig, normalize_endpoint
from stash_sense.stash.ratelimit import Priority

Via = Literal["local", "stash_id", "name"]

# Enough to tell a unique name from an ambiguous one without paging through a huge library.
NAME_CANDIDATES = 50


class ResolvedPerformer(BaseModel):
    """The Stash performer an identity names."""

    id: str = Field(description="Stash performer id.")
    name: str
    disambiguation: str | None = None
    aliases: list[str] = []
    stash_ids: list[dict[str, str]] = []

    @classmethod
    def of(cls, p: Performer) -> ResolvedPerformer:
        return cls(
            id=p.id, name=p.name, disambiguation=p.disambiguation, aliases=list(p.alias_list), stash_ids=[s.to_input() for s in p.stash_ids]
        )


class Resolution(BaseModel):
    """Where one face-DB identity (or DB performer) lives in Stash, or why nowhere."""

    identity: str = Field(description="The identity asked about ('<endpoint>#<id>').")
    performer: ResolvedPerformer | None = Field(None, description="The one Stash performer it names, if exactly one does.")
    via: Via | None = Field(
        None, description="'local' (this Stash's own id), 'stash_id' (a stash-box link) or 'name' (a folder DB's name)."
    )
    matched_identity: str | None = Field(None, description="The identity that found it.")
    reason: str | None = Field(None, description="Why no performer was found.")
    ambiguous: list[str] = Field(default_factory=list, description="Other Stash performer ids that carry the same identity.")
    can_create: bool = Field(
        False, description="Stash lacks it and it is on a stash-box configured in Stash: it can be created from there."
    )
    create_identity: str | None = Field(
        None, description="With can_create: the identity to create it from ('<endpoint as Stash spells it>#<stash_id>')."
    )
    create_endpoint: str | None = Field(None, description="With can_create: the stash-box endpoint it would be created from.")

    @property
    def found(self) -> bool:
        return self.performer is not None


def split_identity(identity: str | Mapping[str, str]) -> tuple[str, str] | None:
    """``(endpoint, id)`` of an identity string or ``{endpoint, stash_id}`` map; None if malformed."""
    if isinstance(identity, Mapping):
        endpoint, stash_id = str(identity.get("endpoint", "")), str(identity.get("stash_id", ""))
    else:
        endpoint, sep, stash_id = str(identity).partition("#")
        if not sep:
            return None
    endpoint, stash_id = endpoint.strip(), stash_id.strip()
    return (endpoint, stash_id) if endpoint and stash_id else None


def _norm(endpoint: str) -> str | None:
    try:
        return normalize_endpoint(endpoint)
    except ValueError:
        return None  # a local namespace such as 'local:photos': not addressable in Stash


def _exactly_one(identity: str, hits: list[Performer], via: Via, matched: str, what: str) -> Resolution | None:
    """The resolution when ``hits`` names one performer, a refusal when it names several, None
    when it names nobody (the caller tries the next identity)."""
    if len(hits) == 1:
        return Resolution(identity=identity, performer=ResolvedPerformer.of(hits[0]), via=via, matched_identity=matched)
    if len(hits) > 1:
        return Resolution(identity=identity, reason=f"{len(hits)} Stash performers are {what}; choose one", ambiguous=[p.id for p in hits])
    return None


class IdentityResolver:
    """Resolves identities against one Stash, caching every lookup for one command or request."""

    def __init__(self, client: StashClient, *, priority: Priority | int | str = Priority.HIGH) -> None:
        self.client = client
        self.priority = priority
        self.own_endpoint = normalize_endpoint(client.graphql_url)
        self._boxes: list[StashBoxConfig] | None = None
        self._by_stash_id: dict[tuple[str, str], list[Performer]] = {}
        self._by_name: dict[str, list[Performer]] = {}
        self._by_id: dict[str, Performer | None] = {}

    # -- what Stash has ------------------------------------------------------------------------

    async def stash_boxes(self) -> list[StashBoxConfig]:
        if self._boxes is None:
            self._boxes = await self.client.stash_box_configs(priority=self.priority)
        return self._boxes

    async def configured_box(self, endpoint: str) -> StashBoxConfig | None:
        """The stash-box Stash has configured for ``endpoint`` (compared normalised)."""
        wanted = _norm(endpoint)
        if wanted is None:
            return None
        for box in await self.stash_boxes():
            if _norm(box.endpoint) == wanted:
                return box
        return None

    async def _performer(self, performer_id: str) -> Performer | None:
        if performer_id not in self._by_id:
            try:
                self._by_id[performer_id] = await self.client.find_performer(performer_id, priority=self.priority)
            except (StashNotFoundError, ValueError):
                self._by_id[performer_id] = None  # deleted or merged since the DB was built
        return self._by_id[performer_id]

    async def _linked(self, endpoint: str, stash_id: str) -> list[Performer]:
        """Performers linked to ``endpoint#stash_id``. Stash's filter compares the endpoint text
        exactly: the spelling of Stash's configured stash-box first, then the DB's own."""
        key = (_norm(endpoint) or endpoint, stash_id)
        if key not in self._by_stash_id:
            box = await self.configured_box(endpoint)
            spellings = list(dict.fromkeys([*([box.endpoint] if box else []), endpoint, key[0]]))
            found: dict[str, Performer] = {}
            for spelling in spellings:
                async for performer in self.client.find_performers(
                    filters.stash_id_equals(spelling, stash_id), per_page=5, priority=self.priority
                ):
                    found.setdefault(performer.id, performer)
                if found:
                    break
            self._by_stash_id[key] = sorted(found.values(), key=lambda p: int(p.id) if p.id.isdigit() else 0)
        return self._by_stash_id[key]

    async def _named(self, name: str) -> list[Performer]:
        """Performers whose name or alias is exactly ``name`` (ignoring case)."""
        wanted = name.casefold()
        if wanted not in self._by_name:
            found: list[Performer] = []
            seen = 0
            async for performer in self.client.find_performers(q=name, per_page=NAME_CANDIDATES, priority=self.priority):
                seen += 1
                if performer.name.casefold() == wanted or any(a.casefold() == wanted for a in performer.alias_list):
                    found.append(performer)
                if seen >= NAME_CANDIDATES:
                    break
            self._by_name[wanted] = found
        return self._by_name[wanted]

    # -- resolving -----------------------------------------------------------------------------

    async def resolve(self, identity: str) -> Resolution:
        """One identity, as the dashboard's and the plugin's rows show it."""
        return await self.resolve_performer(identity, [identity])

    async def resolve_performer(self, identity: str, identities: Iterable[str | Mapping[str, str]]) -> Resolution:
        """A face-DB performer reported as ``identity`` with all of its ``identities``: this
        Stash's own id first (exact, whatever links it has), then its stash-box links, then a
        folder DB's name."""
        pairs = list(dict.fromkeys(p for p in (split_identity(i) for i in [identity, *identities]) if p is not None))
        if not pairs:
            return Resolution(identity=identity, reason="not an identity of the form '<endpoint>#<stash_id>'")
        reasons: list[str] = []
        for endpoint, stash_id in pairs:
            if _norm(endpoint) == self.own_endpoint:
                performer = await self._performer(stash_id)
                if performer is not None:
                    return Resolution(
                        identity=identity, performer=ResolvedPerformer.of(performer), via="local", matched_identity=f"{endpoint}#{stash_id}"
                    )
                reasons.append(f"performer {stash_id} is no longer in this Stash")
        box_pairs = [(e, s) for e, s in pairs if _norm(e) not in (None, self.own_endpoint)]
        for endpoint, stash_id in box_pairs:
            found = _exactly_one(identity, await self._linked(endpoint, stash_id), "stash_id", f"{endpoint}#{stash_id}",
                                 f"linked to {endpoint} id {stash_id}")
            if found is not None:
                return found
            reasons.append(f"no Stash performer linked to {endpoint} id {stash_id}")
        for endpoint, stash_id in pairs:
            if not endpoint.startswith("local:"):
                continue
            found = _exactly_one(identity, await self._named(stash_id), "name", f"{endpoint}#{stash_id}", f"named {stash_id!r}")
            if found is not None:
                return found
            reasons.append(f"no Stash performer named {stash_id!r}")
        unknown = [e for e, _ in pairs if _norm(e) is None and not e.startswith("local:")]
        if unknown and not reasons:
            reasons.append(f"unknown identity namespace {unknown[0]!r}")
        # Missing everywhere: it can be created only from a stash-box that Stash has configured.
        for endpoint, stash_id in box_pairs:
            box = await self.configured_box(endpoint)
            if box is not None:
                return Resolution(
                    identity=identity,
                    reason="; ".join(reasons) or "not in Stash",
                    can_create=True,
                    create_identity=f"{box.endpoint}#{stash_id}",
                    create_endpoint=box.endpoint,
                )
        if box_pairs and not any(_norm(e) == self.own_endpoint for e, _ in pairs):
            reasons.append("no stash-box configured in Stash for " + ", ".join(sorted({e for e, _ in box_pairs})))
        return Resolution(identity=identity, reason="; ".join(reasons) or "not in Stash")

    async def resolve_many(self, wanted: Sequence[tuple[str, Sequence[str | Mapping[str, str]]]]) -> dict[str, Resolution]:
        """``identity -> Resolution`` for each (identity, all identities) pair, each asked once."""
        out: dict[str, Resolution] = {}
        for identity, identities in wanted:
            if identity not in out:
                out[identity] = await self.resolve_performer(identity, identities)
        return out


__all__ = ["IdentityResolver", "NAME_CANDIDATES", "Resolution", "ResolvedPerformer", "split_identity"]
