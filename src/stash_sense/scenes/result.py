"""Typed result of a scene identification (serialised as-is by the API and the CLI)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .params import SceneParams


class CandidateResult(BaseModel):
    performer_id: str = Field(description="Endpoint-qualified identity, '<endpoint>#<stash_id>'.")
    name: str
    stash_ids: list[dict[str, str]] = []
    distance: float = Field(description="Best descriptor distance to the performer's faces.")
    confidence: float = Field(description="Calibrated probability that this performer is right.")
    score: float = Field(description="Confidence plus hybrid/tagged boosts; what min_confidence is compared with.")
    appearances: int = Field(description="Faces that matched this performer.")
    unique_frames: int
    person: int | None = Field(None, description="The person cluster this candidate was matched from.")
    found_by: list[str] = Field(default_factory=list, description="'cluster' and/or 'frequency'.")
    accepted: bool = False
    rejected_because: list[str] = []


class PersonResult(BaseModel):
    person: int
    faces: int
    frames: list[int]
    timestamps: list[float]
    thumbnail: str | None = Field(None, description="data:image/jpeg;base64 crop of the person's best face.")
    thumbnails: list[str] = Field(default_factory=list, description="Crops from up to 4 frames spread over the scene, in time order.")
    best_match: CandidateResult | None = None
    candidates: list[CandidateResult] = []


class SceneTotals(BaseModel):
    frames_requested: int
    frames_analysed: int
    frame_failures: int
    faces_detected: int
    faces_after_filter: int
    persons_clustered: int
    persons_considered: int = Field(description="Clusters with at least min_appearances faces (the performer cap).")


class SceneIdentification(BaseModel):
    source: str
    source_kind: str
    face_db_version: str
    params: SceneParams
    performers: list[CandidateResult] = Field(description="Accepted performers, best first.")
    persons: list[PersonResult]
    diagnostics: list[CandidateResult] = Field(description="Every candidate considered, accepted or not, with why.")
    totals: SceneTotals
    timings: dict[str, float] = Field(description="Seconds per stage.")
    frame_failures: list[str] = []
