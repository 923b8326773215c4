"""Impostor distances at gallery sizes nobody measured: a tail model and order statistics.

An unknown face is falsely accepted when its nearest performer is near enough. Measured here:
the distance from each unknown probe to each gallery identity (``impostor pairs``). If a gallery
of N identities draws its identities independently, the nearest impostor of a probe is the
minimum of N draws, and the false-accept rate of a distance threshold t is

    FAR(N, t) = 1 - prod_c (1 - p_c(t)) ** n_c

with ``p_c(t)`` the probability that one identity of face-count class c lies nearer than t and
``n_c`` the class's identities. Classes matter: an identity with many photos is nearer to
everyone (more chances, and a centroid nearer the middle of face space) than a one-photo one.

At 100,000 identities the relevant ``p`` is around 1e-7, below anything a few million measured
pairs can show, so each class's lower tail is a generalised Pareto distribution (the
peaks-over-threshold model of extreme-value theory) fitted below the class's 1% quantile. It is
fitted by least squares on the log-survival of the exceedances, leaving out the last few: a
handful of LFW label errors (a photo filed under one name that shows another gallery person) sit
at genuine-match distances and would otherwise dictate the shape of the whole tail.

The matcher does not threshold distance alone: its confidence looks at the margin to the next
performers too. :func:`sample_nearest` draws the k nearest of N impostor identities (exact
uniform order statistics mapped through each class's distribution), so the whole acceptance rule
can be replayed at any N.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

Floats = NDArray[np.float64]

TAIL_QUANTILE = 0.01  # below this quantile of a class's distances the fitted tail takes over
MIN_TAIL_POINTS = 10  # the most extreme exceedances, left out of the fit (label errors live there)
MIN_CLASS_PAIRS = 2_000  # a class with fewer measured pairs is merged into the class below it
FACE_CLASS_STARTS = (1, 2, 3, 6)  # classes 1, 2, 3-5, 6+ faces per identity


@dataclass(frozen=True, slots=True)
class GpdTail:
    """Generalised Pareto survival of exceedances y >= 0: S(y) = (1 + xi y / beta) ** (-1 / xi)."""

    xi: float
    beta: float

    def log_sf(self, y: Floats) -> Floats:
        y = np.asarray(y, dtype=np.float64)
        if abs(self.xi) < 1e-9:
            out: Floats = -y / self.beta
            return out
        z = 1.0 + self.xi * y / self.beta
        # Beyond the support of a bounded tail (xi < 0) the survival is zero.
        return np.where(z > 0, -np.log(np.maximum(z, 1e-300)) / self.xi, -np.inf)

    def isf(self, q: Floats) -> Floats:
        """The exceedance y with survival q (0 < q <= 1)."""
        q = np.asarray(q, dtype=np.float64)
        if abs(self.xi) < 1e-9:
            out: Floats = -self.beta * np.log(q)
            return out
        res: Floats = self.beta / self.xi * (q ** (-self.xi) - 1.0)
        return res


def fit_gpd_tail(exceedances: Floats, *, skip_extreme: int = MIN_TAIL_POINTS) -> GpdTail:
    """Least-squares fit of the log-survival, ignoring the ``skip_extreme`` largest exceedances."""
    y = np.sort(np.asarray(exceedances, dtype=np.float64))[::-1]
    n = len(y)
    if n < skip_extreme + 5:
        raise ValueError(f"{n} exceedances are too few to fit a tail")
    rank = np.arange(1, n + 1)
    keep = rank > skip_extreme
    target = np.log((rank[keep] - 0.5) / n)
    ys = y[keep]

    def loss(params: Floats) -> float:
        xi = float(np.clip(params[0], -0.5, 0.5))
        model = GpdTail(xi, float(np.exp(params[1]))).log_sf(ys)
        if not np.all(np.isfinite(model)):
            return 1e9
        return float(np.mean((model - target) ** 2))

    result = minimize(loss, np.array([0.0, np.log(max(float(y.mean()), 1e-6))]), method="Nelder-Mead")
    return GpdTail(float(np.clip(result.x[0], -0.5, 0.5)), float(np.exp(result.x[1])))


@dataclass(slots=True)
class ClassModel:
    """Impostor pairs of one face-count class: measured below, fitted tail beyond."""

    name: str
    face_distances: Floats  # sorted: a probe's distance to the identity's nearest face
    reported: Floats  # same order: the distance the matcher reports (nearer of face and centroid)
    threshold: float  # the TAIL_QUANTILE quantile of face_distances
    tail: GpdTail
    gains: Floats  # face - reported distance of the pairs below the threshold

    @classmethod
    def fit(cls, name: str, face: Floats, reported: Floats) -> ClassModel:
        order = np.argsort(face, kind="stable")
        face, reported = face[order], reported[order]
        threshold = float(face[int(TAIL_QUANTILE * len(face))])
        below = face < threshold
        tail = fit_gpd_tail(threshold - face[below])
        return cls(name, face, reported, threshold, tail, face[below] - reported[below])

    def p_below(self, t: float) -> float:
        """P(face distance < t) for one identity of this class."""
        if t >= self.threshold:
            return float(np.searchsorted(self.face_distances, t)) / len(self.face_distances)
        return TAIL_QUANTILE * float(np.exp(self.tail.log_sf(np.array([self.threshold - t]))[0]))

    def sample(self, u: Floats, rng: np.random.Generator) -> tuple[Floats, Floats]:
        """(face, reported) distances at lower-tail probabilities ``u`` (the inverse CDF)."""
        idx = np.minimum((u * len(self.face_distances)).astype(np.int64), len(self.face_distances) - 1)
        in_tail = u < TAIL_QUANTILE
        tail_face = self.threshold - self.tail.isf(np.clip(u / TAIL_QUANTILE, 1e-300, 1.0))
        face = np.where(in_tail, tail_face, self.face_distances[idx])
        # Beyond the measured pairs, a multi-photo identity's centroid gain is drawn from the
        # gains measured in its tail (zero for one-photo identities).
        gain = self.gains[rng.integers(0, len(self.gains), size=u.shape)] if len(self.gains) else np.zeros(u.shape)
        reported = np.where(in_tail, face - gain, self.reported[idx])
        return face, reported


def face_classes() -> list[tuple[str, int, int]]:
    """(name, lo, hi) classes of faces per identity: 1, 2, 3-5, 6+."""
    starts = sorted(set(FACE_CLASS_STARTS))
    bounds = [(lo, (starts[i + 1] - 1) if i + 1 < len(starts) else 10**9) for i, lo in enumerate(starts)]
    return [(_class_name(lo, hi), lo, hi) for lo, hi in bounds]


def _class_name(lo: int, hi: int) -> str:
    if hi >= 10**9:
        return f"{lo}+"
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _merge_small(classes: list[tuple[str, int, int]], pairs: dict[str, int]) -> list[tuple[str, int, int]]:
    """Merge, from the top, each class with fewer than MIN_CLASS_PAIRS pairs into the one below."""
    out = list(classes)
    i = len(out) - 1
    while i > 0:
        name, lo, hi = out[i]
        if pairs.get(name, 0) < MIN_CLASS_PAIRS:
            prev_name, prev_lo, _ = out[i - 1]
            merged = (_class_name(prev_lo, hi), prev_lo, hi)
            pairs[merged[0]] = pairs.get(prev_name, 0) + pairs.get(name, 0)
            out[i - 1 : i + 1] = [merged]
        i -= 1
    return out


@dataclass(slots=True)
class ImpostorModel:
    """Per-class impostor distributions and the gallery mix of classes they came from."""

    classes: list[ClassModel]
    bounds: list[tuple[int, int]]  # (lo, hi) faces per identity of each class
    mix: list[float]  # share of identities per class in the measured gallery

    def counts(self, identities: int) -> list[int]:
        """Identities per class in a gallery of ``identities`` with the measured mix."""
        return [int(round(identities * share)) for share in self.mix]

    def class_of(self, faces: int) -> int:
        return next(i for i, (lo, hi) in enumerate(self.bounds) if lo <= faces <= hi)

    def far_distance_only(self, t: float, counts: Sequence[int]) -> float:
        """P(the nearest face of a gallery with ``counts`` identities per class is nearer than t)."""
        log_keep = sum(n * np.log1p(-min(c.p_below(t), 1.0 - 1e-15)) for c, n in zip(self.classes, counts))
        return float(-np.expm1(log_keep))

    def sample_nearest(self, counts: Sequence[int], k: int, reps: int, rng: np.random.Generator) -> tuple[Floats, Floats]:
        """``reps`` draws of the ``k`` impostor identities with the nearest faces among a gallery
        of ``counts`` identities per class: (face, reported) distances, nearest face first."""
        faces, reported = [], []
        for model, n in zip(self.classes, counts):
            if n <= 0:
                continue
            f, r = model.sample(uniform_order_statistics(n, k, reps, rng), rng)
            faces.append(f)
            reported.append(r)
        f_all, r_all = np.concatenate(faces, axis=1), np.concatenate(reported, axis=1)
        order = np.argsort(f_all, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(f_all, order, axis=1), np.take_along_axis(r_all, order, axis=1)


def uniform_order_statistics(n: int, k: int, reps: int, rng: np.random.Generator) -> Floats:
    """The ``min(k, n)`` smallest of ``n`` independent U(0, 1), ``reps`` times (exact: partial
    sums of exponentials over the sum of all n + 1)."""
    kk = min(k, n)
    partial = np.cumsum(rng.exponential(size=(reps, kk)), axis=1)
    rest = rng.gamma(n + 1 - kk, size=(reps, 1))
    out: Floats = partial / (partial[:, -1:] + rest)
    return out


def fit_impostor_model(face: Floats, reported: Floats, faces_per_identity: NDArray[np.int64]) -> ImpostorModel:
    """Fit from (probes x identities) impostor distances and each identity's number of faces."""
    classes = face_classes()
    pairs = {name: int(((faces_per_identity >= lo) & (faces_per_identity <= hi)).sum()) * face.shape[0] for name, lo, hi in classes}
    classes = _merge_small(classes, pairs)
    models, bounds, mix = [], [], []
    for name, lo, hi in classes:
        cols = (faces_per_identity >= lo) & (faces_per_identity <= hi)
        if not cols.any():
            continue
        models.append(ClassModel.fit(name, face[:, cols].ravel(), reported[:, cols].ravel()))
        bounds.append((lo, hi))
        mix.append(float(cols.mean()))
    return ImpostorModel(models, bounds, mix)
