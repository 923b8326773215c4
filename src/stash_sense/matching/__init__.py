"""Performer-level matching of face embeddings against a gallery, with calibrated confidence."""

from .calibration import Calibration, load_default_calibration
from .gallery import ArrayGallery
from .matcher import Candidate, MatchParams, PerformerMatcher, match_features
from .types import PerformerHit

__all__ = [
    "ArrayGallery",
    "Calibration",
    "Candidate",
    "MatchParams",
    "PerformerHit",
    "PerformerMatcher",
    "load_default_calibration",
    "match_features",
]
