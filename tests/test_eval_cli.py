"""``eval verify`` and ``eval identify`` on small real subsets: the JSON contract and sanity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import link_gallery


def _cli(tmp_path: Path, *args: str) -> dict:
    env = dict(os.environ, STASH_SENSE_CACHE=str(tmp_path / "cache"), STASH_SENSE_WORKERS="2")
    out = subprocess.run([sys.executable, "-m", "stash_sense.cli", *args, "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_eval_verify_fits_on_other_folds_and_counts_every_pair(facedata: Path, tmp_path: Path) -> None:
    lines = (facedata / "lfw" / "pairs.txt").read_text().splitlines()
    # Two folds of 8 same + 8 different pairs, taken from the official folds 1 and 3.
    fold1 = lines[1:9] + lines[301:309]
    fold2 = lines[1201:1209] + lines[1501:1509]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(["2\t8", *fold1, *fold2]) + "\n")
    data = _cli(tmp_path, "eval", "verify", "--pairs", str(pairs), "--images", str(facedata / "lfw" / "people"),
                "--images", str(facedata / "lfw" / "tuning"), "--folds", "1-2")
    assert data["pairs"] == 32 and data["folds"] == [1, 2]
    assert data["threshold_fitted_on"] == "leave-one-fold-out"
    assert data["detection_failures"] == 0
    assert data["accuracy"] >= 0.9 and 0.4 < data["threshold"] < 0.8


def test_eval_identify_open_set_with_distractors(facedata: Path, tmp_path: Path) -> None:
    dataset = link_gallery(facedata / "celeb17", tmp_path / "ds", {"Brad Pitt": 5, "Megan Fox": 5, "Tom Hanks": 5, "Will Smith": 2})
    distractors = link_gallery(facedata / "lfw" / "people", tmp_path / "dis", {"Tom_Hanks": 3, "Colin_Powell": 3, "Tony_Blair": 3})
    data = _cli(tmp_path, "eval", "identify", "--dataset", str(dataset), "--gallery-per-identity", "2", "--distractors", str(distractors))
    assert data["known_probes"] == 9 and data["unknown_probes"] == 2  # Will Smith has only 2 photos: unknown
    assert data["skipped_distractors"] == ["Tom_Hanks"]  # the same person under another spelling
    assert data["gallery_identities"] == 5 and data["distractor_identities"] == 2
    assert data["top1"] >= 0.85 and data["top5"] >= data["top1"]
    assert data["wrong_accept_rate"] == 0.0
    assert {"accepted_correct_rate", "unknown_false_accept_rate", "min_confidence"} <= set(data)
