"""Concurrent ``/identify`` load against a sidecar process, through ``stash-sense bench api``.

The default run is short (5 clients, 10 s); the full bar (20 clients, 60 s on 2 cores) is the
same command with its defaults, run by hand or with ``--runslow``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api_helpers import api_assets


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path):
    return api_assets(tmp_path_factory, facedata)


def _bench(assets, clients: int, duration: int) -> dict:
    command = [
        sys.executable, "-c", "from stash_sense.cli import main; main()", "bench", "api", "--face-db", str(assets.face_db),
        "--images", str(assets.library / "heldout"), "--clients", str(clients), "--duration", str(duration), "--json",
    ]
    env = {k: v for k, v in os.environ.items() if k != "STASH_SENSE_API_KEY"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _check(report: dict, clients: int) -> None:
    assert report["clients"] == clients and report["errors"] == 0 and report["statuses"] == {"200": report["requests"]}
    assert report["ok"] >= clients and 0 < report["latency_ms_p50"] <= report["latency_ms_p95"] <= report["latency_ms_max"]
    # Memory is bounded: whatever the first half of the run needed, the second half does not keep growing.
    assert report["rss_mb_start"] and report["rss_mb_max"] < 4096
    assert report["rss_mb_max_second_half"] <= report["rss_mb_max_first_half"] * 1.2 + 32


def test_short_load_has_no_errors_and_bounded_memory(assets) -> None:
    report = _bench(assets, clients=5, duration=10)
    _check(report, 5)
    print(json.dumps(report))


@pytest.mark.slow
def test_full_load_20_clients_60_seconds(assets) -> None:
    report = _bench(assets, clients=20, duration=60)
    _check(report, 20)
    print(json.dumps(report))
