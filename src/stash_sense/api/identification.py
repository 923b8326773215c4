"""The calls that run in worker threads: they hand the work to the recognition engine and
shape its answer; no model code lives here."""

from __future__ import annotations

import time

from stash_sense.api.errors import too_large, unprocessable
from stash_sense.api.media import check_pixels
from stash_sense.api.scene_sources import SourcePlan
from stash_sense.api.schemas import FaceOut, IdentifyOptions, IdentifyResponse, MatchOut, StashIdOut
from stash_sense.faces.imageio import ImageReadError, decode_image
from stash_sense.faces.parallel import shared_pool
from stash_sense.faces.pipeline import PipelineOptions
from stash_sense.matching import MatchParams
from stash_sense.recognition import PerformerMatch, Recognizer
from stash_sense.scenes.engine import SceneEngine
from stash_sense.scenes.params import SceneParams
from stash_sense.scenes.result import SceneIdentification


def _match(m: PerformerMatch) -> MatchOut:
    return MatchOut(
        performer_id=m.performer_id, name=m.name, distance=round(m.distance, 4), confidence=round(m.confidence, 4),
        accepted=m.accepted, rejected_because=m.rejected_because,
        stash_ids=[StashIdOut(endpoint=s["endpoint"], stash_id=s["stash_id"]) for s in m.stash_ids],
    )


def identify_image_bytes(recognizer: Recognizer, data: bytes, options: IdentifyOptions, max_pixels: int) -> IdentifyResponse:
    started = time.perf_counter()
    check_pixels(data, max_pixels)
    try:
        image = decode_image(data, max_pixels=max_pixels, name="image")
    except ImageReadError as exc:
        if "decompression bomb" in str(exc) or "MP limit" in str(exc):
            raise too_large(str(exc)) from None
        raise unprocessable(str(exc), error="unreadable_image") from None
    params = MatchParams(top_k=options.top_k, max_distance=options.max_distance, min_confidence=options.min_confidence)
    pipeline_options = PipelineOptions(min_face_size=options.min_face_size, min_detector_score=options.min_face_confidence)
    # Embedding in the shared worker pool uses every core; in this thread it would hold the GIL.
    pool = shared_pool(embedder=recognizer.pipeline.embedder.model_name)
    found = recognizer.identify_image(image, params, pipeline_options, pool=pool)
    faces = [
        FaceOut(
            box=f.face.box.as_list(), score=round(f.face.score, 4), quality=round(f.face.quality, 4),
            matches=[_match(m) for m in f.matches], candidates=[_match(m) for m in f.candidates],
        )
        for f in found
    ]
    return IdentifyResponse(
        width=int(image.shape[1]), height=int(image.shape[0]), face_db_version=recognizer.db.version, faces=faces,
        elapsed_s=round(time.perf_counter() - started, 4),
    )


def identify_scene(recognizer: Recognizer, plan: SourcePlan, params: SceneParams) -> SceneIdentification:
    """Open the frame source and run the scene engine; ``FrameSourceError`` reaches the caller."""
    source = plan.open()
    try:
        return SceneEngine(recognizer).identify(source, params)
    finally:
        source.close()
