"""Pieces every face-DB build shares, whatever its source (a folder, Stash, a stash-box).

Keeping them in one place is what makes a face from a folder and a face from Stash
interchangeable: the same duplicate rule, the same skip reasons, the same counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..faces.embed import FaceEmbedder
from ..faces.pipeline import FacePipeline
from ..faces.types import ImageFaces
from .types import EmbeddingModelInfo
from .writer import FaceDBWriter

# Two photos of a performer closer than this are the same photo (re-encoded or resized).
DUPLICATE_DISTANCE = 0.06


def build_embedder(name: str | None, out: Path) -> FaceEmbedder:
    """The embedder a build uses: ``name``; else, when resuming a DB, the one it was started
    with; else the configured default. Its model must be installed (the error says how)."""
    from ..faces.catalog import embedder_name
    from .embedders import checked_embedder
    from .schema import META_MODEL, read_meta

    if name is None:
        db_file = Path(out) / "performers.db"
        if db_file.is_file():
            import sqlite3

            con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
            try:
                name = read_meta(con).get(META_MODEL)
            except sqlite3.Error:
                name = None
            finally:
                con.close()
    return checked_embedder(name or embedder_name(), "this build")


def model_info(pipeline: FacePipeline) -> EmbeddingModelInfo:
    """What the DB records about the embedder, so a query from another model is refused."""
    info = pipeline.info
    return EmbeddingModelInfo(info.model, info.dim, info.preprocessing, info.normalized)


def skip_reason(result: ImageFaces) -> str | None:
    """Why a performer image yields no face (``None`` when it does)."""
    if result.error:
        # Keep the reason's kind, not the file name, so counts group.
        return "unreadable: " + result.error.split(": ", 1)[-1].split(" (")[0]
    if not result.faces:
        return "no usable face"
    return None


def is_duplicate(vector: np.ndarray, known: list[np.ndarray], threshold: float = DUPLICATE_DISTANCE) -> bool:
    """True when ``vector`` is within ``threshold`` of a face already kept."""
    return any(float(np.linalg.norm(vector - v)) < threshold for v in known)


def progress_bar(label: str | None, enabled: bool) -> Progress:
    """A progress bar on stderr (stdout may carry a JSON report); without ``label`` each task
    shows its own description (one line per build stage)."""
    return Progress(
        TextColumn(f"[bold]{label}" if label else "[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled,
    )


@dataclass(frozen=True, slots=True)
class FaceCounts:
    """Faces per DB performer, and each performer's name."""

    faces: dict[int, int]
    names: dict[int, str]

    @property
    def total(self) -> int:
        return sum(self.faces.values())

    @property
    def with_faces(self) -> int:
        return sum(1 for n in self.faces.values() if n > 0)

    def without_faces(self) -> list[str]:
        return sorted(self.names[pid] for pid, n in self.faces.items() if n == 0)


def face_counts(writer: FaceDBWriter) -> FaceCounts:
    faces: Counter[int] = Counter()
    names: dict[int, str] = {}
    for pid, name, n in writer.connection.execute(
        "SELECT p.id, p.name, COUNT(f.id) FROM performers p LEFT JOIN faces f ON f.performer_id = p.id GROUP BY p.id"
    ):
        faces[pid] = n
        names[pid] = name
    return FaceCounts(dict(faces), names)
