"""Duplicate performers: one person entered in Stash twice or more.

Links between performers, strongest first: the same endpoint + stash ID (certain); the same
normalised name and disambiguation (likely); one's name is the other's alias (possible). A name
link is refused when both performers carry different stash IDs on the same endpoint: the
stash-box says they are different people. The face DB corroborates a name link when both
performers' stash IDs lead to the same face-DB identity. The keeper is the most complete
performer (scenes, images, galleries, stash IDs, a real image).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from stash_sense.recommendations.base import AnalysisOutcome, RunControl
from stash_sense.recommendations.duplicate_scenes import scene_key
from stash_sense.stash import Identity, StashClient
from stash_sense.stash.library_client import AnalysisPerformer, analysis_performers
from stash_sense.userdb import NewRecommendation

TYPE = "duplicate_performers"
LOGIC_VERSION = 1

STRENGTH = {"stash_id": 1.0, "face_db": 0.9, "name": 0.8, "alias": 0.65}
# Names this common in a library's aliases would link unrelated people.
MAX_NAME_GROUP = 10

FaceIdentity = Callable[[Identity], int | None]


def normalise_name(text: str | None) -> str:
    """Case, accents, punctuation and spacing do not make another person."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", plain).split())


class PerformerSource(Protocol):
    async def performers(self) -> list[AnalysisPerformer]: ...


class StashPerformerSource:
    def __init__(self, client: StashClient) -> None:
        self.client = client

    async def performers(self) -> list[AnalysisPerformer]:
        return await analysis_performers(self.client)


def completeness(p: AnalysisPerformer) -> tuple[int, int, int, int, int, int]:
    return (p.scene_count, p.image_count, p.gallery_count, len(p.stash_ids), int(p.has_image), -scene_key(p.id)[0])


def _summary(p: AnalysisPerformer) -> dict[str, Any]:
    return {
        "id": p.id, "name": p.name, "disambiguation": p.disambiguation, "aliases": list(p.alias_list),
        "scene_count": p.scene_count, "image_count": p.image_count, "gallery_count": p.gallery_count,
        "stash_ids": [f"{s.endpoint}#{s.stash_id}" for s in p.stash_ids], "has_image": p.has_image,
    }


def _contradicted(a: AnalysisPerformer, b: AnalysisPerformer) -> bool:
    ids_a: dict[str, set[str]] = defaultdict(set)
    for s in a.stash_ids:
        ids_a[s.identity.endpoint].add(s.identity.stash_id)
    for s in b.stash_ids:
        theirs = ids_a.get(s.identity.endpoint)
        if theirs and s.identity.stash_id not in theirs:
            return True
    return False


class _Groups:
    """Union-find that remembers each group's weakest link (links are added strongest first)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.strength: dict[str, float] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str, strength: float) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        s = min(strength, self.strength.get(ra, 1.0), self.strength.get(rb, 1.0))
        self.parent[rb] = ra
        self.strength[ra] = s


class DuplicatePerformersAnalyzer:
    type = TYPE
    logic_version = LOGIC_VERSION
    object_kind = "performer"

    def __init__(self, source: PerformerSource, face_identity: FaceIdentity | None = None) -> None:
        self.source = source
        self.face_identity = face_identity

    def links(self, performers: Sequence[AnalysisPerformer]) -> list[tuple[str, str, str]]:
        """``(a, b, kind)`` for every pair the rules link (a < b)."""
        by_id = {p.id: p for p in performers}
        out: set[tuple[str, str, str]] = set()

        def add(members: list[str], kind: str) -> None:
            members = sorted(set(members), key=scene_key)
            if len(members) < 2 or (kind != "stash_id" and len(members) > MAX_NAME_GROUP):
                return
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    if kind == "stash_id" or not _contradicted(by_id[a], by_id[b]):
                        out.add((a, b, kind))

        by_stash: dict[str, list[str]] = defaultdict(list)
        by_name: dict[tuple[str, str], list[str]] = defaultdict(list)
        by_face: dict[int, list[str]] = defaultdict(list)
        for p in performers:
            for s in p.stash_ids:
                by_stash[str(s.identity)].append(p.id)
                if self.face_identity is not None:
                    face = self.face_identity(s.identity)
                    if face is not None:
                        by_face[face].append(p.id)
            by_name[(normalise_name(p.name), normalise_name(p.disambiguation))].append(p.id)
        for members in by_stash.values():
            add(members, "stash_id")
        for (name, _), members in by_name.items():
            if name:
                add(members, "name")
        for members in by_face.values():
            add(members, "face_db")
        for p in performers:
            for alias in p.alias_list:
                key = (normalise_name(alias), normalise_name(p.disambiguation))
                if key[0] and key in by_name:
                    add([p.id, *by_name[key]], "alias")
        return sorted(out, key=lambda x: (scene_key(x[0]), scene_key(x[1]), x[2]))

    async def analyze(self, *, since: str | None, control: RunControl) -> AnalysisOutcome:
        performers = await self.source.performers()
        control.report(0.5, f"read {len(performers)} performers")
        control.check()
        by_id = {p.id: p for p in performers}
        changed = {p.id for p in performers if since is None or (p.updated_at or "") > since}
        links = self.links(performers)
        groups = _Groups()
        for a, b, kind in sorted(links, key=lambda x: -STRENGTH[x[2]]):
            groups.union(a, b, STRENGTH[kind])
        members: dict[str, list[str]] = defaultdict(list)
        for pid in {x for a, b, _ in links for x in (a, b)}:
            members[groups.find(pid)].append(pid)
        link_kinds: dict[str, list[dict[str, str]]] = defaultdict(list)
        for a, b, kind in links:
            link_kinds[groups.find(a)].append({"a": a, "b": b, "kind": kind})
        findings = []
        for root, ids in members.items():
            if since is not None and not changed.intersection(ids):
                continue
            ids = sorted(ids, key=scene_key)
            group = [by_id[i] for i in ids]
            keeper = max(group, key=completeness)
            kinds = sorted({lk["kind"] for lk in link_kinds[root]}, key=lambda k: -STRENGTH[k])
            strength = groups.strength.get(root, 1.0)
            # The face DB backs up a name or alias link: the group is as strong as that evidence.
            confidence = max(strength, STRENGTH["face_db"]) if "face_db" in kinds and strength < 1.0 else strength
            findings.append(NewRecommendation(
                type=TYPE, target="performers:" + ",".join(ids), confidence=confidence,
                evidence={
                    "performers": [_summary(p) for p in group], "links": link_kinds[root], "kinds": kinds,
                    "certainty": "certain" if confidence >= 1.0 else "likely" if confidence >= 0.8 else "possible",
                    "keeper": keeper.id,
                },
                objects=[("performer", i) for i in ids],
                facts={"ids": ids, "links": sorted((lk["a"], lk["b"], lk["kind"]) for lk in link_kinds[root])},
            ))
        examined = sorted(by_id, key=scene_key) if since is None else sorted(changed, key=scene_key)
        watermark = max((p.updated_at for p in performers if p.updated_at), default=since)
        return AnalysisOutcome(
            findings=findings, examined=examined, total=len(performers), candidates=len(links), watermark=watermark,
            touching="performer", present=set(by_id),
        )
