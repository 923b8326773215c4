"""Which embedder a face DB needs, and whether this installation can run it.

A face DB's vectors only mean something to the model that made them, so the DB decides the
model: the CLI, the sidecar and the benchmark all open the embedder its manifest names.
"""

from __future__ import annotations

from pathlib import Path

from ..faces.embed import FaceEmbedder
from ..faces.embedders import create_embedder
from ..faces.models import ModelLoadError
from .errors import EmbedderUnavailableError
from .manifest import load_manifest


def db_embedder_name(db_dir: Path) -> str:
    """The embedder a face DB was built with (from its manifest)."""
    return load_manifest(Path(db_dir)).embedding.model


def embedder_for_db(db_dir: Path) -> FaceEmbedder:
    """The embedder a face DB names, checked to be runnable here (its model file installed);
    raises :class:`EmbedderUnavailableError` saying how to fix it."""
    return checked_embedder(db_embedder_name(db_dir), f"face DB {db_dir}")


def checked_embedder(name: str, user: str) -> FaceEmbedder:
    """``create_embedder(name)`` whose model files are present; ``user`` names who needs it."""
    try:
        embedder = create_embedder(name)
    except ValueError as exc:
        raise EmbedderUnavailableError(f"{user} uses the embedder {name!r}, which this version does not know ({exc})") from None
    try:
        embedder.check_available()
    except ModelLoadError as exc:
        raise EmbedderUnavailableError(f"{user} needs the embedder {name}: {exc}") from None
    return embedder
