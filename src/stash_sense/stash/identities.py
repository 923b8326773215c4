"""Find the Stash performer behind a face-DB performer, from its endpoint-qualified identities.

A face DB built from this Stash carries a local identity (endpoint = this Stash's GraphQL URL,
stash_id = its performer id), which maps directly. Any other DB (built from stash-box, from
another Stash, shared by someone else) only has stash-box identities: those are looked up with
Stash's ``stash_id_endpoint`` filter. Nothing is ever created here: a performer that Stash does
not have is reported as missing, for the user to add.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from . import filters
from .client import StashClient
from .errors import StashNotFoundError
from .models import normalize_endpoint
from .ratelimit import Priority

Via = Literal["local", "stash_id"]


@dataclass(frozen=True, slots=True)
class StashPerformerMatch:
    """Where a DB performer lives in Stash (``performer_id`` None: Stash does not have it)."""

    name: str
    identities: tuple[str, ...]  # the DB performer's identities, '<endpoint>#<stash_id>'
    performer_id: str | None = None
    stash_name: str | None = None
    via: Via | None = None
    identity: str | None = None  # the identity that found it
    ambiguous: tuple[str, ...] = field(default_factory=tuple)  # other Stash performers with that identity

    @property
    def found(self) -> bool:
        return self.performer_id is not None


def _split(identity: str | Mapping[str, str]) -> tuple[str, str] | None:
    if isinstance(identity, Mapping):
        endpoint, stash_id = identity.get("endpoint", ""), identity.get("stash_id", "")
    else:
        endpoint, sep, stash_id = str(identity).partition("#")
        if not sep:
            return None
    return (endpoint, stash_id) if endpoint and stash_id else None


def _norm(endpoint: str) -> str | None:
    try:
        return normalize_endpoint(endpoint)
    except ValueError:
        return None  # a local namespace such as 'local:photos': not addressable in Stash


class StashPerformerFinder:
    """Maps DB identities to Stash performers, caching lookups across one command or job."""

    def __init__(self, client: StashClient, *, priority: Priority | int | str = Priority.HIGH) -> None:
        self.client = client
        self.priority = priority
        self._own = normalize_endpoint(client.graphql_url)
        self._spellings: dict[str, list[str]] | None = None
        self._cache: dict[tuple[str, str], list[tuple[str, str]]] = {}

    async def _endpoint_spellings(self, endpoint: str) -> list[str]:
        """How Stash may have stored ``endpoint``: its filter compares the text exactly, so try
        the spelling of Stash's configured stash-box first, then the DB's own."""
        if self._spellings is None:
            self._spellings = {}
            for box in await self.client.stash_box_configs(priority=self.priority):
                key = _norm(box.endpoint)
                if key:
                    self._spellings.setdefault(key, []).append(box.endpoint)
        key = _norm(endpoint) or endpoint
        return list(dict.fromkeys([*self._spellings.get(key, []), endpoint, key]))

    async def _by_stash_id(self, endpoint: str, stash_id: str) -> list[tuple[str, str]]:
        cache_key = (_norm(endpoint) or endpoint, stash_id)
        if cache_key not in self._cache:
            found: dict[str, str] = {}
            for spelling in await self._endpoint_spellings(endpoint):
                async for performer in self.client.find_performers(
                    filters.stash_id_equals(spelling, stash_id), priority=self.priority
                ):
                    found.setdefault(performer.id, performer.name)
                if found:
                    break
            self._cache[cache_key] = sorted(found.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
        return self._cache[cache_key]

    async def find(self, name: str, identities: Iterable[str | Mapping[str, str]]) -> StashPerformerMatch:
        """The Stash performer for a DB performer called ``name`` with these identities."""
        pairs = [p for p in (_split(i) for i in identities) if p is not None]
        shown = tuple(f"{e}#{s}" for e, s in pairs)
        # This Stash's own id first: it is exact, whatever stash-box links the performer has.
        for endpoint, stash_id in pairs:
            if _norm(endpoint) == self._own:
                try:
                    performer = await self.client.find_performer(stash_id, priority=self.priority)
                except StashNotFoundError:
                    continue  # deleted (or merged) since the DB was built: try its stash-box ids
                return StashPerformerMatch(name, shown, performer.id, performer.name, "local", f"{endpoint}#{stash_id}")
        for endpoint, stash_id in pairs:
            if _norm(endpoint) in (None, self._own):
                continue
            hits = await self._by_stash_id(endpoint, stash_id)
            if hits:
                (pid, pname), *others = hits
                return StashPerformerMatch(
                    name, shown, pid, pname, "stash_id", f"{endpoint}#{stash_id}", tuple(p for p, _ in others)
                )
        return StashPerformerMatch(name, shown)


__all__ = ["StashPerformerFinder", "StashPerformerMatch"]
