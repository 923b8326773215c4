"""Open-set identification when the gallery grows: ~5,000 identities measured, 100,000 modelled.

One gallery holds every identity of lfw/people, lfw/tuning and celeb17 except the held-out
unknowns (the split: :mod:`.scale_split`). The operating point for a gallery of that size is
fitted on lfw/tuning probes only and reported on lfw/people and celeb17 probes, beside the
same figures on the project's usual lfw/people gallery (~2,000 identities) at its shipped
operating point. Larger galleries are modelled (:mod:`.impostor_tail`, :mod:`.open_set_model`),
and the model is checked against what both measured galleries show.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from ..matching import Calibration
from .impostor_tail import ImpostorModel, fit_impostor_model
from .open_set_model import Replay, replay_known, replay_unknown, smallest_passing
from .scale_measure import Embeddings, Gallery, build_gallery, genuine_distances, performer_distances, probe_vectors, score_probes
from .scale_split import CELEB, PEOPLE, TUNING, ScaleSplit

ALL_SOURCES = (PEOPLE, TUNING, CELEB)
SMALL_SOURCES = (PEOPLE, CELEB)  # the project's usual LFW gallery (celeb17 added so its probes have a target)
GRID = [round(x, 2) for x in np.arange(0.05, 0.995, 0.01)]
DISTANCES = [0.44, 0.46, 0.48, 0.50, 0.52, 0.54]
TARGET_SIZE = 100_000
# Table rows shipped in the calibration: from min_performers up, the confidence that keeps the
# modelled false-accept rate at the target up to the next row's size.
TABLE = ((10_000, 30_000), (30_000, TARGET_SIZE))
FIRST_ROW = 3_000  # below this the calibration's own operating point (fitted at ~2,200) applies


class Figures(BaseModel):
    identities: int
    min_confidence: float
    top1: dict[str, float]
    unknown_false_accept_rate: dict[str, float]
    accepted_correct_rate: dict[str, float]


class TailClass(BaseModel):
    faces: str  # faces per identity
    share_of_identities: float
    pairs: int
    tail_threshold: float
    xi: float
    beta: float


class DistanceCheck(BaseModel):
    probe_set: str
    distance: float
    p_identity: float  # P(one impostor identity's nearest face is nearer), measured gallery mix
    modelled: dict[str, float]  # gallery size -> 1 - (1 - p) ** N (per class)
    measured: dict[str, float]


class ConfidenceCheck(BaseModel):
    probe_set: str
    min_confidence: float
    modelled_false_accept_rate: dict[str, float]
    measured_false_accept_rate: dict[str, float]
    modelled_accepted_correct_rate: dict[str, float] = {}
    measured_accepted_correct_rate: dict[str, float] = {}


class Extrapolation(BaseModel):
    method: str
    min_confidence: float  # the operating point the headline figures are for
    unknown_false_accept_rate: dict[str, dict[str, float]]  # gallery size -> probe set -> rate
    accepted_correct_rate: dict[str, dict[str, float]]
    tails: dict[str, list[TailClass]]
    check_distance_only: list[DistanceCheck]
    check_confidence: list[ConfidenceCheck]


class OperatingPoint100k(BaseModel):
    identities: int
    min_confidence: float
    max_distance: float
    fitted_on: str
    modelled_unknown_false_accept_rate: dict[str, float]
    modelled_accepted_correct_rate: dict[str, float]
    measured_identities: int
    accepted_correct_rate: dict[str, float]  # measured at the measured gallery: what it costs there
    unknown_false_accept_rate: dict[str, float]
    distance_only_threshold: float | None  # the nearest-face distance that alone keeps the target


class OperatingPointRow(BaseModel):
    min_performers: int
    min_confidence: float
    basis: str


class GalleryScaleReport(BaseModel):
    embedding: str
    identities: int
    gallery_faces: int
    min_confidence: float
    max_distance: float
    top1: dict[str, float]
    unknown_false_accept_rate: dict[str, float]
    accepted_correct_rate: dict[str, float]
    operating_point_fit: dict[str, float | str]
    at_previous_operating_point: Figures
    small_gallery: Figures
    extrapolation: Extrapolation
    operating_point_100k: OperatingPoint100k
    operating_points: list[OperatingPointRow]
    split: dict[str, str | int]
    seconds: float


class _Measured:
    """Top candidates of every probe set against one gallery (celeb17 over its rounds)."""

    def __init__(self, split: ScaleSplit, sources: tuple[str, ...], emb: Embeddings, cal: Calibration, max_distance: float, rounds: int):
        self.gallery = build_gallery(split.for_round(sources, 0), emb, cal)
        self.scores: dict[str, Replay] = {}
        # Known tuning probes only where their tuning photos are in the gallery.
        for name in (PEOPLE, TUNING) if TUNING in sources else (PEOPLE,):
            self.scores[name] = score_probes(self.gallery, split.known[name], emb, max_distance)
        for name in (PEOPLE, TUNING):
            scored = score_probes(self.gallery, split.unknown[name], emb, max_distance)
            # An unknown probe has no right answer: any acceptance is a false one.
            self.scores["unknown " + name] = Replay(scored.confidence, scored.distance)
        celeb = [score_probes(self._round(split, sources, emb, cal, r), split.celeb_probes(r), emb, max_distance) for r in range(rounds)]
        if celeb:
            self.scores[CELEB] = Replay(*(np.concatenate(parts) for parts in zip(*((c.confidence, c.distance, c.correct) for c in celeb))))

    def _round(self, split: ScaleSplit, sources: tuple[str, ...], emb: Embeddings, cal: Calibration, r: int) -> Gallery:
        return self.gallery if r == 0 else build_gallery(split.for_round(sources, r), emb, cal)

    def figures(self, c: float, max_distance: float) -> Figures:
        known = [s for s in (PEOPLE, CELEB) if s in self.scores]
        return Figures(
            identities=len(self.gallery),
            min_confidence=c,
            top1={s: _r(self.scores[s].top1()) for s in known},
            unknown_false_accept_rate={PEOPLE: _r(self.scores["unknown " + PEOPLE].accept_rate(c, max_distance))},
            accepted_correct_rate={s: _r(self.scores[s].accept_rate(c, max_distance)) for s in known},
        )


def _r(x: float) -> float:
    return round(float(x), 4)


def _class_counts(model: ImpostorModel, gallery: Gallery) -> list[int]:
    counts = [0] * len(model.classes)
    for faces in gallery.faces_per_identity.tolist():
        counts[model.class_of(int(faces))] += 1
    return counts


class _Modelled:
    """Impostor models (one per unknown-probe set) and their replays at every gallery size."""

    def __init__(self, split: ScaleSplit, emb: Embeddings, big: Gallery, small: Gallery, cal: Calibration, reps: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.cal, self.reps = cal, reps
        self.models: dict[str, ImpostorModel] = {}
        self.measured_nearest: dict[str, dict[str, np.ndarray]] = {}
        for name in (TUNING, PEOPLE):
            vectors, _ = probe_vectors(split.unknown[name], emb)
            face, reported = performer_distances(big, vectors)
            self.models[name] = fit_impostor_model(face, reported, big.faces_per_identity)
            small_face, _ = performer_distances(small, vectors)
            self.measured_nearest[name] = {str(len(small)): small_face.min(axis=1), str(len(big)): face.min(axis=1)}
        self.galleries = {str(len(small)): small, str(len(big)): big}
        # One replay per (probe kind, set, size): every figure at that size reads the same draws.
        self._replays: dict[tuple[str, str, str], Replay] = {}

    def counts_at(self, name: str, size: str) -> list[int]:
        model = self.models[name]
        gallery = self.galleries.get(size)
        return _class_counts(model, gallery) if gallery is not None else model.counts(int(size))

    def unknown(self, name: str, size: str) -> Replay:
        key = ("unknown", name, size)
        if key not in self._replays:
            self._replays[key] = replay_unknown(self.models[name], self.counts_at(name, size), self.cal, self.reps, self.rng)
        return self._replays[key]

    def known(self, name: str, size: str, genuine: tuple[np.ndarray, np.ndarray], reps_per_probe: int = 20) -> Replay:
        key = ("known", name, size)
        if key not in self._replays:
            model, counts = self.models[name], self.counts_at(name, size)
            self._replays[key] = replay_known(model, counts, genuine[0], genuine[1], self.cal, reps_per_probe, self.rng)
        return self._replays[key]


def _fit_min_confidence(replay: Replay, max_distance: float, target: float) -> float:
    rates = {c: replay.accept_rate(c, max_distance) for c in GRID}
    return smallest_passing(rates, target) or GRID[-1]


def _tails(model: ImpostorModel) -> list[TailClass]:
    return [
        TailClass(faces=c.name, share_of_identities=_r(share), pairs=len(c.face_distances), tail_threshold=_r(c.threshold),
                  xi=_r(c.tail.xi), beta=round(c.tail.beta, 5))
        for c, share in zip(model.classes, model.mix)
    ]


def _distance_checks(mod: _Modelled, sizes: Sequence[str]) -> list[DistanceCheck]:
    rows = []
    for name, model in mod.models.items():
        for t in DISTANCES:
            rows.append(DistanceCheck(
                probe_set=name, distance=t,
                p_identity=float(f"{sum(s * c.p_below(t) for s, c in zip(model.mix, model.classes)):.3g}"),
                modelled={n: _r(model.far_distance_only(t, mod.counts_at(name, n))) for n in sizes},
                measured={n: _r(float((d < t).mean())) for n, d in mod.measured_nearest[name].items()},
            ))
    return rows


def _model_far(mod: _Modelled, name: str, size: str, thresholds: Sequence[float], max_distance: float) -> dict[float, float]:
    replay = mod.unknown(name, size)
    return {c: replay.accept_rate(c, max_distance) for c in thresholds}


def evaluate_gallery_scale(
    split: ScaleSplit,
    embeddings: Embeddings,
    calibration: Calibration,
    *,
    embedding_label: str,
    max_distance: float = 0.6,
    target_far: float = 0.01,
    celeb_rounds: int | None = None,
    reps: int = 40_000,
    seed: int = 0,
) -> GalleryScaleReport:
    """Measure at both gallery sizes, fit the large gallery's operating point on tuning probes,
    model 10,000 and 100,000 identities and check the model where it can be checked."""
    started = time.monotonic()
    rounds = min(split.celeb_rounds, celeb_rounds if celeb_rounds is not None else split.celeb_rounds)
    big = _Measured(split, ALL_SOURCES, embeddings, calibration, max_distance, rounds)
    small = _Measured(split, SMALL_SOURCES, embeddings, calibration, max_distance, rounds)
    c_small = calibration.default_min_confidence
    mod = _Modelled(split, embeddings, big.gallery, small.gallery, calibration, reps, seed)
    n_small, n_big = str(len(small.gallery)), str(len(big.gallery))
    sizes = [n_small, n_big, "10000", str(TARGET_SIZE)]
    rows = _operating_points(mod, n_big, max_distance, target_far)
    c_big, c_100k = rows[0].min_confidence, rows[-1].min_confidence
    # The measured tuning rate, for comparison: 1% of ~350 unknown probes is 3 or 4 accepts, too
    # coarse to place a threshold on (the smallest passing one is the luckiest), so it is not used.
    c_measured = _fit_min_confidence(big.scores["unknown " + TUNING], max_distance, target_far)
    genuine = genuine_distances(big.gallery, split.known[PEOPLE], embeddings)
    extrapolation = _extrapolation(mod, big, small, genuine, sizes, (c_small, c_measured, c_big, c_100k), c_big, max_distance)
    at = big.figures(c_big, max_distance)
    tuning_unknown = big.scores["unknown " + TUNING]
    return GalleryScaleReport(
        embedding=embedding_label,
        identities=len(big.gallery),
        gallery_faces=len(big.gallery.array),
        min_confidence=c_big,
        max_distance=max_distance,
        top1=at.top1,
        unknown_false_accept_rate=at.unknown_false_accept_rate,
        accepted_correct_rate=at.accepted_correct_rate,
        operating_point_fit={
            "fitted_on": f"lfw/tuning only: {len(split.unknown[TUNING])} unknown probes (their impostor distances, modelled) and "
            f"{len(split.known[TUNING])} known probes, against the {n_big}-identity gallery",
            "target_unknown_false_accept_rate": target_far,
            "tuning_modelled_unknown_false_accept_rate": _r(mod.unknown(TUNING, n_big).accept_rate(c_big, max_distance)),
            "tuning_unknown_false_accept_rate": _r(tuning_unknown.accept_rate(c_big, max_distance)),
            "tuning_accepted_correct_rate": _r(big.scores[TUNING].accept_rate(c_big, max_distance)),
            "tuning_top1": _r(big.scores[TUNING].top1()),
            "min_confidence_fitted_on_measured_tuning_rate": c_measured,
        },
        at_previous_operating_point=big.figures(c_small, max_distance),
        small_gallery=small.figures(c_small, max_distance),
        extrapolation=extrapolation,
        operating_point_100k=_op_100k(mod, big, genuine, c_100k, max_distance, target_far),
        operating_points=rows,
        split=_split_info(split, big.gallery, small.gallery, rounds),
        seconds=round(time.monotonic() - started, 1),
    )


def _operating_points(mod: _Modelled, n_big: str, max_distance: float, target: float) -> list[OperatingPointRow]:
    """The shipped table: per row, the smallest confidence whose modelled lfw/tuning false-accept
    rate stays at the target up to the row's reference size (never below the previous row's)."""
    rows: list[OperatingPointRow] = []
    for min_performers, upto in ((FIRST_ROW, int(n_big)), *TABLE):
        far = _model_far(mod, TUNING, str(upto), GRID, max_distance)
        c = max([smallest_passing(far, target) or GRID[-1], *(r.min_confidence for r in rows)])
        basis = "measured gallery" if upto == int(n_big) else "extrapolated"
        rows.append(OperatingPointRow(
            min_performers=min_performers, min_confidence=c,
            basis=f"modelled lfw/tuning unknown false accepts <= {target:g} at {upto} identities ({basis})",
        ))
    return rows


def _extrapolation(
    mod: _Modelled, big: _Measured, small: _Measured, genuine: tuple[np.ndarray, np.ndarray],
    sizes: list[str], thresholds: tuple[float, ...], c_default: float, max_distance: float,
) -> Extrapolation:
    measured = {sizes[0]: small, sizes[1]: big}
    checks, headline, headline_acc = [], {n: {} for n in sizes[2:]}, {n: {} for n in sizes[2:]}
    for name in (PEOPLE, TUNING):
        far = {n: _model_far(mod, name, n, thresholds, max_distance) for n in sizes}
        acc = {n: mod.known(name, n, genuine) for n in sizes} if name == PEOPLE else {}
        for c in sorted(set(thresholds)):
            checks.append(ConfidenceCheck(
                probe_set=name, min_confidence=c,
                modelled_false_accept_rate={n: _r(far[n][c]) for n in sizes},
                measured_false_accept_rate={n: _r(m.scores["unknown " + name].accept_rate(c, max_distance)) for n, m in measured.items()},
                modelled_accepted_correct_rate={n: _r(r.accept_rate(c, max_distance)) for n, r in acc.items()},
                measured_accepted_correct_rate={n: _r(m.scores[name].accept_rate(c, max_distance)) for n, m in measured.items()}
                if acc else {},
            ))
        for n in sizes[2:]:
            headline[n][name] = _r(far[n][c_default])
            if acc:
                headline_acc[n][name] = _r(acc[n].accept_rate(c_default, max_distance))
    return Extrapolation(
        method=_METHOD, min_confidence=c_default, unknown_false_accept_rate=headline, accepted_correct_rate=headline_acc,
        tails={name: _tails(m) for name, m in mod.models.items()},
        check_distance_only=_distance_checks(mod, sizes), check_confidence=checks,
    )


def _op_100k(mod: _Modelled, big: _Measured, genuine: tuple[np.ndarray, np.ndarray], c: float, max_distance: float, target: float) -> OperatingPoint100k:
    size = str(TARGET_SIZE)
    tuning = mod.models[TUNING]
    passing = [t for t in np.arange(0.30, 0.60, 0.005) if tuning.far_distance_only(float(t), tuning.counts(TARGET_SIZE)) <= target]
    figures = big.figures(c, max_distance)
    return OperatingPoint100k(
        identities=TARGET_SIZE, min_confidence=c, max_distance=max_distance,
        fitted_on=f"the smallest confidence whose modelled lfw/tuning unknown false-accept rate at {TARGET_SIZE} identities is <= {target:g}",
        modelled_unknown_false_accept_rate={n: _r(_model_far(mod, n, size, [c], max_distance)[c]) for n in (PEOPLE, TUNING)},
        modelled_accepted_correct_rate={PEOPLE: _r(mod.known(PEOPLE, size, genuine).accept_rate(c, max_distance))},
        measured_identities=len(big.gallery),
        accepted_correct_rate={**figures.accepted_correct_rate, TUNING: _r(big.scores[TUNING].accept_rate(c, max_distance))},
        unknown_false_accept_rate={**figures.unknown_false_accept_rate, TUNING: _r(big.scores["unknown " + TUNING].accept_rate(c, max_distance))},
        distance_only_threshold=round(float(max(passing)), 3) if passing else None,
    )


def _split_info(split: ScaleSplit, big: Gallery, small: Gallery, rounds: int) -> dict[str, str | int]:
    return {
        "description": "gallery: every identity of lfw/people, lfw/tuning and celeb17 (one identity per folded name) except the "
        "held-out unknowns; unknown probes: a tenth of the lfw/people identities with 2+ photos (sha256 order, among those in neither "
        "lfw/tuning nor celeb17), all their photos, never in the gallery; known probes: the last lfw/people photo of every other "
        "identity with 2+ people photos; celeb17: rotated, round r probes each actor's r-th photo against the other photos; "
        "operating point fitted on lfw/tuning only: the last tuning photo of identities that also have people photos, and a "
        "tenth of the single-photo tuning strangers as unknowns (all of them never in the gallery)",
        "label_fixes": split.label_fixes,
        "gallery_identities": len(big),
        "gallery_faces": len(big.array),
        "small_gallery_identities": len(small),
        "small_gallery_faces": len(small.array),
        "known_probes_people": len(split.known[PEOPLE]),
        "unknown_probes_people": len(split.unknown[PEOPLE]),
        "unknown_identities_people": len(split.held_out[PEOPLE]),
        "known_probes_tuning": len(split.known[TUNING]),
        "unknown_probes_tuning": len(split.unknown[TUNING]),
        "celeb17_rounds": rounds,
        "celeb17_probes": rounds * len(split.gallery[CELEB]),
        "gallery_photos_without_face": big.missing_faces,
    }


_METHOD = (
    "Impostor pairs: each unknown probe's distance to each gallery identity's nearest face (and the distance the matcher reports, "
    "the nearer of that face and the identity's centroid). Identities fall in classes by faces per identity (1, 2, 3-5, 6+); per "
    "class the lower tail below its 1% quantile is a generalised Pareto distribution fitted by least squares on the log-survival "
    "(the 10 most extreme pairs left out: label errors). Under independence a gallery of N identities with the measured mix of "
    "classes falsely accepts a nearest-face threshold t with probability 1 - prod_c (1 - p_c(t))^n_c (check_distance_only). The "
    "matcher's confidence rule is replayed by drawing the 11 nearest impostors of N (exact uniform order statistics through each "
    "class's distribution) and computing its features; known probes put their measured distance to their own identity among them "
    "(check_confidence). Models are fitted on the 5,000-identity gallery's pairs, separately for lfw/tuning unknowns (which choose "
    "the operating points) and lfw/people unknowns (reported)."
)
