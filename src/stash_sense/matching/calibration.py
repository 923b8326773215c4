"""Distance features -> calibrated probability that a match is correct.

A logistic model over (distance, margin to the next performer, cohort z-score), fitted on
data apart from anything reported (LFW tuning identities and strangers). The coefficients
ship with the package per embedding model and are copied into every face DB's manifest, so
the confidence a user sees always means "estimated probability this identification is
right", not ``1 - distance``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..faces.catalog import calibration_file

FEATURES = ("distance", "margin", "cohort_z")


@dataclass(slots=True)
class Calibration:
    model: str
    weights: list[float]  # one per feature, on standardised features
    bias: float
    mean: list[float]
    scale: list[float]
    # Distances from a face to its nearest strangers in a large gallery (median at ranks
    # 1..cohort_size, measured on tuning data). Each query's cohort is padded with these, so a
    # small DB, whose few other performers are all far away, never looks more certain than a
    # realistic population of performers would allow.
    stranger_profile: list[float] = field(default_factory=lambda: [0.55 + 0.005 * i for i in range(10)])
    cohort_size: int = 10
    default_min_confidence: float = 0.5
    fitted_on: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # Stricter operating points for larger galleries: rows of {"min_performers": N,
    # "min_confidence": c, "basis": "..."}. An unknown face meets more look-alikes among 100,000
    # performers than among 2,000, so the confidence that keeps false accepts near 1% grows with
    # the gallery (docs/accuracy.md, "Gallery scale"). Below the first row, default_min_confidence.
    operating_points: list[dict[str, Any]] = field(default_factory=list)

    def probability(self, features: ArrayLike) -> NDArray[np.float64]:
        """P(correct) for each row of (distance, margin, cohort_z) features."""
        f = (np.atleast_2d(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = f @ np.asarray(self.weights) + self.bias
        p: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return p

    def for_gallery_size(self, performers: int) -> Calibration:
        """This calibration with the default operating point of a gallery of ``performers``
        performers: the row with the largest ``min_performers`` not above it (none: unchanged)."""
        rows = [r for r in self.operating_points if int(r["min_performers"]) <= performers]
        if not rows:
            return self
        row = max(rows, key=lambda r: int(r["min_performers"]))
        return replace(self, default_min_confidence=float(row["min_confidence"]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def fit_logistic(
    x: ArrayLike, y: ArrayLike, *, l2: float = 1e-3, iters: int = 50
) -> tuple[NDArray[np.float64], float, NDArray[np.float64], NDArray[np.float64]]:
    """Plain IRLS logistic regression on standardised features: (weights, bias, mean, scale)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(xs.shape[1])
    reg = l2 * np.eye(xs.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(xs @ w)))
        grad = xs.T @ (p - y) + reg @ w
        hess = (xs * (p * (1 - p))[:, None]).T @ xs + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1]), mean, scale


def load_default_calibration(model: str) -> Calibration:
    """The calibration shipped for an embedding model, the file its model catalog entry names
    (raises KeyError when none exists)."""
    name = calibration_file(model)
    try:
        text = resources.files("stash_sense.matching").joinpath("calibrations", name).read_text()
    except FileNotFoundError as exc:
        raise KeyError(f"no calibration shipped for embedding model {model!r}") from exc
    return Calibration.from_dict(json.loads(text))
