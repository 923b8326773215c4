"""Gallery-scale evaluation: the extrapolation maths on distances with a known answer, the
size-dependent operating point, and ``eval gallery-scale`` end to end on a real subset with the
real EdgeFace model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from stash_sense.config import shared_dir
from stash_sense.evaluation.impostor_tail import (
    GpdTail,
    fit_gpd_tail,
    fit_impostor_model,
    uniform_order_statistics,
)
from stash_sense.evaluation.open_set_model import top_confidence
from stash_sense.evaluation.scale_split import identity_key, make_scale_split
from stash_sense.matching import Calibration, load_default_calibration, match_features

# Impostor distances d = 0.8 - W with W exponential (scale 0.02): P(d < t) = exp(-(0.8 - t) / 0.02)
# exactly, for every t below 0.8, so a gallery of N such identities falsely accepts t with
# probability 1 - (1 - p)^N. The fit only sees 200 x 1,000 pairs (p >= 5e-6 is observable).
SCALE, TOP = 0.02, 0.8


def _exponential_pairs(probes: int, identities: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return TOP - rng.exponential(SCALE, size=(probes, identities))


def _true_p(t: float) -> float:
    return float(np.exp(-(TOP - t) / SCALE))


def test_tail_fit_extrapolates_far_below_the_measured_pairs() -> None:
    face = _exponential_pairs(200, 1000)
    model = fit_impostor_model(face, face, np.ones(1000, dtype=np.int64))
    assert len(model.classes) == 1 and model.mix == [1.0]
    # 0.55: p = 3.7e-6, below one in the 200,000 pairs measured; 0.5: p = 3e-7.
    for t in (0.6, 0.55, 0.5):
        assert 0.5 < model.classes[0].p_below(t) / _true_p(t) < 2.0, t
    for n in (10_000, 100_000):
        truth = 1.0 - (1.0 - _true_p(0.55)) ** n
        assert abs(model.far_distance_only(0.55, [n]) - truth) < 0.35 * truth + 0.005, n
    rates = [model.far_distance_only(0.55, [n]) for n in (2_000, 10_000, 100_000)]
    assert rates[0] < rates[1] < rates[2]


def test_sampled_nearest_impostors_follow_the_formula() -> None:
    face = _exponential_pairs(200, 1000, seed=1)
    model = fit_impostor_model(face, face, np.ones(1000, dtype=np.int64))
    rng = np.random.default_rng(2)
    for n, t in ((5_000, 0.6), (100_000, 0.56)):
        nearest, reported = model.sample_nearest([n], 11, 20_000, rng)
        assert nearest.shape == (20_000, 11) and np.all(np.diff(nearest, axis=1) >= 0)
        assert np.array_equal(nearest, reported)  # one-photo identities: no centroid
        far = model.far_distance_only(t, [n])
        measured = float((nearest[:, 0] < t).mean())
        assert abs(measured - far) < 4 * np.sqrt(far * (1 - far) / 20_000) + 1e-3, (n, far, measured)


def test_gpd_fit_recovers_a_known_tail() -> None:
    rng = np.random.default_rng(3)
    xi, beta = 0.1, 0.01
    u = rng.random(20_000)
    tail = GpdTail(xi, beta)
    fitted = fit_gpd_tail(tail.isf(u))
    assert abs(fitted.xi - xi) < 0.05 and abs(fitted.beta / beta - 1) < 0.1
    # Survival and inverse survival agree.
    y = np.array([0.001, 0.01, 0.05])
    assert np.allclose(tail.isf(np.exp(tail.log_sf(y))), y)


def test_uniform_order_statistics_have_the_known_means() -> None:
    rng = np.random.default_rng(4)
    u = uniform_order_statistics(1000, 3, 50_000, rng)
    # E[U_(i)] = i / (n + 1) for the i-th smallest of n uniforms.
    assert np.allclose(u.mean(axis=0), [1 / 1001, 2 / 1001, 3 / 1001], rtol=0.03)
    assert uniform_order_statistics(2, 5, 10, rng).shape == (10, 2)


def test_vectorised_confidence_is_the_matchers() -> None:
    cal = load_default_calibration("edgeface-xs")
    rng = np.random.default_rng(5)
    rows = np.sort(rng.uniform(0.3, 0.7, size=(50, 11)), axis=1)
    expected = [cal.probability(np.array([match_features(list(r), 0, cal)]))[0] for r in rows]
    assert np.allclose(top_confidence(rows, cal), expected)


def test_operating_point_depends_on_gallery_size() -> None:
    base = Calibration(model="m", weights=[0.0] * 3, bias=0.0, mean=[0.0] * 3, scale=[1.0] * 3, default_min_confidence=0.5)
    assert base.for_gallery_size(10**6) is base  # no table: unchanged
    table = Calibration.from_dict({**base.to_dict(), "operating_points": [
        {"min_performers": 3000, "min_confidence": 0.7}, {"min_performers": 30000, "min_confidence": 0.9}]})
    assert [table.for_gallery_size(n).default_min_confidence for n in (0, 2999, 3000, 29999, 30000, 10**6)] == [0.5, 0.5, 0.7, 0.7, 0.9, 0.9]
    # The shipped edgeface-xs table leaves DBs below 3,000 performers as they were.
    shipped = load_default_calibration("edgeface-xs")
    assert shipped.for_gallery_size(2999).default_min_confidence == shipped.default_min_confidence
    steps = [shipped.for_gallery_size(n).default_min_confidence for n in (3000, 10_000, 30_000, 100_000)]
    assert steps == sorted(steps) and steps[0] > shipped.default_min_confidence


def test_split_folds_names_and_aliases_and_holds_out_a_tenth(tmp_path: Path) -> None:
    def photos(names: dict[str, int], root: str) -> dict[str, list[Path]]:
        return {n: [tmp_path / root / n / f"{n}_{i:04d}.jpg" for i in range(1, k + 1)] for n, k in names.items()}

    people = photos({f"Person_{i}": 3 for i in range(40)} | {"Nan_Wang": 2, "Sepp_Blatter": 2, "Solo_One": 1}, "people")
    tuning = photos({"Person_1": 2, "Wang_Nan": 1, "Joseph_Blatter": 1} | {f"Stranger_{i}": 1 for i in range(30)}, "tuning")
    celeb = photos({"Person 2": 5, "Actor": 5}, "celeb")
    split = make_scale_split(people, tuning, celeb)
    assert identity_key("Nan_Wang") == identity_key("Wang Nan")
    # 42 people identities with 2+ photos: a tenth (4) held out, none of them in tuning or celeb17.
    assert len(split.held_out["lfw/people"]) == 4 and len(split.held_out["lfw/tuning"]) == 3
    held = set(split.held_out["lfw/people"])
    assert not held & {identity_key(n) for n in ("Person_1", "Person_2", "Nan_Wang", "Sepp_Blatter")}
    gallery = split.identities(("lfw/people", "lfw/tuning", "celeb17"))
    assert not held & set(gallery)
    # One person under two names: one identity, its tuning photo a tuning probe.
    assert identity_key("Sepp Blatter") not in gallery and len(gallery[identity_key("Joseph Blatter")]) == 1
    assert [k for k, _ in split.known["lfw/tuning"]] == sorted(identity_key(n) for n in ("Person_1", "Wang_Nan", "Joseph_Blatter"))
    round1 = split.for_round(("lfw/people", "celeb17"), 1)
    assert len(round1["actor"]) == 4 and split.celeb_rounds == 5


# -- end to end on a real subset -------------------------------------------------------------------


@pytest.fixture(scope="module")
def edgeface_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from stash_sense.modelstore import install_model

    env = os.environ.get("STASH_SENSE_MODEL_SOURCE")
    source = Path(env) if env else shared_dir() / "models"
    if not (source / "edgeface_xs.onnx").is_file():
        pytest.skip(f"EdgeFace model file not found in {source} (set STASH_SENSE_MODEL_SOURCE)")
    target = tmp_path_factory.mktemp("models")
    saved = os.environ.get("STASH_SENSE_MODELS_DIR")
    os.environ["STASH_SENSE_MODELS_DIR"] = str(target)
    try:
        install_model("edgeface-xs", accept_licence=True, source=str(source))
        yield target
    finally:
        if saved is None:
            os.environ.pop("STASH_SENSE_MODELS_DIR", None)
        else:
            os.environ["STASH_SENSE_MODELS_DIR"] = saved


def _subset(src: Path, dest: Path, names: list[str], limit: int | None = None) -> Path:
    for name in names:
        (dest / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((src / name).iterdir())[:limit]:
            (dest / name / photo.name).symlink_to(photo)
    return dest


def test_gallery_scale_on_a_real_subset(facedata: Path, edgeface_models: Path, tmp_path: Path) -> None:
    lfw = facedata / "lfw"
    tuning_names = sorted(p.name for p in (lfw / "tuning").iterdir())
    people_names = sorted(p.name for p in (lfw / "people").iterdir())
    overlap = [n for n in people_names if n in set(tuning_names)][:40]
    multi = [n for n in people_names if len(list((lfw / "people" / n).iterdir())) >= 2 and n not in set(overlap)][:160]
    strangers = [n for n in tuning_names if n not in set(people_names)][:300]
    people = _subset(lfw / "people", tmp_path / "people", overlap + multi)
    tuning = _subset(lfw / "tuning", tmp_path / "tuning", overlap + strangers)
    celeb = _subset(facedata / "celeb17", tmp_path / "celeb17", ["Brad Pitt", "Megan Fox", "Will Smith", "Hugh Jackman"], 8)
    env = dict(os.environ, STASH_SENSE_CACHE=str(tmp_path / "cache"), STASH_SENSE_WORKERS="2", STASH_SENSE_MODELS_DIR=str(edgeface_models))
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "eval", "gallery-scale", "--embedder", "edgeface-xs", "--people", str(people),
         "--tuning", str(tuning), "--celeb17", str(celeb), "--celeb-rounds", "3", "--json"],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    for key in ("identities", "top1", "unknown_false_accept_rate", "accepted_correct_rate", "extrapolation", "operating_point_100k"):
        assert key in report
    split = report["split"]
    with_two = sum(1 for n in overlap + multi if len(list((lfw / "people" / n).iterdir())) >= 2)
    assert abs(split["unknown_identities_people"] - 0.1 * with_two) <= 1 and split["celeb17_probes"] == 12
    assert report["identities"] == split["gallery_identities"] > report["small_gallery"]["identities"] > 150
    # Real recognition: far above chance (1 in ~500), and accepting never beats ranking.
    assert report["top1"]["lfw/people"] >= 0.9 and report["top1"]["celeb17"] >= 0.9
    for name, acc in report["accepted_correct_rate"].items():
        assert 0.5 <= acc <= report["top1"][name]
    assert 0.0 <= report["unknown_false_accept_rate"]["lfw/people"] <= 0.1
    # The model: more identities, more false accepts at a fixed threshold; stricter rows for larger DBs.
    far = report["extrapolation"]["unknown_false_accept_rate"]
    assert all(far["10000"][n] <= far["100000"][n] for n in ("lfw/people", "lfw/tuning"))
    assert any(far["10000"][n] < far["100000"][n] for n in ("lfw/people", "lfw/tuning"))
    for row in report["extrapolation"]["check_distance_only"]:
        sizes = sorted(row["modelled"], key=int)
        assert [row["modelled"][n] for n in sizes] == sorted(row["modelled"][n] for n in sizes)
    rows = report["operating_points"]
    assert [r["min_performers"] for r in rows] == [3000, 10000, 30000]
    assert [r["min_confidence"] for r in rows] == sorted(r["min_confidence"] for r in rows)
    op = report["operating_point_100k"]
    assert op["identities"] == 100_000 and op["min_confidence"] == rows[-1]["min_confidence"] >= report["min_confidence"]
    assert op["modelled_unknown_false_accept_rate"]["lfw/tuning"] <= 0.0101 or op["min_confidence"] == 0.99
