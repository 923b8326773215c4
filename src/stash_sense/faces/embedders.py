"""Face embedders by name: the model catalog's entry and variant -> a runnable embedder."""

from __future__ import annotations

from .catalog import embedder_name, embedder_variant
from .embed import DlibResNetEmbedder, FaceEmbedder
from .embed_onnx import OnnxFaceEmbedder


def create_embedder(name: str | None = None) -> FaceEmbedder:
    """The embedder called ``name`` (default: the configured one, ``STASH_SENSE_EMBEDDER``);
    ``ValueError`` for a name the catalog does not know. Nothing is loaded yet."""
    entry, variant = embedder_variant(name or embedder_name())
    if entry.runtime == "dlib":
        return DlibResNetEmbedder(entry.name, flip=variant.flip)
    return OnnxFaceEmbedder(entry.name, flip=variant.flip)
