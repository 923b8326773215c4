"""Every scene-identification parameter, with its default and valid range."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ..faces.catalog import scene_max_distance

MatchingMode = Literal["frequency", "cluster", "hybrid"]


class SceneParams(BaseModel):
    """Per-call parameters; the API, CLI, config and benchmark all build this one model."""

    model_config = {"extra": "forbid"}

    num_frames: int = Field(60, ge=1, le=600, description="Frames sampled between the offsets.")
    start_offset_pct: float = Field(0.05, ge=0.0, lt=1.0)
    end_offset_pct: float = Field(0.95, gt=0.0, le=1.0)
    matching_mode: MatchingMode = "hybrid"
    min_face_size: int = Field(40, ge=8, le=4096, description="Smallest face side (px) used for matching.")
    min_face_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Detector score a face needs.")
    min_face_quality: float = Field(0.15, ge=0.0, le=1.0, description="Quality (size, sharpness, pose) a face needs.")
    cluster_threshold: float = Field(0.5, gt=0.0, le=2.0, description="Average-linkage distance that joins faces into one person.")
    max_distance: float = Field(
        0.6, gt=0.0, le=2.0,
        description="Hard ceiling on a performer's distance (left unset: the embedder's scene ceiling in the model catalog, if it has one).",
    )
    top_k: int = Field(5, ge=1, le=50)
    min_appearances: int = Field(2, ge=1, description="Faces a performer must match.")
    min_unique_frames: int = Field(2, ge=1, description="Distinct frames those faces must come from.")
    min_confidence: float | None = Field(
        None, ge=0.0, le=1.0, description="Score a performer needs (default: the face DB's calibrated operating point)."
    )
    # The field's 0.25 was tuned for an uncalibrated 1 - distance score. Our confidence is already a
    # calibrated probability and both routes see the same faces, so their agreement is no new
    # evidence: on the celeb17 library even +0.05 let unknown people through. Tunable per call.
    hybrid_boost: float = Field(0.0, ge=0.0, le=1.0, description="Added when frequency and cluster matching agree.")
    tagged_boost: float = Field(0.05, ge=0.0, le=1.0, description="Added for performers already tagged on the scene.")
    tagged_performers: list[str] = Field(default_factory=list, description="Identities already tagged on the scene.")
    cap_by_clusters: bool = Field(True, description="Report no more performers than person clusters.")
    thumbnails: bool = Field(True, description="Include a JPEG face crop per person.")

    def for_embedder(self, model_name: str) -> SceneParams:
        """These parameters with the embedder's scene ceiling when ``max_distance`` was not set."""
        ceiling = scene_max_distance(model_name)
        if "max_distance" in self.model_fields_set or ceiling is None:
            return self
        resolved = self.model_copy(update={"max_distance": ceiling})
        # Still "unset" as far as the caller is concerned, so resolving again is harmless.
        resolved.model_fields_set.discard("max_distance")
        return resolved

    @model_validator(mode="after")
    def _offsets(self) -> SceneParams:
        if self.start_offset_pct >= self.end_offset_pct:
            raise ValueError("start_offset_pct must be below end_offset_pct")
        return self
