"""The bulk fingerprint job: coverage, skipping finished scenes, refresh after a face-DB swap,
stop and continue, and surviving SIGKILL with every scene fingerprinted exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from api_helpers import api_assets, client, running_emulator, running_sidecar, sidecar_env, sidecar_settings
from stash_sense.benchmark.api_load import free_port, sidecar_process
from stash_sense.facedb import load_manifest

FRAMES = 3


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path):
    return api_assets(tmp_path_factory, facedata)


def _wait_for(c: httpx.Client, done: Callable[[dict], bool], timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        progress = c.get("/recommendations/fingerprints/progress").json()
        if done(progress):
            return progress
        assert time.monotonic() < deadline, f"job did not get there in time: {progress}"
        time.sleep(0.2)


def _finished(progress: dict) -> bool:
    return progress["status"] in ("completed", "stopped", "failed")


def _fingerprints(data_dir: Path) -> dict[str, tuple[str, int, str]]:
    conn = sqlite3.connect(data_dir / "stash_sense.db")
    try:
        rows = conn.execute("SELECT scene_id, status, revision, face_db_version FROM scene_fingerprints").fetchall()
    finally:
        conn.close()
    return {sid: (status, revision, version) for sid, status, revision, version in rows}


def test_job_covers_the_library_skips_done_scenes_and_refreshes_outdated(assets, tmp_path: Path) -> None:
    data = tmp_path / "data"
    v1, v2 = load_manifest(assets.face_db).db_version, load_manifest(assets.face_db_v2).db_version
    with running_emulator(assets.library) as stash_url:
        settings = sidecar_settings(data, assets.face_db, stash_url=stash_url, fingerprint_frames=FRAMES)
        with running_sidecar(settings) as (url, _), client(url) as c:
            assert c.post("/identify/scene", json={"scene_id": "1", "params": {"num_frames": FRAMES}}).status_code == 200
            before = c.get("/recommendations/fingerprints/status").json()
            assert (before["total_scenes"], before["fingerprinted"], before["coverage"]) == (3, 1, 0.3333)

            started = c.post("/recommendations/fingerprints/generate", json={})
            assert started.status_code == 200 and started.json()["status"] in ("listing", "running")
            job = _wait_for(c, _finished)
            assert (job["status"], job["total"], job["done"], job["failed"], job["num_frames"]) == ("completed", 2, 2, 0, FRAMES)
            assert job["seconds_per_scene"] > 0 and job["percent"] == 100.0
            assert {sid: fp[:2] for sid, fp in _fingerprints(data).items()} == {s: ("complete", 1) for s in ("1", "2", "3")}

            assert c.post("/recommendations/fingerprints/generate", json={}).status_code == 200
            again = _wait_for(c, _finished)
            assert again["total"] == 0 and again["status"] == "completed"

            assert c.post("/database/reload", json={"confirm": True, "path": str(assets.face_db_v2)}).status_code == 200
            status = c.get("/recommendations/fingerprints/status").json()
            assert status["needs_refresh"] == 3 and status["details"]["by_version"] == {v1: 3} and status["face_db_version"] == v2

            c.post("/recommendations/fingerprints/generate", json={"refresh_outdated": False})
            assert _wait_for(c, _finished)["total"] == 0  # nothing is missing, nothing refreshed
            c.post("/recommendations/fingerprints/generate", json={"refresh_outdated": True, "num_frames": 2})
            refreshed = _wait_for(c, _finished)
            assert (refreshed["total"], refreshed["done"], refreshed["num_frames"]) == (3, 3, 2)
            assert {sid: fp[1:] for sid, fp in _fingerprints(data).items()} == {s: (2, v2) for s in ("1", "2", "3")}

            assert c.post("/recommendations/fingerprints/refresh-all").status_code == 400
            everything = c.post("/recommendations/fingerprints/refresh-all?confirm=true")
            assert everything.status_code == 200 and everything.json()["marked_for_refresh"] == 3
            assert _wait_for(c, _finished)["done"] == 3
            assert {fp[1] for fp in _fingerprints(data).values()} == {3}
            assert c.get("/recommendations/fingerprints/status").json()["needs_refresh"] == 0


def test_stop_then_generate_continues_where_it_left_off(assets, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_emulator(assets.big_library) as stash_url:
        settings = sidecar_settings(data, assets.face_db, stash_url=stash_url, fingerprint_frames=FRAMES)
        with running_sidecar(settings) as (url, _), client(url) as c:
            first = c.post("/recommendations/fingerprints/generate", json={}).json()
            assert c.post("/recommendations/fingerprints/generate", json={}).status_code == 409
            _wait_for(c, lambda p: p["done"] >= 2)
            stopping = c.post("/recommendations/fingerprints/stop").json()
            assert stopping["status"] in ("stopping", "stopped")
            stopped = _wait_for(c, _finished)
            assert stopped["status"] == "stopped" and stopped["job_id"] == first["job_id"]
            assert 2 <= stopped["done"] < 12 and stopped["remaining"] == 12 - stopped["done"]
            assert stopped["eta_s"] is None

            resumed = c.post("/recommendations/fingerprints/generate", json={}).json()
            assert resumed["job_id"] != first["job_id"]
            second = _wait_for(c, _finished)
            assert second["status"] == "completed" and second["total"] == 12 - stopped["done"] and second["failed"] == 0
    prints = _fingerprints(data)
    assert len(prints) == 12 and {fp[:2] for fp in prints.values()} == {("complete", 1)}


def test_sigkill_mid_job_then_restart_resumes_exactly_once(assets, tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    with running_emulator(assets.big_library) as stash_url:
        env = sidecar_env(data, assets.face_db, stash_url, STASH_SENSE_FINGERPRINT_FRAMES=str(FRAMES))
        with sidecar_process(env, port=port, log_path=tmp_path / "first.log") as (url, proc), client(url) as c:
            job_id = c.post("/recommendations/fingerprints/generate", json={}).json()["job_id"]
            progress = _wait_for(c, lambda p: p["done"] >= 3)
            os.killpg(proc.pid, signal.SIGKILL)  # the server and its workers, with no chance to clean up
            proc.wait(30)
            killed_at = progress["done"]
        assert killed_at < 12, "the job finished before it could be killed; the test proves nothing"
        half = _fingerprints(data)
        assert 3 <= len(half) < 12 and {fp[1] for fp in half.values()} == {1}

        with sidecar_process(env, port=port, log_path=tmp_path / "second.log") as (url, _proc), client(url) as c:
            resumed = _wait_for(c, _finished)
            assert resumed["job_id"] == job_id and resumed["status"] == "completed"
            assert (resumed["total"], resumed["done"], resumed["failed"]) == (12, 12, 0)

    prints = _fingerprints(data)
    assert sorted(prints, key=int) == [str(i) for i in range(1, 13)]  # none lost
    assert {fp[:2] for fp in prints.values()} == {("complete", 1)}  # each made exactly once
    conn = sqlite3.connect(data / "stash_sense.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        states = conn.execute("SELECT state, COUNT(*) FROM fingerprint_job_scenes WHERE job_id = ? GROUP BY state", (job_id,)).fetchall()
    finally:
        conn.close()
    assert states == [("done", 12)]
