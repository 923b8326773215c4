"""Typed views of what we read from Stash and stash-box.

The models mirror the fields selected in :mod:`stash_sense.stash.documents` and ignore anything
else, so a newer Stash that returns more never breaks us. Missing optional fields default to
empty values for the same reason.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

from .ratelimit import target_key


def _none_to_empty_list(value: object) -> object:
    # GraphQL lists are often nullable; treat null like "none".
    return [] if value is None else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


# ---------------------------------------------------------------------------------------------
# Identities


def normalize_endpoint(endpoint: str) -> str:
    """Canonical form of a stash-box endpoint URL, for comparing identities.

    ``https://StashDB.org/graphql/`` and ``https://stashdb.org/graphql`` are the same endpoint.
    """
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError("a stash-box endpoint must be a non-empty URL")
    try:
        return target_key(endpoint)
    except ValueError:
        raise ValueError(f"a stash-box endpoint must be an absolute http(s) URL, got {endpoint!r}") from None


class Identity(_Model):
    """A performer's (or scene's) identity on one stash-box: endpoint URL + stash_id.

    Identities are always endpoint-qualified: the same UUID on two endpoints is two different
    identities. The endpoint is normalised so that equal identities compare and hash equal.
    Text form (for database keys and logs): ``<endpoint>#<stash_id>``.
    """

    endpoint: str
    stash_id: str

    @field_validator("endpoint")
    @classmethod
    def _norm_endpoint(cls, value: str) -> str:
        return normalize_endpoint(value)

    @field_validator("stash_id")
    @classmethod
    def _norm_id(cls, value: str) -> str:
        value = value.strip() if isinstance(value, str) else value
        if not value:
            raise ValueError("stash_id must be a non-empty string")
        if "#" in value:
            raise ValueError(f"stash_id must not contain '#': {value!r}")
        return value

    def __str__(self) -> str:
        return f"{self.endpoint}#{self.stash_id}"

    @classmethod
    def parse(cls, text: str) -> Identity:
        """Inverse of ``str(identity)``."""
        endpoint, sep, stash_id = text.rpartition("#")
        if not sep:
            raise ValueError(f"expected '<endpoint URL>#<stash_id>', got {text!r}")
        return cls(endpoint=endpoint, stash_id=stash_id)


class StashID(_Model):
    """A stash-box link as Stash stores it (endpoint string kept exactly as Stash has it)."""

    endpoint: str
    stash_id: str

    @property
    def identity(self) -> Identity:
        return Identity(endpoint=self.endpoint, stash_id=self.stash_id)

    def to_input(self) -> dict[str, str]:
        """As a ``StashIDInput`` for mutations."""
        return {"endpoint": self.endpoint, "stash_id": self.stash_id}


StashIDList = Annotated[list[StashID], BeforeValidator(_none_to_empty_list)]


def stash_id_for(stash_ids: list[StashID], endpoint: str) -> StashID | None:
    """The link to ``endpoint`` (compared in canonical form), if any."""
    wanted = normalize_endpoint(endpoint)
    for sid in stash_ids:
        try:
            if normalize_endpoint(sid.endpoint) == wanted:
                return sid
        except ValueError:
            continue
    return None


# ---------------------------------------------------------------------------------------------
# Stash


class Version(_Model):
    version: str | None = None
    hash: str = ""
    build_time: str = ""


class StashBoxConfig(_Model):
    """A stash-box configured in Stash; the API key is a SecretStr so it never prints."""

    endpoint: str
    api_key: SecretStr = SecretStr("")
    name: str = ""
    max_requests_per_minute: int = 0

    @property
    def requests_per_minute(self) -> int:
        """Stash's budget for this endpoint (0 in the configuration means Stash's default, 240)."""
        return self.max_requests_per_minute if self.max_requests_per_minute > 0 else 240


class Fingerprint(_Model):
    type: str
    value: str


class VideoFile(_Model):
    id: str
    path: str = ""
    basename: str = ""
    size: int = 0
    width: int = 0
    height: int = 0
    duration: float = 0.0
    frame_rate: float = 0.0
    bit_rate: int = 0
    video_codec: str = ""
    fingerprints: Annotated[list[Fingerprint], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)

    def fingerprint(self, type: str) -> str | None:
        """The fingerprint of a given type (``md5``, ``oshash``, ``phash``), if computed."""
        for fp in self.fingerprints:
            if fp.type == type:
                return fp.value
        return None

    @property
    def short_side(self) -> int:
        """The frame's shorter side: what "720p" really measures (portrait videos included)."""
        return min(self.width, self.height)


class ScenePaths(_Model):
    screenshot: str | None = None
    preview: str | None = None
    stream: str | None = None
    sprite: str | None = None
    vtt: str | None = None


class SceneStream(_Model):
    url: str
    mime_type: str | None = None
    label: str | None = None


class PerformerRef(_Model):
    """A performer as listed on a scene."""

    id: str
    name: str
    disambiguation: str | None = None
    gender: str | None = None
    stash_ids: StashIDList = Field(default_factory=list)


class Scene(_Model):
    id: str
    title: str | None = None
    date: str | None = None
    organized: bool = False
    updated_at: str | None = None
    files: Annotated[list[VideoFile], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    paths: ScenePaths = Field(default_factory=ScenePaths)
    stash_ids: StashIDList = Field(default_factory=list)
    performers: Annotated[list[PerformerRef], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    scene_streams: Annotated[list[SceneStream], BeforeValidator(_none_to_empty_list)] = Field(
        default_factory=list, alias="sceneStreams"
    )

    @property
    def primary_file(self) -> VideoFile | None:
        """Stash lists the primary file first."""
        return self.files[0] if self.files else None

    @property
    def duration(self) -> float:
        return self.primary_file.duration if self.primary_file else 0.0

    def identities(self) -> list[Identity]:
        return [sid.identity for sid in self.stash_ids]


class Performer(_Model):
    id: str
    name: str
    disambiguation: str | None = None
    gender: str | None = None
    country: str | None = None
    alias_list: Annotated[list[str], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    image_path: str | None = None
    scene_count: int = 0
    stash_ids: StashIDList = Field(default_factory=list)

    @property
    def has_image(self) -> bool:
        """False when Stash would serve its generated placeholder (``default=true``), not a photo."""
        if not self.image_path:
            return False
        query = parse_qs(urlsplit(self.image_path).query)
        return query.get("default", ["false"])[-1].lower() != "true"

    def identities(self) -> list[Identity]:
        return [sid.identity for sid in self.stash_ids]


class Tag(_Model):
    id: str
    name: str
    aliases: Annotated[list[str], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)


class SceneUpdateResult(_Model):
    """What bulkSceneUpdate gives back: each scene with its performer ids after the update."""

    id: str
    performer_ids: list[str]


# ---------------------------------------------------------------------------------------------
# stash-box


class StashBoxImage(_Model):
    id: str
    url: str
    width: int = 0
    height: int = 0


class StashBoxURL(_Model):
    url: str


class StashBoxPerformerPage(_Model):
    """One page of ``queryPerformers``: the total and this page's performers."""

    count: int
    performers: list[StashBoxPerformer]


class StashBoxPerformer(_Model):
    """A performer on a stash-box; ``endpoint`` is filled in by the client."""

    endpoint: str = ""
    id: str
    name: str
    disambiguation: str | None = None
    aliases: Annotated[list[str], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    gender: str | None = None
    country: str | None = None
    deleted: bool = False
    merged_into_id: str | None = None
    images: Annotated[list[StashBoxImage], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    # Filled by the crawl's listing (``queryPerformers``); a single ``findPerformer`` leaves them empty.
    merged_ids: Annotated[list[str], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)
    updated: str | None = None
    urls: Annotated[list[StashBoxURL], BeforeValidator(_none_to_empty_list)] = Field(default_factory=list)

    @property
    def identity(self) -> Identity:
        return Identity(endpoint=self.endpoint, stash_id=self.id)


StashBoxPerformerPage.model_rebuild()
