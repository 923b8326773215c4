"""``stash-sense bench crawl`` end to end on 24 identities (three batches, so the kills land
between them): the emulator and every crawl run as child processes over HTTP, and all the
bench's checks pass (everyone once under a 429 limit, a crawl killed twice and resumed equals
the uninterrupted one, db update equals a fresh crawl)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from stash_sense.devtools.crawl_bench import PlanSizes, plan_sizes, projection


def test_bench_crawl_small_run_passes_its_checks(facedata: Path, tmp_path: Path) -> None:
    env = {**os.environ, "STASH_SENSE_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "bench", "crawl", "--limit", "24", "--max-requests-per-second", "4",
         "--workdir", str(tmp_path / "work"), "--json"],
        env=env, capture_output=True, text=True, timeout=400,
    )
    assert done.stdout, done.stderr[-3000:]
    data = json.loads(done.stdout)  # one JSON document, even when a check fails
    assert data["failed_checks"] == [], json.dumps({k: data.get(k, {}).get("checks") for k in ("crawl", "resume", "update", "release", "speed")})
    assert done.returncode == 0 and data["ok"]
    assert data["config"]["served_identities"] == 24 and data["machine"]["cpus"] >= 1
    crawl = data["crawl"]
    assert crawl["report"]["performers"] == crawl["catalogue_size"] == 24
    assert crawl["report"]["throttled_429"] >= 1 and crawl["report"]["throttled_after_slowdown"] == 0
    assert [k["killed"] for k in data["resume"]["kills"]] == [True, True]
    assert data["resume"]["differences"] == [] and data["update"]["differences"] == []
    release = data["release"]["checks"]
    assert release["delta_install_equals_new_version"] and release["delta_refused_on_other_version"]
    assert release["truncated_pack_changes_nothing"] and data["release"]["delta_pack_bytes"] < data["release"]["full_pack_bytes"]
    assert data["update"]["update_emulator_stats"]["requests"] < data["update"]["fresh_emulator_stats"]["requests"]
    assert data["speed"]["projection_100k"]["requests"] == 301_000
    assert not any((tmp_path / "work").glob("**/*.part"))


def test_plan_and_projection_arithmetic() -> None:
    assert plan_sizes(5733) == PlanSizes(edits=30, adds=20, deletes=5, merges=5)
    assert plan_sizes(8) == PlanSizes(edits=4, adds=2, deletes=1, merges=1)
    figures = projection(5.0, 50.0)
    assert figures["pages"] == 1000 and figures["requests"] == 301_000
    assert figures["network_seconds"] == 60_200 and figures["compute_seconds"] == 6000 and figures["hours"] == 16.72
