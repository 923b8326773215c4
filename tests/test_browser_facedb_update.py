"""The dashboard's Face DB update in a real browser (headless Chromium via playwright-core)
against a real sidecar process whose update source is a release on a static file server: the
offered version, Update with live progress, the swapped-in DB on the page and in the sidecar,
then a broken download rolled back. Skips with a message when chromium, node or node_modules
are missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from api_helpers import SIDECAR_KEY, api_assets, client, sidecar_env
from browser_helpers import require_browser, run_node_script, sidecar_process
from release_helpers import copy_pack, static_server
from stash_sense.facedb import load_manifest, optimize_db
from stash_sense.facedb.release_pack import pack_delta, pack_full


def _offer(served: Path, pack: Path, *, cut_at: int | None = None) -> None:
    for old in served.glob("facedb.tar.gz*"):
        old.unlink()
    copy_pack(pack, served, "facedb.tar.gz")
    if cut_at is not None:
        (served / "facedb.tar.gz.truncate").write_text(str(cut_at))


def test_update_from_the_face_db_panel(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> None:
    require_browser()  # skip before building anything
    assets = api_assets(tmp_path_factory, facedata)
    v1, v2 = load_manifest(assets.face_db).db_version, load_manifest(assets.face_db_v2).db_version
    packs = tmp_path / "packs"
    delta = pack_delta(assets.face_db, assets.face_db_v2, packs / "delta.tar.gz")
    optimize_db(assets.face_db, tmp_path / "v3", min_faces=0, max_faces_per_performer=1)
    full_v3 = pack_full(tmp_path / "v3", packs / "full-v3.tar.gz")
    served = tmp_path / "served"
    served.mkdir()
    _offer(served, packs / "delta.tar.gz")
    target = tmp_path / "facedb"
    shutil.copytree(assets.face_db, target)
    with static_server(served) as files_url:
        env = sidecar_env(tmp_path / "data", target, None, STASH_SENSE_FACE_DB_SOURCE=f"{files_url}/facedb.tar.gz")
        with sidecar_process(env, name="facedb-update-sidecar") as url:
            browser_env = {"BASE_URL": url, "SIDECAR_KEY": SIDECAR_KEY, "NEW_VERSION": v2}
            result = run_node_script("dashboard_facedb_update", browser_env)
            assert result["errors"] == [], result["errors"]
            before, after = result["before"], result["after"]
            assert before["version"] == v1 == before["installed"] and before["available"] == v2 and before["updateEnabled"]
            assert before["kind"] == f"Changes since {v1}"
            assert after["status"] == "completed" and after["state"] == f"Updated: {v1} → {v2}." and after["progress"] == 100
            assert after["version"] == v2 == after["installed"] and not after["updateEnabled"]
            with client(url) as api:
                info = api.get("/database/info").json()
            assert info["db_version"] == v2 and after["faces"] == str(info["faces"])
            assert any(s["status"] in ("downloading", "installing", "swapping") for s in result["samples"]), result["samples"]
            assert delta.size < full_v3.size

            _offer(served, packs / "full-v3.tar.gz", cut_at=full_v3.size // 2)
            broken = run_node_script("dashboard_facedb_update", {**browser_env, "MODE": "broken"})
            assert broken["errors"] == [], broken["errors"]
            assert broken["before"]["available"] == full_v3.db_version and broken["before"]["kind"] == "Whole database"
            assert broken["after"]["state"].startswith(f"Update to {full_v3.db_version} failed and was rolled back")
            assert broken["after"]["version"] == v2
            with client(url) as api:
                assert api.get("/database/info").json()["db_version"] == v2
            for where, check in broken["layout"].items():
                assert check["names"]["checked"] > 0 and check["names"]["unnamed"] == [], (where, check["names"])
                assert check["overflow"]["scrollWidth"] <= check["overflow"]["clientWidth"], (where, check["overflow"])
