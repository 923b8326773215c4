"""The sidecar's face-DB update flow, over real HTTP: a release served by a static file server,
the sidecar in its own process identifying a real photo with the real models while it updates.

Bars: ``POST /database/update`` while 10 clients identify gives 0 failed identifications and
the new version shows in ``/database/info``; an update whose download breaks off rolls back and
the old version keeps serving; a swap that fails after the install flips the link back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api_helpers import SIDECAR_KEY, api_assets, client, heldout_image, sidecar_env, sidecar_settings
from browser_helpers import sidecar_process
from release_helpers import copy_pack, static_server, tree_state
from stash_sense.facedb import load_manifest, optimize_db, versions
from stash_sense.facedb.release_pack import pack_delta, pack_full

CLIENTS = 10


@dataclass(frozen=True)
class UpdateAssets:
    library: Path
    v1: Path
    v2: Path
    v3: Path
    packs: Path

    def version(self, directory: Path) -> str:
        return load_manifest(directory).db_version


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> UpdateAssets:
    api = api_assets(tmp_path_factory, facedata)
    root = tmp_path_factory.mktemp("db-update")
    v3 = root / "v3"
    optimize_db(api.face_db, v3, min_faces=0, max_faces_per_performer=1)  # a third version, no ML
    packs = root / "packs"
    pack_delta(api.face_db, api.face_db_v2, packs / "delta-v1-v2.tar.gz")
    pack_full(v3, packs / "full-v3.tar.gz")
    return UpdateAssets(api.library, api.face_db, api.face_db_v2, v3, packs)


class Identifiers:
    """``CLIENTS`` threads identifying the same photo in a loop, each on its own connection."""

    def __init__(self, url: str, photo: bytes) -> None:
        self.url, self.photo = url, photo
        self.results: list[tuple[int, str | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(CLIENTS)]

    def _loop(self) -> None:
        with client(self.url, timeout=120) as c:
            while not self._stop.is_set():
                try:
                    response = c.post("/identify", files={"file": ("p.jpg", self.photo, "image/jpeg")})
                    outcome = (response.status_code, response.json().get("face_db_version") if response.status_code == 200 else response.text[:200])
                except httpx.HTTPError as exc:
                    outcome = (0, f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self.results.append(outcome)

    def __enter__(self) -> Identifiers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(150)

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def wait_for(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            assert time.monotonic() < deadline, f"only {self.count()} identifications in {timeout} s: {self.results[:3]}"
            time.sleep(0.1)


def _wait_for_job(c: httpx.Client, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = c.get("/database/update/status").json()
        if job["status"] not in ("downloading", "installing", "swapping", "checking"):
            return job
        assert time.monotonic() < deadline, f"the update did not finish: {job}"
        time.sleep(0.2)


def _serve(served: Path, pack: Path, *, cut_at: int | None = None) -> None:
    """Offer ``pack`` as the release at ``served/facedb.tar.gz`` (side files included); with
    ``cut_at`` the server breaks the download off after that many bytes."""
    for old in served.glob("facedb.tar.gz*"):
        old.unlink()
    copy_pack(pack, served, "facedb.tar.gz")
    if cut_at is not None:
        (served / "facedb.tar.gz.truncate").write_text(str(cut_at))


@contextlib.contextmanager
def _stack(assets: UpdateAssets, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """Static server + sidecar process serving a plain copy of v1 (what `db build` leaves):
    yields (sidecar URL, face-DB path, served folder)."""
    served = tmp_path / "served"
    served.mkdir()
    target = tmp_path / "facedb"
    shutil.copytree(assets.v1, target)
    with static_server(served) as files_url:
        env = sidecar_env(tmp_path / "data", target, None, STASH_SENSE_FACE_DB_SOURCE=f"{files_url}/facedb.tar.gz")
        with sidecar_process(env, name="db-update-sidecar") as url:
            yield url, target, served


def test_update_under_load_then_a_broken_download_rolls_back(assets: UpdateAssets, tmp_path: Path) -> None:
    v1, v2, v3 = assets.version(assets.v1), assets.version(assets.v2), assets.version(assets.v3)
    photo = heldout_image(assets.library, 0)
    with _stack(assets, tmp_path) as (url, target, served), client(url) as c:
        check = c.get("/database/update").json()
        assert check["configured"] and check["installed_version"] == v1 and check["error"]  # nothing offered yet
        _serve(served, assets.packs / "delta-v1-v2.tar.gz")
        check = c.get("/database/update").json()
        assert check["available_version"] == v2 and check["kind"] == "delta" and check["base_version"] == v1
        assert check["applicable"] and check["update_available"] and check["size"] == (assets.packs / "delta-v1-v2.tar.gz").stat().st_size
        assert c.post("/database/update", json={"confirm": False}).status_code == 400

        with Identifiers(url, photo) as load:
            load.wait_for(2 * CLIENTS)  # models loaded, every client running
            started = c.post("/database/update", json={"confirm": True})
            assert started.status_code == 202, started.text
            assert started.json()["to_version"] == v2
            job = _wait_for_job(c)
            done_at = load.count()
            load.wait_for(done_at + 2 * CLIENTS)  # keep identifying on the new version
        assert job["status"] == "completed", job
        failed = [r for r in load.results if r[0] != 200]
        assert failed == [], failed[:5]
        seen = [version for _, version in load.results]
        assert set(seen) == {v1, v2} and seen[-1] == v2
        info = c.get("/database/info").json()
        assert info["db_version"] == v2 and info["directory"].endswith(f"facedb.versions/{v2}")
        assert os.readlink(target) == f"facedb.versions/{v2}"
        assert c.post("/database/update", json={"confirm": True}).json()["error"] == "no_update"

        # A release whose download breaks off half-way: rolled back, v2 keeps serving.
        full = assets.packs / "full-v3.tar.gz"
        _serve(served, full, cut_at=full.stat().st_size // 2)
        before = tree_state(target)
        with Identifiers(url, photo) as load:
            load.wait_for(CLIENTS)
            assert c.post("/database/update", json={"confirm": True}).status_code == 202
            job = _wait_for_job(c)
            load.wait_for(load.count() + CLIENTS)
        assert job["status"] == "rolled_back" and job["to_version"] == v3, job
        assert "ended after" in job["error"] or "broke off" in job["error"], job["error"]
        assert [r for r in load.results if r != (200, v2)] == []
        assert c.get("/database/info").json()["db_version"] == v2
        assert tree_state(target) == before
        assert not [p for p in versions.versions_root(target).iterdir() if p.name.startswith(".staging-")]


def test_a_swap_that_fails_after_the_install_flips_the_link_back(assets: UpdateAssets, tmp_path: Path) -> None:
    from stash_sense.api.db_update import FaceDBUpdater
    from stash_sense.api.errors import ApiError
    from stash_sense.api.state import FaceDBState

    target = tmp_path / "facedb"
    shutil.copytree(assets.v1, target)
    served = tmp_path / "served"
    _serve(served, assets.packs / "delta-v1-v2.tar.gz")
    settings = sidecar_settings(tmp_path / "data", target, face_db_source=str(served / "facedb.tar.gz"))

    class FailingSwap(FaceDBState):
        async def reload(self, directory: Path | None = None):  # type: ignore[no-untyped-def]
            raise ApiError(422, "db_unusable", "cannot open it (simulated)")

    async def scenario() -> dict:
        updater = FaceDBUpdater(settings, FailingSwap(target))
        await updater.start()
        assert updater._task is not None
        await updater._task
        return updater.progress().model_dump()

    job = asyncio.run(scenario())
    assert job["status"] == "rolled_back" and "simulated" in job["error"], job
    v1 = assets.version(assets.v1)
    assert versions.current_version(target) == v1 and os.readlink(target) == f"facedb.versions/{v1}"


def test_update_without_a_source(assets: UpdateAssets, tmp_path: Path) -> None:
    from stash_sense.api.app import create_app
    from stash_sense.devtools.emulator import run_in_thread

    with run_in_thread(create_app(sidecar_settings(tmp_path / "data", assets.v1))) as url, client(url) as c:
        check = c.get("/database/update").json()
        assert check["configured"] is False and check["update_available"] is False and check["job"]["status"] == "idle"
        refused = c.post("/database/update", json={"confirm": True})
        assert refused.status_code == 409 and refused.json()["error"] == "no_update_source"
        assert SIDECAR_KEY not in refused.text


def test_a_running_sidecar_follows_an_install_from_the_command_line(assets: UpdateAssets, tmp_path: Path) -> None:
    from api_helpers import running_sidecar

    from stash_sense.facedb.release_install import install

    target = tmp_path / "facedb"
    install(str(assets.v1), target)  # versioned from the start
    v2 = assets.version(assets.v2)
    with running_sidecar(sidecar_settings(tmp_path / "data", target, db_watch_interval_s=0.2)) as (url, _), client(url) as c:
        assert c.get("/database/info").json()["db_version"] == assets.version(assets.v1)
        install(str(assets.packs / "delta-v1-v2.tar.gz"), target)
        deadline = time.monotonic() + 20
        while c.get("/database/info").json()["db_version"] != v2:
            assert time.monotonic() < deadline, "the installed version was not picked up"
            time.sleep(0.2)
        assert c.get("/database/info").json()["directory"].endswith(f"facedb.versions/{v2}")
