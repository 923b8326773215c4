"""The recognition engine: face pipeline + face DB + performer matcher.

One object that the CLI, the API, the scene engine and the benchmark all use, so they can
never disagree about how a face becomes a performer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .facedb import FaceDB
from .facedb.embedders import embedder_for_db
from .faces.parallel import FaceWorkerPool
from .faces.pipeline import FacePipeline, PipelineOptions
from .faces.types import Face, ImageFaces
from .matching import Calibration, Candidate, MatchParams, PerformerMatcher, load_default_calibration
from .matching.gallery import performer_centroids


@dataclass(frozen=True, slots=True)
class PerformerLabel:
    """How a face-DB performer is shown: its primary identity, name and every stash ID."""

    identity: str  # endpoint-qualified, e.g. "https://stashdb.org/graphql#<uuid>"
    name: str
    stash_ids: list[dict[str, str]]

    @classmethod
    def unknown(cls, db_id: int) -> PerformerLabel:
        return cls(f"facedb#{db_id}", "?", [])


@dataclass(slots=True)
class PerformerMatch:
    performer_id: str  # endpoint-qualified identity, e.g. "https://stashdb.org/graphql#<uuid>"
    db_id: int
    name: str
    distance: float
    confidence: float
    accepted: bool
    rejected_because: str | None = None
    stash_ids: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "performer_id": self.performer_id,
            "name": self.name,
            "distance": round(self.distance, 4),
            "confidence": round(self.confidence, 4),
            "stash_ids": self.stash_ids,
        }


@dataclass(slots=True)
class FaceIdentification:
    face: Face
    candidates: list[PerformerMatch]

    @property
    def matches(self) -> list[PerformerMatch]:
        return [c for c in self.candidates if c.accepted]


class Recognizer:
    """Identifies faces against one face DB. Thread-safe; models load lazily."""

    def __init__(self, db: FaceDB, pipeline: FacePipeline | None = None) -> None:
        self.pipeline = pipeline or FacePipeline()
        # Refuse a DB whose vectors come from another model: distances would be meaningless.
        db.check_model(self.pipeline.embedder.model_name)
        self.db = db
        cal = db.manifest.calibration
        calibration = Calibration.from_dict(cal) if cal else load_default_calibration(self.pipeline.embedder.model_name)
        # The default operating point depends on how many performers an unknown face could be
        # mistaken for (the calibration's operating_points; unchanged below ~3,000).
        self.calibration = calibration.for_gallery_size(db.manifest.counts.performers_with_faces)
        vectors, performer_ids = db.embeddings()
        self.matcher = PerformerMatcher(db, self.calibration, performer_centroids(vectors, performer_ids))
        self._names: dict[int, PerformerLabel] = {}
        self._names_lock = threading.Lock()

    @classmethod
    def open(cls, db_dir: Path, pipeline: FacePipeline | None = None) -> Recognizer:
        """Open the face DB in ``db_dir`` with a pipeline running the embedder the DB was built
        with (``pipeline``, when given, must run that embedder)."""
        if pipeline is None:
            pipeline = FacePipeline(embedder=embedder_for_db(Path(db_dir)))
        return cls(FaceDB.open(Path(db_dir), expected_model=pipeline.embedder.model_name), pipeline)


    def describe(self, db_ids: list[int]) -> dict[int, PerformerLabel]:
        """The label of each DB performer id (ids missing from the DB are left out), cached."""
        missing = [i for i in set(db_ids) if i not in self._names]
        if missing:
            records = self.db.performers(missing)
            with self._names_lock:
                for pid, rec in records.items():
                    ident = str(rec.identities[0]) if rec.identities else f"facedb#{pid}"
                    stash_ids = [{"endpoint": i.endpoint, "stash_id": i.stash_id} for i in rec.identities]
                    self._names[pid] = PerformerLabel(ident, rec.name, stash_ids)
        return {i: self._names[i] for i in db_ids if i in self._names}

    def label(self, db_id: int) -> PerformerLabel:
        return self.describe([db_id]).get(db_id) or PerformerLabel.unknown(db_id)

    def to_matches(self, candidates: list[Candidate]) -> list[PerformerMatch]:
        info = self.describe([c.performer_id for c in candidates])
        out = []
        for c in candidates:
            label = info.get(c.performer_id) or PerformerLabel.unknown(c.performer_id)
            out.append(PerformerMatch(label.identity, c.performer_id, label.name, c.distance, c.confidence, c.accepted,
                                      c.rejected_because, label.stash_ids))
        return out

    def match_embeddings(self, embeddings: np.ndarray, params: MatchParams = MatchParams()) -> list[list[PerformerMatch]]:
        if len(embeddings) == 0:
            return []
        return [self.to_matches(c) for c in self.matcher.match(np.asarray(embeddings, dtype=np.float32), params)]

    def identify_faces(self, faces: list[Face], params: MatchParams = MatchParams()) -> list[FaceIdentification]:
        with_vec = [f for f in faces if f.embedding is not None]
        matches = self.match_embeddings(np.stack([f.embedding for f in with_vec]) if with_vec else np.zeros((0, 0)), params)
        return [FaceIdentification(f, m) for f, m in zip(with_vec, matches)]

    def identify_image(
        self,
        image: np.ndarray,
        params: MatchParams = MatchParams(),
        options: PipelineOptions = PipelineOptions(),
        pool: FaceWorkerPool | None = None,
    ) -> list[FaceIdentification]:
        """Identify every face in ``image``. With ``pool`` (whose embedder must match), the
        descriptors are computed in its worker processes: dlib holds the GIL, so concurrent
        callers in threads would otherwise share one core."""
        if pool is None:
            return self.identify_faces(self.pipeline.analyze(image, options), params)
        faces = self.pipeline.find_faces(image, options).faces
        if faces:
            self.pipeline.attach(faces, pool.embed_chips([f.crop for f in faces], self.pipeline.embedder.dim))
        if not options.keep_crops:
            for face in faces:
                face.crop = None
        return self.identify_faces(faces, params)

    def identify_result(self, result: ImageFaces, params: MatchParams = MatchParams()) -> list[FaceIdentification]:
        return self.identify_faces(result.faces, params)
