"""Cross-stash-box links in the sidecar: ``GET /database/links`` lists them with their evidence,
and the dashboard's Face DB panel (a real Chromium against a sidecar process) shows them and
undoes one, which publishes and swaps in a new DB version."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from browser_helpers import SIDECAR_KEY, require_browser, run_node_script, sidecar_process
from crawl_helpers import link_catalogue

from stash_sense.devtools.emulator import create_stashbox_app, run_in_thread
from stash_sense.facedb.crawl.run import crawl_stashbox

KEY = "box-links-ui-key"


@pytest.fixture(scope="module")
def linked_db(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Path:
    require_browser()
    root = tmp_path_factory.mktemp("links-ui")
    catalogue = link_catalogue(facedata, root / "catalogue", lfw=6, celeb=0, per_identity=2)
    db = root / "facedb"
    with run_in_thread(create_stashbox_app(folders=[catalogue], api_key=KEY, id_namespace="a")) as a, \
            run_in_thread(create_stashbox_app(folders=[catalogue], api_key=KEY, id_namespace="b")) as b:
        for url in (a, b):
            report = crawl_stashbox(f"{url}/graphql", db, api_key=KEY, progress=False, workers=1, requests_per_minute=6000)
    assert report.links is not None and report.links.links_total == 6
    return db


def test_links_listed_and_one_undone_in_the_dashboard(linked_db: Path, tmp_path: Path) -> None:
    env = {"STASH_URL": "http://127.0.0.1:9", "STASH_SENSE_API_KEY": SIDECAR_KEY, "STASH_SENSE_DATA_DIR": str(tmp_path / "data"),
           "STASH_SENSE_FACE_DB": str(linked_db), "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_LOG_LEVEL": "WARNING"}
    with sidecar_process(env, name="links-sidecar") as url:
        api = httpx.Client(base_url=url, headers={"X-API-Key": SIDECAR_KEY}, timeout=60)
        before = api.get("/database/links").json()
        assert len(before["links"]) == 6 and {x["kind"] for x in before["links"]} == {"face+name"}
        assert all(x["distance"] is not None and x["names"] for x in before["links"])
        refused = api.post("/database/links/unlink", json={"identity": before["links"][0]["b"], "confirm": False})
        assert refused.status_code == 400
        unknown = api.post("/database/links/unlink", json={"identity": "https://nowhere.example/graphql#x", "confirm": True})
        assert unknown.status_code == 404
        result = run_node_script("dashboard_links", {"BASE_URL": url, "SIDECAR_KEY": SIDECAR_KEY})
        after = api.get("/database/links").json()
        info = api.get("/database/info").json()
        not_linked = api.post("/database/links/unlink", json={"identity": result["victim"], "confirm": True})
    assert result["errors"] == [], result["errors"]
    assert len(result["before"]) == 6 and result["stateBefore"].startswith("6 performers linked")
    assert all("names agree" in r["why"] and "faces" in r["why"] and r["name"] for r in result["before"])
    assert result["stateAfter"].startswith(f"Split {result['victim']} off") and len(result["after"]) == 5
    assert result["phoneOverflow"]["scrollWidth"] <= result["phoneOverflow"]["clientWidth"], result["phoneOverflow"]
    assert len(after["links"]) == 5 and after["db_version"] == info["db_version"] != before["db_version"]
    assert info["performers"] == 7  # 6 linked pairs, one split apart again
    assert not_linked.status_code == 422
