"""The matcher's acceptance rule replayed on modelled galleries of any size.

The calibrated confidence depends on the nearest performer's distance and on how it stands out
from the next ones (margin, cohort z-score), and both move as a gallery grows: an unknown face
finds a nearer stranger, but also nearer second and third strangers. Drawing the
``cohort_size + 1`` nearest impostors from :class:`~.impostor_tail.ImpostorModel` and computing
the same features as :func:`stash_sense.matching.match_features` gives the false-accept rate of a
confidence threshold at 10,000 or 100,000 identities, and, with each known probe's measured
distance to its own identity put among them, the accepted-correct rate there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..matching import Calibration
from .impostor_tail import Floats, ImpostorModel


def top_confidence(reported: Floats, cal: Calibration) -> Floats:
    """The matcher's confidence in the first column of each row of performer distances (rows
    sorted ascending): ``match_features(row, 0, cal)`` through the calibration, vectorised."""
    profile = np.broadcast_to(np.asarray(cal.stranger_profile, dtype=np.float64), (len(reported), len(cal.stranger_profile)))
    others = np.sort(np.concatenate([reported[:, 1:], profile], axis=1), axis=1)[:, : cal.cohort_size]
    nearest = reported[:, 0]
    sigma = np.maximum(others.std(axis=1), 0.02)
    features = np.stack([nearest, others[:, 0] - nearest, (others.mean(axis=1) - nearest) / sigma], axis=1)
    return cal.probability(features)


@dataclass(slots=True)
class Replay:
    """The top candidate of each simulated query: its confidence and distance, and (for known
    probes) whether it is the probe's own identity."""

    confidence: Floats
    distance: Floats
    correct: np.ndarray | None = None

    def top1(self) -> float:
        """Known probes: the share whose top candidate is right, accepted or not."""
        return float(self.correct.mean()) if self.correct is not None and len(self.correct) else 0.0

    def accepted(self, min_confidence: float, max_distance: float) -> np.ndarray:
        return (self.confidence >= min_confidence) & (self.distance <= max_distance)

    def accept_rate(self, min_confidence: float, max_distance: float) -> float:
        """Unknown probes: the false-accept rate; known probes: the accepted-correct rate."""
        ok = self.accepted(min_confidence, max_distance)
        if self.correct is not None:
            ok = ok & self.correct
        return float(ok.mean())


def replay_unknown(model: ImpostorModel, counts: Sequence[int], cal: Calibration, reps: int, rng: np.random.Generator) -> Replay:
    """Unknown queries against a modelled gallery: every identity is an impostor."""
    _, reported = model.sample_nearest(counts, cal.cohort_size + 1, reps, rng)
    # The matcher ranks candidates by their nearest face, then by the nearer of face and centroid.
    reported = np.sort(reported, axis=1)
    return Replay(top_confidence(reported, cal), reported[:, 0])


def replay_known(
    model: ImpostorModel,
    counts: Sequence[int],
    genuine_face: Floats,
    genuine_reported: Floats,
    cal: Calibration,
    reps_per_probe: int,
    rng: np.random.Generator,
) -> Replay:
    """Known queries: each probe's measured distances to its own identity among modelled impostors."""
    k = cal.cohort_size + 1
    g_face = np.repeat(np.asarray(genuine_face, dtype=np.float64), reps_per_probe)
    g_rep = np.repeat(np.asarray(genuine_reported, dtype=np.float64), reps_per_probe)
    imp_face, imp_rep = model.sample_nearest(counts, k, len(g_face), rng)
    face = np.concatenate([g_face[:, None], imp_face], axis=1)
    rep = np.concatenate([g_rep[:, None], imp_rep], axis=1)
    # The k candidates with the nearest faces (column 0 is the genuine identity) ...
    chosen = np.argsort(face, axis=1, kind="stable")[:, :k]
    rep, is_genuine = np.take_along_axis(rep, chosen, axis=1), chosen == 0
    # ... ranked by their reported distances.
    order = np.argsort(rep, axis=1, kind="stable")
    rep, is_genuine = np.take_along_axis(rep, order, axis=1), np.take_along_axis(is_genuine, order, axis=1)
    return Replay(top_confidence(rep, cal), rep[:, 0], is_genuine[:, 0])


def smallest_passing(rates: dict[float, float], target: float) -> float | None:
    """The smallest threshold whose rate is at most ``target`` (None when none is)."""
    passing = [t for t, r in sorted(rates.items()) if r <= target]
    return passing[0] if passing else None
