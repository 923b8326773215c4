"""The analyzers by name, built for a Stash client and a user database."""

from __future__ import annotations

from collections.abc import Sequence

from stash_sense.recommendations.base import Analyzer
from stash_sense.recommendations.duplicate_files import DuplicateFilesAnalyzer
from stash_sense.recommendations.duplicate_performers import DuplicatePerformersAnalyzer, FaceIdentity, StashPerformerSource
from stash_sense.recommendations.duplicate_scenes import DuplicateScenesAnalyzer
from stash_sense.recommendations.scene_sync import StashSceneSource
from stash_sense.recommendations.sprite_match import StashSpriteSource
from stash_sense.stash import StashClient
from stash_sense.userdb import FingerprintStore, LibraryIndex, UserDB

ANALYZER_TYPES: tuple[str, ...] = ("duplicate_performers", "duplicate_files", "duplicate_scenes")
# Short names for the command line.
ALIASES = {"performers": "duplicate_performers", "files": "duplicate_files", "scenes": "duplicate_scenes"}


def canonical_type(name: str) -> str:
    """``duplicate_scenes`` from ``scenes`` or itself; ValueError naming the choices otherwise."""
    value = ALIASES.get(name, name)
    if value not in ANALYZER_TYPES:
        choices = ", ".join([*ALIASES, *ANALYZER_TYPES])
        raise ValueError(f"unknown analysis type {name!r} (one of {choices})")
    return value


def build_analyzer(
    type: str, *, client: StashClient, user_db: UserDB, preferred_paths: Sequence[str] = (),
    face_identity: FaceIdentity | None = None,
) -> Analyzer:
    kind = canonical_type(type)
    if kind == "duplicate_performers":
        return DuplicatePerformersAnalyzer(StashPerformerSource(client), face_identity)
    index = LibraryIndex(user_db)
    if kind == "duplicate_files":
        return DuplicateFilesAnalyzer(index, StashSceneSource(client), preferred_paths)
    return DuplicateScenesAnalyzer(index, StashSceneSource(client), FingerprintStore(user_db), StashSpriteSource(client))
