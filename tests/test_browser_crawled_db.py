"""A performer the user does not have yet: with a face DB crawled from the whole stash-box, a
held-out photo of a performer missing from Stash comes back with its stash-box identity, and in
the dashboard (a real Chromium against a sidecar process and the emulators) "Create from
stash-box" creates it in Stash, linked to that stash ID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_helpers import (
    BOX_KEY,
    MISSING_FROM_STASH,
    DashboardAssets,
    DashboardStack,
    dashboard_assets,
    dashboard_stack,
    require_browser,
    run_node_script,
)
from emulator_helpers import IDENTITIES, performer_stash_id


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> tuple[DashboardAssets, Path]:
    require_browser()
    from stash_sense.facedb.crawl.run import crawl_stashbox

    assets = dashboard_assets(tmp_path_factory, facedata)
    db = tmp_path_factory.mktemp("crawled") / "facedb"
    report = crawl_stashbox(assets.box_endpoint, db, api_key=BOX_KEY, progress=False, workers=1, requests_per_minute=6000)
    assert report.performers == len(IDENTITIES)
    return assets, db


@pytest.fixture(scope="module")
def stack(crawled: tuple[DashboardAssets, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardStack]:
    assets, db = crawled
    with dashboard_stack(assets, tmp_path_factory.mktemp("crawled-stack"), STASH_SENSE_FACE_DB=str(db)) as running:
        yield running


def test_a_photo_of_someone_not_in_stash_comes_back_with_the_stashbox_identity(stack: DashboardStack) -> None:
    missing = IDENTITIES[MISSING_FROM_STASH - 1]
    in_stash = [p["name"] for p in stack.gql("{ findPerformers { performers { name } } }")["findPerformers"]["performers"]]
    assert missing not in in_stash
    with stack.sidecar() as api, stack.assets.heldout_photo(MISSING_FROM_STASH).open("rb") as photo:
        response = api.post("/identify", files={"file": ("held-out.jpg", photo, "image/jpeg")})
    assert response.status_code == 200, response.text
    (face,) = response.json()["faces"]
    best = face["matches"][0]
    assert best["name"] == missing
    assert best["performer_id"] == f"{stack.assets.box_endpoint}#{performer_stash_id(MISSING_FROM_STASH)}"


def test_create_from_stashbox_in_the_dashboard(stack: DashboardStack) -> None:
    missing = IDENTITIES[MISSING_FROM_STASH - 1]
    result = run_node_script("dashboard_crawled_create", stack.browser_env(MISSING_NAME=missing))
    assert result["errors"] == [], result["errors"]
    assert result["before"].startswith("Not in Stash") and "Create from stash-box" in result["buttons"]
    assert result["after"] == f"Created {missing} in Stash and added it to the scene"
    created = [p for p in stack.scene_performers("1") if p["name"] == missing]
    assert created and created[0]["stash_ids"] == [
        {"endpoint": stack.assets.box_endpoint, "stash_id": performer_stash_id(MISSING_FROM_STASH)}
    ]
