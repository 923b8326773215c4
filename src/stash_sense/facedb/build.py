"""Build a face DB from a folder of labelled photos (``<performer name>/<images>``).

Resumable: every image is recorded as done (with its outcome) in the same transaction as its
faces, so an interrupted build picks up where it stopped and never double-counts a photo.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..faces.parallel import shared_pool
from ..faces.pipeline import FacePipeline, PipelineOptions
from ..faces.types import ImageFaces
from ..matching.calibration import load_default_calibration
from ..photos import list_identities
from . import EmbeddingModelInfo, FaceDBWriter, Identity
from .types import local_endpoint

# Two photos of a performer closer than this are the same photo (re-encoded or resized).
DUPLICATE_DISTANCE = 0.06


class BuildReport(BaseModel):
    out: str
    db_version: str
    performers: int
    performers_with_faces: int
    performers_without_faces: list[str]
    faces: int
    images_seen: int
    images_processed_now: int
    images_skipped: dict[str, int]
    elapsed_s: float


def _skip_reason(result: ImageFaces) -> str | None:
    if result.error:
        # Keep the reason's kind, not the file name, so counts group.
        return "unreadable: " + result.error.split(": ", 1)[-1].split(" (")[0]
    if not result.faces:
        return "no usable face"
    return None


def build_from_folder(
    folder: Path,
    out: Path,
    *,
    max_faces_per_performer: int | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> BuildReport:
    start = time.monotonic()
    folder = Path(folder)
    identities = list_identities(folder)
    pipeline = FacePipeline()
    info = pipeline.info
    model = EmbeddingModelInfo(info.model, info.dim, info.preprocessing, info.normalized)
    endpoint = local_endpoint(folder.resolve().name)
    options = PipelineOptions(expect_single_face=True)
    pool = shared_pool(workers)
    processed = 0
    with FaceDBWriter(Path(out), model, info.detector, resume=True) as writer:
        todo: list[tuple[str, int, Path]] = []
        for name in identities:
            pid = writer.upsert_performer(Identity(endpoint, name), name)
            todo.extend((name, pid, p) for p in identities[name] if not writer.is_source_done(_key(folder, p)))
        bar = Progress(
            TextColumn("[bold]building face DB"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), disable=not progress,
        )
        with bar:
            task = bar.add_task("images", total=len(todo))
            known: dict[int, list[np.ndarray]] = {}
            for (name, pid, path), result in zip(todo, pool.analyze_files([p for _, _, p in todo], options)):
                key = _key(folder, path)
                reason = _skip_reason(result)
                if reason is None:
                    face = result.faces[0]
                    vec = face.embedding
                    if pid not in known:
                        known[pid] = list(writer.performer_embeddings(pid))
                    if any(float(np.linalg.norm(vec - v)) < DUPLICATE_DISTANCE for v in known[pid]):
                        reason = "duplicate photo"
                    else:
                        writer.add_face(
                            pid, vec, source=key, quality=face.quality, detector=face.detector,
                            box=face.box.as_list(), extra={"quality_parts": face.quality_parts},
                        )
                        known[pid].append(vec)
                writer.mark_source_done(key, "ok" if reason is None else "skipped", reason)
                processed += 1
                bar.advance(task)
        if max_faces_per_performer:
            writer.cap_faces_per_performer(max_faces_per_performer)
        calibration = load_default_calibration(model.model).to_dict()
        manifest = writer.finalize(sources=[f"folder:{folder.resolve()}"], calibration=calibration)
        outcomes = writer.source_outcomes()
        counts = _face_counts(writer)
    names = {pid: name for name, pid in counts["names"].items()}
    without = sorted(names[pid] for pid, n in counts["faces"].items() if n == 0)
    return BuildReport(
        out=str(out),
        db_version=manifest.db_version,
        performers=len(counts["faces"]),
        performers_with_faces=sum(1 for n in counts["faces"].values() if n > 0),
        performers_without_faces=without,
        faces=sum(counts["faces"].values()),
        images_seen=sum(outcomes.values()),
        images_processed_now=processed,
        images_skipped={k: v for k, v in outcomes.items() if k != "ok"},
        elapsed_s=round(time.monotonic() - start, 2),
    )


def _key(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()


def _face_counts(writer: FaceDBWriter) -> dict:
    con = writer.connection
    faces = Counter()
    names = {}
    for pid, name, n in con.execute(
        "SELECT p.id, p.name, COUNT(f.id) FROM performers p LEFT JOIN faces f ON f.performer_id = p.id GROUP BY p.id"
    ):
        faces[pid] = n
        names[name] = pid
    return {"faces": faces, "names": names}
