"""Request and response models of the sidecar API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stash_sense.app.performers import ChosenPerformer
from stash_sense.app.resolution import Resolution
from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import SceneIdentification
from stash_sense.stash import RateLimiterMetrics
from stash_sense.userdb import FingerprintCoverage

#: Stash object ids are decimal integers.
STASH_ID_PATTERN = r"^[0-9]{1,18}$"

# -- health and capabilities ------------------------------------------------------------------


class StashStatus(BaseModel):
    configured: bool
    reachable: bool | None = Field(None, description="None when Stash is not configured.")
    version: str | None = None
    error: str | None = None


class FaceDBStatus(BaseModel):
    loaded: bool
    available: bool = Field(description="A face DB is present at the configured directory (loaded or not).")
    version: str | None = None
    swapping: bool = Field(description="A hot swap is in progress (identifications keep using the DB in service meanwhile).")
    error: str | None = None


class WorkStatus(BaseModel):
    workers: int
    running: int
    queued: int


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="'degraded' when the face DB or Stash is unusable.")
    version: str = Field(description="Stash Sense version.")
    python: str
    uptime_s: float
    face_db: FaceDBStatus
    models_loaded: bool
    stash: StashStatus
    work: WorkStatus


class RateLimiterResponse(BaseModel):
    limiters: list[RateLimiterMetrics]


class Features(BaseModel):
    identify_image: bool
    identify_scene_url: bool
    identify_stash_scene: bool
    apply_to_stash: bool
    fingerprints: bool
    local_paths: bool = Field(description="Scene identification may read local files (STASH_SENSE_MEDIA_ROOTS set).")
    hot_reload: bool = True


class Signals(BaseModel):
    face: bool = True
    body: bool = False
    tattoo: bool = False


class ModelsInfo(BaseModel):
    detector: str
    embedder: str
    loaded: bool


class Limits(BaseModel):
    max_upload_bytes: int
    max_image_pixels: int
    concurrency: int
    max_queue: int
    request_timeout_s: float


class Capabilities(BaseModel):
    face_db: FaceDBStatus
    models: ModelsInfo
    stash: StashStatus
    features: Features
    signals: Signals
    limits: Limits
    thumbnail_formats: list[str]


# -- database -----------------------------------------------------------------------------------


class DatabaseInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    directory: str
    db_version: str
    created_at: str
    performers: int
    faces: int
    performers_with_faces: int
    embedding_model: str
    embedding_dim: int
    detector: str
    sources: list[str]
    index: str | None
    face_count_buckets: dict[str, int] = Field(description="Performers per face-count bucket (0, 1, 2-3, 4-5, 6-10, 11+).")


class PerformerLinkOut(BaseModel):
    name: str = Field(description="The performer holding both identities.")
    a: str = Field(description="One identity, '<endpoint>#<stash_id>'.")
    b: str = Field(description="The other stash-box's identity of the same person.")
    kind: str = Field(description="The evidence: 'cross-reference' (a stash-box names the other's page) or 'face+name'.")
    distance: float | None = Field(None, description="Distance between their closest faces, when both have faces.")
    names: list[str] = Field(description="The names that agree, or the cross-referencing URL.")


class LinksResponse(BaseModel):
    db_version: str
    links: list[PerformerLinkOut]


class UnlinkRequest(BaseModel):
    identity: str = Field(description="The identity to split off its performer: '<stash-box GraphQL URL>#<stash_id>'.")
    confirm: bool = False


class UnlinkResponse(BaseModel):
    split: list[str]
    kept: list[str] = Field(description="The identities the performer keeps.")
    previous_version: str
    db_version: str


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="Must be true: swapping the face DB changes every later identification.")
    path: str | None = Field(None, max_length=4096, description="New face DB directory (default: the current one).")


class ReloadResponse(BaseModel):
    previous_version: str | None
    version: str
    directory: str
    verified_files: int
    elapsed_s: float


UpdatePhase: TypeAlias = Literal["idle", "checking", "downloading", "installing", "swapping", "completed", "failed", "rolled_back"]


class UpdateProgress(BaseModel):
    """The face-DB update job: at most one at a time, its last outcome kept until the next."""

    status: UpdatePhase
    from_version: str | None = None
    to_version: str | None = None
    kind: Literal["full", "delta"] | None = None
    bytes_done: int = 0
    bytes_total: int | None = None
    percent: float = 0.0
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class UpdateCheck(BaseModel):
    """What ``STASH_SENSE_FACE_DB_SOURCE`` offers compared with the installed face DB."""

    configured: bool = Field(description="An update source is set (STASH_SENSE_FACE_DB_SOURCE).")
    source: str | None = None
    installed_version: str | None
    installed_counts: dict[str, int] | None = None
    available_version: str | None = None
    available_created_at: str | None = None
    available_counts: dict[str, int] | None = None
    kind: Literal["full", "delta"] | None = Field(None, description="What the pack holds: the whole DB or the changes from one version.")
    base_version: str | None = Field(None, description="For a delta: the version it applies to.")
    applicable: bool = Field(False, description="It can be installed over the installed version (a delta needs its base).")
    update_available: bool = Field(False, description="Newer than the installed version and applicable.")
    size: int | None = Field(None, description="Bytes to download.")
    error: str | None = Field(None, description="Why the source could not be read (the sidecar keeps serving).")
    job: UpdateProgress


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="Must be true: the update replaces the face DB every identification uses.")


# -- identification -----------------------------------------------------------------------------


class IdentifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1, le=50, description="Candidates considered per face.")
    max_distance: float = Field(0.6, gt=0.0, le=2.0, description="Hard ceiling on descriptor distance.")
    min_face_confidence: float = Field(0.5, ge=0.0, le=1.0, description="Detector score a face needs.")
    min_confidence: float | None = Field(None, ge=0.0, le=1.0, description="Match confidence needed (default: calibrated).")
    min_face_size: int = Field(20, ge=8, le=4096, description="Smallest face side in pixels.")


class IdentifyJSONRequest(IdentifyOptions):
    image_url: str | None = Field(None, max_length=4096, description="http(s) URL of the image.")
    image_base64: str | None = Field(None, description="The image file, base64-encoded (a data: URL is accepted too).")

    @model_validator(mode="after")
    def _one_source(self) -> IdentifyJSONRequest:
        if (self.image_url is None) == (self.image_base64 is None):
            raise ValueError("give exactly one of image_url or image_base64 (or upload the file as multipart/form-data)")
        return self


class StashIdOut(BaseModel):
    endpoint: str
    stash_id: str


class MatchOut(BaseModel):
    performer_id: str = Field(description="Endpoint-qualified identity, '<endpoint>#<stash_id>'.")
    name: str
    distance: float
    confidence: float = Field(description="Calibrated probability that this performer is right.")
    accepted: bool
    rejected_because: str | None = None
    stash_ids: list[StashIdOut] = []


class FaceOut(BaseModel):
    box: list[int] = Field(description="[x, y, width, height] in image pixels.")
    score: float = Field(description="Detector score.")
    quality: float
    matches: list[MatchOut] = Field(description="Accepted performers, best first.")
    candidates: list[MatchOut] = Field(description="Every performer considered, accepted or not.")


class IdentifyResponse(BaseModel):
    width: int
    height: int
    face_db_version: str
    faces: list[FaceOut]
    elapsed_s: float


ThumbnailFormat = Literal["data_url", "url", "none"]
SourceKind = Literal["auto", "video", "sprite", "screenshot"]


class SceneIdentifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scene_id: str | None = Field(None, pattern=STASH_ID_PATTERN, description="A Stash scene id (frames come from Stash).")
    url: str | None = Field(
        None, min_length=1, max_length=4096, description="Video URL, or a local path under STASH_SENSE_MEDIA_ROOTS."
    )
    sprite_vtt: str | None = Field(None, max_length=4096, description="With url: a sprite VTT URL used when the video fails.")
    sprite_image: str | None = Field(None, max_length=4096)
    screenshot: str | None = Field(None, max_length=4096)
    source: SourceKind = Field("auto", description="Which frame source to use; auto = video, then sprites, then screenshot.")
    video_mode: Literal["fast", "accurate"] = Field(
        "fast", description="fast: each sample is the nearest keyframe (what `eval scenes` uses); accurate: the exact frame."
    )
    params: SceneParams = Field(default_factory=SceneParams, description="Every engine parameter; defaults as documented.")
    thumbnail_format: ThumbnailFormat = Field(
        "data_url", description="Person thumbnails as data URLs, as URLs to fetch from /identify/thumbnails, or none."
    )
    boost_tagged: bool = Field(
        True,
        description=(
            "With scene_id: boost performers already tagged on the scene, as the CLI does (unless params.tagged_performers is set)."
        ),
    )
    save_fingerprint: bool = Field(True, description="With scene_id: save the scene's fingerprint.")

    @model_validator(mode="after")
    def _one_source(self) -> SceneIdentifyRequest:
        if (self.scene_id is None) == (self.url is None):
            raise ValueError("give exactly one of scene_id or url")
        return self


class SceneIdentifyResponse(BaseModel):
    scene_id: str | None
    fingerprint_saved: bool
    result: SceneIdentification
    resolutions: dict[str, Resolution] | None = Field(
        None,
        description=(
            "With scene_id: each candidate's performer_id -> the Stash performer it is, or why none and whether it can be"
            " created from stash-box."
        ),
    )


class ApplyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool = Field(description="Must be true: this changes the scene in Stash.")
    performer_ids: list[Annotated[str, Field(pattern=STASH_ID_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="Stash performer ids to add."
    )
    identities: list[Annotated[str, Field(min_length=3, max_length=1024)]] = Field(
        default_factory=list,
        max_length=100,
        description="Performer identities from an identification ('<endpoint>#<stash_id>'); resolved to Stash performers.",
    )


# A performer an apply added, and the identity it was resolved from (the use case's own type).
AppliedPerformer = ChosenPerformer


class ApplyResponse(BaseModel):
    scene_id: str
    added: list[AppliedPerformer]
    scene_performer_ids: list[str] = Field(description="The scene's performers after the change.")


# -- fingerprints --------------------------------------------------------------------------------


class FingerprintStatus(BaseModel):
    face_db_version: str | None
    total_scenes: int | None = Field(description="Scenes in Stash; None when Stash cannot be asked.")
    fingerprinted: int
    coverage: float | None = Field(description="fingerprinted / total_scenes.")
    needs_refresh: int = Field(description="Fingerprints made with another face-DB version, or marked for refresh.")
    failed: int
    details: FingerprintCoverage
    stash_error: str | None = None
    job: JobProgress | None = None


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_outdated: bool = Field(False, description="Also redo fingerprints made with another face-DB version.")
    num_frames: int | None = Field(None, ge=1, le=600, description="Frames per scene (default: STASH_SENSE_FINGERPRINT_FRAMES).")


JobProgressStatus: TypeAlias = Literal["idle", "listing", "running", "stopping", "stopped", "completed", "failed"]


class JobProgress(BaseModel):
    job_id: int | None
    status: JobProgressStatus
    refresh_outdated: bool | None = None
    num_frames: int | None = None
    face_db_version: str | None = None
    total: int = 0
    done: int = 0
    failed: int = 0
    remaining: int = 0
    percent: float = 0.0
    current_scene: str | None = None
    seconds_per_scene: float | None = None
    eta_s: float | None = Field(None, description="Estimated seconds left, from this job's average time per scene.")
    error: str | None = None
    recent_failures: list[str] = []
    created_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None


class RefreshAllResponse(BaseModel):
    marked_for_refresh: int
    job: JobProgress


FingerprintStatus.model_rebuild()
