"""``bench duplicates`` at a small size: the synthetic library's planted pairs are all found,
its look-alikes never raised, and the command prints one JSON document with the curve."""

from __future__ import annotations

import json
import subprocess
import sys

from stash_sense.benchmark.duplicates import measure_duplicates


def test_small_synthetic_library_is_analysed_exactly() -> None:
    report = measure_duplicates(3000, seed=4, curve=False)
    assert report.planted == 45 and report.found_planted == report.planted  # 2% planted, a quarter of them look-alikes
    assert report.false_positives == 0 and report.lookalikes_raised == 0
    assert report.curve == [[3000, report.seconds]] and report.peak_rss_mb > 0


def test_cli_prints_one_json_document_with_a_curve() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "bench", "duplicates", "--scenes", "6000", "--json"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    data = json.loads(out.stdout)
    assert [p[0] for p in data["curve"]] == [5000, 6000]
    assert {"seconds", "peak_rss_mb", "curve"} <= set(data) and data["recall"] == 1.0
