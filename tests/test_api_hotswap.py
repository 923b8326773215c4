"""Face-DB hot swap: verified atomic switch, identifications served by the DB in service
meanwhile, the old DB kept when the new one is bad, in-flight work finishing on the old DB, and
swaps triggered by a new DB appearing on disk."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from api_helpers import api_assets, client, heldout_image, running_sidecar, sidecar_settings
from stash_sense.api.errors import ApiError
from stash_sense.api.state import FaceDBState
from stash_sense.facedb import load_manifest, verify_db


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path):
    return api_assets(tmp_path_factory, facedata)


def _identify_version(c: httpx.Client, photo: bytes) -> tuple[int, str | None, list[str]]:
    response = c.post("/identify", files={"file": ("p.jpg", photo, "image/jpeg")})
    if response.status_code != 200:
        return response.status_code, None, []
    body = response.json()
    return 200, body["face_db_version"], [m["name"] for f in body["faces"] for m in f["matches"]]


def test_reload_verifies_swaps_and_keeps_the_old_db_on_failure(assets, tmp_path: Path) -> None:
    v1 = load_manifest(assets.face_db).db_version
    v2 = load_manifest(assets.face_db_v2).db_version
    assert v1 != v2
    broken = tmp_path / "broken-db"
    shutil.copytree(assets.face_db_v2, broken)
    with open(broken / "performers.db", "ab") as fh:
        fh.write(b"tampered")
    photo = heldout_image(assets.library, 0)
    with running_sidecar(sidecar_settings(tmp_path / "data", assets.face_db)) as (url, _), client(url) as c:
        assert _identify_version(c, photo) == (200, v1, ["Brad Pitt"])
        swapped = c.post("/database/reload", json={"confirm": True, "path": str(assets.face_db_v2)})
        assert swapped.status_code == 200, swapped.text
        assert swapped.json()["previous_version"] == v1 and swapped.json()["version"] == v2
        assert _identify_version(c, photo) == (200, v2, ["Brad Pitt"])
        assert c.get("/database/info").json()["faces"] == 8  # two faces per performer in v2

        refused = c.post("/database/reload", json={"confirm": True, "path": str(broken)})
        assert refused.status_code == 422 and refused.json()["error"] == "db_verification_failed"
        assert "sha256 mismatch" in refused.json()["detail"] and "stays in use" in refused.json()["detail"]
        missing = c.post("/database/reload", json={"confirm": True, "path": str(tmp_path / "nowhere")})
        assert missing.status_code == 422
        assert httpx.get(f"{url}/health").json()["face_db"]["version"] == v2
        assert _identify_version(c, photo) == (200, v2, ["Brad Pitt"])
        # Reloading without a path re-verifies the directory in use.
        assert c.post("/database/reload", json={"confirm": True}).json()["version"] == v2


def test_identification_keeps_running_on_the_db_in_service_during_a_swap(assets, tmp_path: Path) -> None:
    # This test used to expect 503 + Retry-After for identifications while a swap verified the new
    # DB. That pause was never needed: the DB in service stays open until its last lease ends, so
    # identifications now keep running on it (the face-DB update flow swaps under load with no
    # failed identification) and the first one after the swap uses the new DB.
    photo = heldout_image(assets.library, 0)
    entered, release = threading.Event(), threading.Event()
    v1 = load_manifest(assets.face_db).db_version

    def slow_verify(directory: Path):
        entered.set()
        release.wait(60)
        return verify_db(directory)

    settings = sidecar_settings(tmp_path / "data", assets.face_db, allow_private_urls=True)  # scene URL on 127.0.0.1 below
    with running_sidecar(settings) as (url, app), client(url) as c:
        assert _identify_version(c, photo)[0] == 200
        app.state.sidecar.face_db.verify = slow_verify
        result: dict[str, httpx.Response] = {}
        swapper = threading.Thread(
            target=lambda: result.setdefault("r", client(url).post("/database/reload", json={"confirm": True, "path": str(assets.face_db_v2)}))
        )
        swapper.start()
        try:
            assert entered.wait(30)
            assert _identify_version(c, photo) == (200, v1, ["Brad Pitt"])  # the DB in service answers
            scene = c.post("/identify/scene", json={"url": "http://127.0.0.1:1/v.mp4"})
            assert scene.status_code != 503 and scene.json()["error"] != "db_swapping"  # the (unreachable) video is the problem
            health = httpx.get(f"{url}/health").json()
            assert health["face_db"]["swapping"] is True
            assert c.get("/capabilities").status_code == 200
            assert c.get("/database/info").json()["faces"] == 12  # still the DB in service
            assert c.get("/recommendations/fingerprints/status").status_code == 200
            second = c.post("/database/reload", json={"confirm": True})
            assert second.status_code == 409 and second.json()["error"] == "reload_in_progress"
        finally:
            release.set()
            swapper.join(60)
        assert result["r"].status_code == 200
        assert _identify_version(c, photo)[:2] == (200, load_manifest(assets.face_db_v2).db_version)


def test_work_in_flight_finishes_on_the_old_db_which_is_closed_after(assets) -> None:
    async def scenario() -> None:
        state = FaceDBState(assets.face_db)
        async with state.lease(models=False) as old:
            await state.reload(assets.face_db_v2)
            assert state.version == load_manifest(assets.face_db_v2).db_version
            # The old DB still answers for the call that holds it.
            assert len(old.db.performers([1, 2])) == 2
        with pytest.raises(sqlite3.ProgrammingError):
            old.db.performers([1])
        async with state.lease(models=False) as new:
            assert new is not old and len(new.db.performers([1])) == 1
        state.close()

    asyncio.run(scenario())


def test_a_failed_swap_raises_and_leaves_the_state_untouched(assets, tmp_path: Path) -> None:
    async def scenario() -> None:
        state = FaceDBState(assets.face_db)
        async with state.lease(models=False):
            pass
        before = state.version
        with pytest.raises(ApiError) as info:
            await state.reload(tmp_path)
        assert info.value.status == 422 and state.version == before and not state.swapping
        state.close()

    asyncio.run(scenario())


def _replace_db_files(source: Path, target: Path) -> None:
    """Install a DB the way a careful tool does: each file moved into place, the manifest last."""
    for name in ("performers.db", "faces.index", "manifest.json"):
        staged = target / f".{name}.new"
        shutil.copyfile(source / name, staged)
        os.replace(staged, target / name)


def test_a_new_db_on_disk_is_swapped_in_automatically(assets, tmp_path: Path) -> None:
    watched = tmp_path / "facedb"
    shutil.copytree(assets.face_db, watched)
    v2 = load_manifest(assets.face_db_v2).db_version
    settings = sidecar_settings(tmp_path / "data", watched, db_watch_interval_s=0.2)
    with running_sidecar(settings) as (url, _), client(url) as c:
        assert c.get("/database/info").status_code == 200  # loads the DB
        # A new manifest whose counts disagree with the files does not verify: not swapped in.
        v1 = load_manifest(assets.face_db).db_version
        text = (watched / "manifest.json").read_text()
        (watched / "manifest.json").write_text(text.replace(v1, "20300101T000000Z-badbadbadbad").replace('"faces": 12', '"faces": 13'))
        time.sleep(1.5)
        assert httpx.get(f"{url}/health").json()["face_db"]["version"] == v1
        _replace_db_files(assets.face_db_v2, watched)
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/health").json()["face_db"]["version"] != v2:
            assert time.monotonic() < deadline, "the new face DB was not picked up"
            time.sleep(0.2)
        assert c.get("/database/info").json()["faces"] == 8
