"""A tiny rendered library with planted duplicates, shared by the tests of one session."""

from __future__ import annotations

from pathlib import Path

import pytest

from stash_sense.devtools.samplelib import RenderSettings, render_library
from stash_sense.devtools.samplelib.duplicates import plant_duplicates

# Six short 480p scenes: the fewest that planting needs, rendered in about ten seconds.
TINY = RenderSettings(scenes=6, min_duration=4.0, max_duration=5.0, min_shot=1.0, max_shot=2.0, tiers=("480p",))
_cache: dict[str, Path] = {}


def planted_library(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Path:
    if "lib" not in _cache:
        out = tmp_path_factory.mktemp("dup-lib") / "lib"
        render_library(facedata / "celeb17", out, TINY, seed=2, workers=2)
        plant_duplicates(out, seed=1)
        _cache["lib"] = out
    return _cache["lib"]
