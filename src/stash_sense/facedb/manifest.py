"""``manifest.json``: what a face-DB directory contains and how it was made.

The manifest is the root of trust of a distributed DB: it names the embedding model (so a query
from another model is refused), carries the sha256 of every other file (so tampering or a broken
download is detected) and a ``db_version`` that changes whenever the contents change (so scene
fingerprints can tell which DB they were made with).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBNotFoundError, UnsupportedFormatError
from stash_sense.facedb.layout import MANIFEST_FILE, atomic_write_bytes
from stash_sense.facedb.types import EmbeddingModelInfo

FORMAT_VERSION = 1


class Counts(BaseModel):
    performers: int = Field(ge=0)
    faces: int = Field(ge=0)
    performers_with_faces: int = Field(ge=0)


class EmbeddingInfo(BaseModel):
    model: str
    dim: int = Field(gt=0)
    preprocessing: str
    metric: Literal["euclidean"] = "euclidean"
    normalized: bool = True

    @classmethod
    def from_model(cls, info: EmbeddingModelInfo) -> EmbeddingInfo:
        return cls(model=info.model, dim=info.dim, preprocessing=info.preprocessing, normalized=info.normalized)

    def to_model(self) -> EmbeddingModelInfo:
        return EmbeddingModelInfo(self.model, self.dim, self.preprocessing, self.normalized)


class IndexInfo(BaseModel):
    type: str
    params: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """The parsed ``manifest.json``. Unknown keys from newer writers are kept, not dropped."""

    model_config = ConfigDict(extra="allow")

    format_version: int = FORMAT_VERSION
    db_version: str
    created_at: str
    counts: Counts
    embedding: EmbeddingInfo
    detector: str
    sources: list[str] = Field(default_factory=list)
    calibration: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str]
    index: IndexInfo | None = None
    optimized_from: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def utc_now_iso() -> str:
    """Current UTC time as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return utc_now().isoformat().replace("+00:00", "Z")


def make_db_version(created: datetime, content_hash: str) -> str:
    """``<UTC timestamp>-<short content hash>``: sortable by time, unique per content."""
    return f"{created.strftime('%Y%m%dT%H%M%SZ')}-{content_hash[:12]}"


def write_manifest(directory: Path, manifest: Manifest) -> None:
    atomic_write_bytes(directory / MANIFEST_FILE, manifest.to_json().encode("utf-8"))


def load_manifest(directory: Path) -> Manifest:
    """Read and validate ``manifest.json`` from a DB directory, with errors a user can act on."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FaceDBNotFoundError(f"face DB directory not found: {directory}")
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise FaceDBNotFoundError(
            f"{path} is missing: {directory} is not a finished face DB "
            "(a build that never reached its final step has no manifest; re-run the build to finish it)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FaceDBCorruptError(
            f"{path} is not valid JSON ({exc}); the face DB is damaged, re-download or rebuild it"
        ) from exc
    if not isinstance(raw, dict):
        raise FaceDBCorruptError(f"{path} must hold a JSON object, found {type(raw).__name__}")
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"face DB {directory} uses format version {version}, but this Stash Sense reads up to "
            f"version {FORMAT_VERSION}; upgrade Stash Sense"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise FaceDBCorruptError(f"{path} is not a valid face-DB manifest: {problems}") from exc


def manifest_content(manifest: Manifest) -> dict[str, Any]:
    """What a ``db_version`` is derived from: the files and how they were made (not the time)."""
    return {
        "files": dict(manifest.files),
        "embedding": manifest.embedding.model_dump(),
        "detector": manifest.detector,
        "sources": list(manifest.sources),
        "calibration": manifest.calibration,
        "optimized_from": manifest.optimized_from,
    }


def hash_content(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, allow_nan=False).encode("utf-8")).hexdigest()
