"""Build a face DB from a folder of labelled photos (``<performer name>/<images>``).

Resumable: every image is recorded as done (with its outcome) in the same transaction as its
faces, so an interrupted build picks up where it stopped and never double-counts a photo.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..faces.parallel import shared_pool
from ..faces.pipeline import FacePipeline, PipelineOptions
from ..matching.calibration import load_default_calibration
from ..photos import list_identities
from . import FaceDBWriter, Identity
from .build_common import DUPLICATE_DISTANCE, build_embedder, face_counts, is_duplicate, model_info, progress_bar, skip_reason
from .types import local_endpoint

__all__ = ["DUPLICATE_DISTANCE", "BuildReport", "build_from_folder"]


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


def build_from_folder(
    folder: Path,
    out: Path,
    *,
    max_faces_per_performer: int | None = None,
    progress: bool = True,
    workers: int | None = None,
    embedder: str | None = None,
) -> BuildReport:
    start = time.monotonic()
    folder = Path(folder)
    identities = list_identities(folder)
    pipeline = FacePipeline(embedder=build_embedder(embedder, Path(out)))
    model = model_info(pipeline)
    endpoint = local_endpoint(folder.resolve().name)
    options = PipelineOptions(expect_single_face=True)
    pool = shared_pool(workers, embedder=model.model)
    processed = 0
    with FaceDBWriter(Path(out), model, pipeline.info.detector, resume=True) as writer:
        pending: list[tuple[str, int, Path]] = []
        for name in identities:
            pid = writer.upsert_performer(Identity(endpoint, name), name)
            pending.extend((name, pid, p) for p in identities[name] if not writer.is_source_done(_key(folder, p)))
        bar = progress_bar("building face DB", progress)
        with bar:
            task = bar.add_task("images", total=len(pending))
            known: dict[int, list[np.ndarray]] = {}
            for (name, pid, path), result in zip(pending, pool.analyze_files([p for _, _, p in pending], options)):
                key = _key(folder, path)
                reason = skip_reason(result)
                if reason is None:
                    face = result.faces[0]
                    vec = face.embedding
                    if pid not in known:
                        known[pid] = list(writer.performer_embeddings(pid))
                    if is_duplicate(vec, known[pid]):
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
        counts = face_counts(writer)
    return BuildReport(
        out=str(out),
        db_version=manifest.db_version,
        performers=len(counts.faces),
        performers_with_faces=counts.with_faces,
        performers_without_faces=counts.without_faces(),
        faces=counts.total,
        images_seen=sum(outcomes.values()),
        images_processed_now=processed,
        images_skipped={k: v for k, v in outcomes.items() if k != "ok"},
        elapsed_s=round(time.monotonic() - start, 2),
    )


def _key(folder: Path, path: Path) -> str:
    return path.relative_to(folder).as_posix()

