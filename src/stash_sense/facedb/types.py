"""Plain value types of the face database (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Identities print as ``<endpoint>#<stash_id>``. Endpoints are GraphQL URLs (which never carry a
# fragment) or local namespaces built with :func:`local_endpoint` (which escapes ``#``), so the
# first ``#`` always separates the two parts and stash ids may contain ``#`` freely.
_SEPARATOR = "#"


@dataclass(frozen=True, slots=True)
class Identity:
    """A performer's identity in one namespace: a stash-box endpoint URL plus its stash id.

    Identities are always endpoint-qualified: the same UUID on two stash-box instances names two
    different performers. ``str(identity)`` is ``"<endpoint>#<stash_id>"`` and
    :meth:`parse` reverses it.
    """

    endpoint: str
    stash_id: str

    def __post_init__(self) -> None:
        if not self.endpoint or not self.endpoint.strip():
            raise ValueError("identity endpoint must not be empty")
        if _SEPARATOR in self.endpoint:
            raise ValueError(f"identity endpoint must not contain {_SEPARATOR!r}: {self.endpoint!r}")
        if not self.stash_id or not self.stash_id.strip():
            raise ValueError(f"identity stash_id must not be empty (endpoint {self.endpoint!r})")

    def __str__(self) -> str:
        return f"{self.endpoint}{_SEPARATOR}{self.stash_id}"

    @classmethod
    def parse(cls, text: str) -> Identity:
        """Parse ``"<endpoint>#<stash_id>"`` as produced by ``str(identity)``."""
        endpoint, sep, stash_id = text.partition(_SEPARATOR)
        if not sep:
            raise ValueError(f"not an identity (expected '<endpoint>#<stash_id>'): {text!r}")
        return cls(endpoint, stash_id)


def local_endpoint(label: str) -> str:
    """The endpoint of a local namespace (e.g. a folder of labelled photos): ``local:<label>``.

    ``%`` and ``#`` are percent-escaped so that any folder label yields a valid endpoint.
    """
    if not label:
        raise ValueError("local endpoint label must not be empty")
    return "local:" + label.replace("%", "%25").replace("#", "%23")


@dataclass(frozen=True, slots=True)
class EmbeddingModelInfo:
    """Which embedder produced the vectors; two DBs (or a DB and a query) must agree on it."""

    model: str
    dim: int
    preprocessing: str
    normalized: bool = True

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("embedding model name must not be empty")
        if self.dim <= 0:
            raise ValueError(f"embedding dim must be positive, got {self.dim}")

    def describe(self) -> str:
        return f"{self.model} (dim {self.dim}, preprocessing {self.preprocessing!r})"


@dataclass(frozen=True, slots=True)
class FaceHit:
    """One reference face near a query; ``distance`` is Euclidean."""

    face_id: int
    performer_id: int
    distance: float


@dataclass(frozen=True, slots=True)
class PerformerRecord:
    """Everything the DB knows about one performer (without the face vectors)."""

    id: int
    name: str
    disambiguation: str | None
    gender: str | None
    country: str | None
    image_url: str | None
    face_count: int
    identities: list[Identity] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    has_body: bool = False
    has_tattoo: bool = False

    @property
    def primary_identity(self) -> Identity | None:
        """The identity the performer was first added under."""
        return self.identities[0] if self.identities else None
