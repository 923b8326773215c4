"""How sure we are that two scenes are the same, and how much each signal contributed.

Three signals can raise a duplicate-scene recommendation: the same stash-box scene ID (certain),
the perceptual hash of the video (exact, near, far), and the timeline of Stash's sprite
thumbnails lining up at an offset (a copy with a cut intro). Face fingerprints and metadata only
move the confidence of a pair that one of those already found: no recommendation is ever
raised from them alone, because "same performers, same studio" describes different scenes of
a series far more often than it describes one scene twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from stash_sense.recommendations.sprite_match import TimelineMatch
from stash_sense.userdb import IndexedScene

#: Bump when the scoring or candidate rules change: the next run is then a full one.
LOGIC_VERSION = 2

PHASH_EXACT = 0
PHASH_NEAR = 4
PHASH_FAR = 10
RAISE_AT = 0.5

# Points of the primary signals.
STASH_ID_POINTS = 1.0
PHASH_POINTS = {"exact": 0.75, "near": 0.65, "far": 0.45}
TIMELINE_POINTS = 0.65
# Corroboration: small on purpose, so it can tip a far phash match over the line or hold it
# back, but never carry a pair on its own.
DURATION_SAME_POINTS = 0.1
FACES_AGREE_POINTS = 0.1
FACES_DISAGREE_POINTS = -0.2
METADATA_MAX_POINTS = 0.1
METADATA_DISAGREE_POINTS = -0.1
DURATION_MISMATCH_FACTOR = 0.3

DurationVerdict = Literal["same", "trimmed", "different", "unknown"]


def phash_band(distance: int) -> str:
    if distance <= PHASH_EXACT:
        return "exact"
    return "near" if distance <= PHASH_NEAR else "far"


def duration_verdict(a: float, b: float) -> tuple[DurationVerdict, float]:
    """Same length (within 2 s or 2%), one trimmed (an intro or outro cut: the shorter keeps at
    least 60%), or different; with the ratio shorter/longer."""
    if a <= 0 or b <= 0:
        return "unknown", 0.0
    short, long_ = sorted((a, b))
    ratio = short / long_
    if long_ - short <= max(2.0, 0.02 * long_):
        return "same", ratio
    if ratio >= 0.6:
        return "trimmed", ratio
    return "different", ratio


@dataclass(frozen=True)
class FaceProfile:
    """A scene's face fingerprint: performer -> share of its faces."""

    shares: dict[str, float]

    def similarity(self, other: FaceProfile) -> float:
        keys = set(self.shares) | set(other.shares)
        dot = sum(self.shares.get(k, 0.0) * other.shares.get(k, 0.0) for k in keys)
        na = math.sqrt(sum(v * v for v in self.shares.values()))
        nb = math.sqrt(sum(v * v for v in other.shares.values()))
        return dot / (na * nb) if na and nb else 0.0


@dataclass
class PairScore:
    confidence: float
    raised: bool
    signals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def shares(self) -> dict[str, float]:
        """Each signal's share of the positive points (what the review screen shows as bars)."""
        positive = {k: max(0.0, float(v.get("points", 0.0))) for k, v in self.signals.items()}
        total = sum(positive.values())
        return {k: round(v / total, 3) if total else 0.0 for k, v in positive.items()}


def _best_phash(a: IndexedScene, b: IndexedScene) -> tuple[int, str, str] | None:
    best = None
    for fa in a.files:
        for fb in b.files:
            if fa.phash is None or fb.phash is None:
                continue
            d = (fa.phash ^ fb.phash).bit_count()
            if best is None or d < best[0]:
                best = (d, fa.file_id, fb.file_id)
    return best


def _metadata(a: IndexedScene, b: IndexedScene) -> dict[str, Any]:
    points = 0.0
    facts: dict[str, Any] = {}
    if a.studio_id and b.studio_id:
        facts["same_studio"] = a.studio_id == b.studio_id
        points += 0.03 if facts["same_studio"] else -0.03
    if a.date and b.date:
        facts["same_date"] = a.date == b.date
        points += 0.03 if facts["same_date"] else 0.0
    if a.performer_ids and b.performer_ids:
        pa, pb = set(a.performer_ids), set(b.performer_ids)
        jaccard = len(pa & pb) / len(pa | pb)
        facts["performer_overlap"] = round(jaccard, 3)
        points += 0.04 * jaccard if jaccard > 0 else METADATA_DISAGREE_POINTS
    facts["points"] = round(max(METADATA_DISAGREE_POINTS, min(METADATA_MAX_POINTS, points)), 4)
    return facts


def score_pair(
    a: IndexedScene, b: IndexedScene, *, faces_a: FaceProfile | None = None, faces_b: FaceProfile | None = None,
    timeline: TimelineMatch | None = None,
) -> PairScore:
    signals: dict[str, dict[str, Any]] = {}
    primary = 0.0
    shared_ids = sorted(set(a.stash_ids) & set(b.stash_ids))
    if shared_ids:
        signals["stash_id"] = {"shared": shared_ids, "points": STASH_ID_POINTS}
        primary = STASH_ID_POINTS
    verdict, ratio = duration_verdict(a.duration, b.duration)
    best = _best_phash(a, b)
    phash_points = 0.0
    if best is not None and best[0] <= PHASH_FAR:
        band = phash_band(best[0])
        phash_points = PHASH_POINTS[band]
        if verdict == "different":
            # A 64-bit hash of 25 frames can collide between a short clip and a long scene.
            phash_points *= DURATION_MISMATCH_FACTOR
        signals["phash"] = {"distance": best[0], "band": band, "files": [best[1], best[2]], "points": round(phash_points, 4)}
    timeline_points = 0.0
    if timeline is not None:
        timeline_points = TIMELINE_POINTS if timeline.matched else 0.0
        signals["timeline"] = {
            "matched": timeline.matched, "offset_s": round(timeline.offset, 3), "median_bits": timeline.median_bits,
            "close_share": round(timeline.close_share, 3), "points": timeline_points,
        }
    video_points = max(phash_points, timeline_points)
    signals["duration"] = {
        "verdict": verdict, "ratio": round(ratio, 4), "seconds": [round(a.duration, 2), round(b.duration, 2)],
        "points": DURATION_SAME_POINTS if verdict == "same" and video_points else 0.0,
    }
    if faces_a is not None and faces_b is not None and faces_a.shares and faces_b.shares:
        sim = faces_a.similarity(faces_b)
        points = FACES_AGREE_POINTS * sim if sim >= 0.5 else (FACES_DISAGREE_POINTS if sim < 0.1 else 0.0)
        signals["faces"] = {"similarity": round(sim, 3), "points": round(points, 4)}
    signals["metadata"] = _metadata(a, b)
    if primary >= STASH_ID_POINTS:
        confidence = 1.0
    elif video_points > 0:
        # The stronger video signal counts; the other corroborations add to it.
        confidence = video_points + sum(float(s.get("points", 0.0)) for k, s in signals.items() if k not in ("phash", "timeline"))
    else:
        confidence = 0.0
    confidence = max(0.0, min(1.0, confidence))
    raised = bool(shared_ids) or (video_points > 0 and confidence >= RAISE_AT)
    return PairScore(confidence=round(confidence, 4), raised=raised, signals=signals)
