"""The dashboard in a real browser (headless Chromium via playwright-core) against a real
sidecar process and the Stash emulator: each flow checks what the user sees and what changed
in Stash. Skips with a message when chromium, node or node_modules are missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_helpers import (
    MISSING_FROM_STASH,
    SIDECAR_KEY,
    DashboardAssets,
    DashboardStack,
    dashboard_assets,
    dashboard_stack,
    require_browser,
    run_node_script,
)
from emulator_helpers import IDENTITIES, performer_stash_id


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> DashboardAssets:
    require_browser()  # skip before building anything
    return dashboard_assets(tmp_path_factory, facedata)


@pytest.fixture(scope="module")
def stack(assets: DashboardAssets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardStack]:
    """One Stash emulator and one sidecar process for the module (models load once). The tests
    run in file order: fingerprints first (they need scenes never identified), then the image
    and panels, then the scene review (the only one that changes Stash)."""
    with dashboard_stack(assets, tmp_path_factory.mktemp("dashboard-stack")) as running:
        yield running


def _no_errors(result: dict) -> None:
    assert result["errors"] == [], result["errors"]


def _names_ok(check: dict) -> None:
    assert check["checked"] > 0 and check["unnamed"] == [], check


def test_fingerprints_start_progress_and_stop(stack: DashboardStack) -> None:
    result = run_node_script("dashboard_fingerprints", stack.browser_env())
    _no_errors(result)
    assert result["before"]["Scenes in Stash"] == "3" and result["before"]["Fingerprinted"] == "0"
    assert "running" in result["running"] and result["stopEnabledWhileRunning"]
    assert "stopped" in result["stopped"] and result["startEnabledAfterStop"]
    with stack.sidecar() as api:
        status = api.get("/recommendations/fingerprints/status").json()
    # What the page shows is what the sidecar recorded: stopped part-way, progress kept.
    assert status["job"]["status"] == "stopped"
    assert 1 <= status["fingerprinted"] < 3
    assert result["after"]["Fingerprinted"] == str(status["fingerprinted"])
    assert result["progressValue"] == pytest.approx(status["job"]["percent"], abs=0.01)


def test_image_panels_names_and_phone_layout(stack: DashboardStack) -> None:
    report = stack.data_dir / "benchmarks" / "quick-run"
    report.mkdir(parents=True)
    (report / "summary.txt").write_text("Benchmark summary\nscenes: 3\nprecision 1.000 recall 1.000\n")
    (report / "report.html").write_text("<!doctype html><title>r</title><h1>Benchmark of the test library</h1>")
    photo, dropped = stack.assets.heldout_photo(4), stack.assets.heldout_photo(1)
    result = run_node_script("dashboard_panels", stack.browser_env(IMAGE_PATH=str(photo), DROP_IMAGE_PATH=str(dropped)))
    _no_errors(result)

    assert result["imageFaces"] and result["imageFaces"][0]["best"] == IDENTITIES[3], result["imageFaces"]
    assert result["imageBoxes"] == len(result["imageFaces"]) and "identified" in result["imageState"]
    assert result["droppedBest"] == IDENTITIES[0] and "identified" in result["droppedState"]
    with stack.sidecar() as api:
        info = api.get("/database/info").json()
    assert result["faceDB"]["version"] == info["db_version"] and result["faceDB"]["faces"] == str(info["faces"])
    assert result["faceDB"]["bars"] == len(info["face_count_buckets"])
    assert result["faceDBReload"].startswith(f"Reloaded: {info['db_version']} → {info['db_version']}")
    assert result["benchmarkSummary"].startswith("Benchmark summary")
    assert result["benchmarkHeading"] == "Benchmark of the test library"
    assert "reachable" in result["connection"] and "unreachable" not in result["connection"]
    assert "<set>" in result["settingsText"] and SIDECAR_KEY not in result["settingsText"]
    assert "stash-key" not in result["settingsText"] and "STASH_SENSE_API_KEY" in result["settingsText"]

    assert len(result["panels"]) == 12
    for where, check in result["panels"].items():
        _names_ok(check["names"])
        assert check["overflow"]["scrollWidth"] <= check["overflow"]["clientWidth"], (where, check["overflow"])


def test_scene_review_creates_and_adds_performers_in_stash(stack: DashboardStack) -> None:
    missing, present, linked = IDENTITIES[MISSING_FROM_STASH - 1], IDENTITIES[0], IDENTITIES[2]
    in_stash = [p["name"] for p in stack.gql("{ findPerformers { performers { name } } }")["findPerformers"]["performers"]]
    assert missing not in in_stash and present in in_stash and stack.scene_performers("1") == []
    result = run_node_script("dashboard_scene", stack.browser_env(MISSING_NAME=missing, PRESENT_NAME=present, LINK_NAME=linked))
    _no_errors(result)

    # The key was asked for once, a wrong one refused, and it is not asked for again.
    assert result["promptedForKey"] and "refused" in result["wrongKeyMessage"]
    assert result["stashBadge"].startswith("Stash: ") and "unreachable" not in result["stashBadge"]
    assert result["promptedAgainAfterReload"] is False

    # Scene 1: Brad (in Stash) and Kate (only on stash-box) found, largest first, with faces.
    before = {r["best"]: r for r in result["scene1Before"]}
    assert {present, missing} <= set(before) and all(r["thumbnail"] for r in result["scene1Before"])
    assert before[present]["frameThumbnails"] == 4 and before[missing]["frameThumbnails"] == 4  # seen in 20 frames
    assert before[present]["state"] == f"In Stash as {present}, not on the scene"
    assert before[missing]["state"].startswith("Not in Stash") and "Create from stash-box" in before[missing]["buttons"]
    assert "Create from stash-box" not in before[present]["buttons"]
    after = {r["best"]: r for r in result["scene1After"]}
    assert after[present]["state"] == f"Added {present} to the scene"
    assert after[missing]["state"] == f"Created {missing} in Stash and added it to the scene"
    assert all(r["stateKind"] == "skipped" for r in result["scene1After"] if r["best"] not in (present, missing))
    assert present in result["scene1Meta"] and missing in result["scene1Meta"]
    # ... and in Stash: both on the scene, the new performer linked to its stash-box entry.
    on_scene = {p["name"]: p for p in stack.scene_performers("1")}
    assert set(on_scene) == {present, missing}
    assert on_scene[missing]["stash_ids"] == [{"endpoint": stack.assets.box_endpoint, "stash_id": performer_stash_id(MISSING_FROM_STASH)}]

    # Scene 2: no confident match; linked from the keyboard to an existing performer, then added.
    assert result["scene2Before"][0]["state"] == "No confident match"
    assert result["scene2Linked"][0]["best"] == linked
    assert result["scene2After"][0]["state"] == f"Added {linked} to the scene"
    assert [p["name"] for p in stack.scene_performers("2")] == [linked]
    # Identified again, the row shows the performer now tagged in Stash, with nothing to add.
    again = result["scene2Again"][0]
    assert again["best"] == linked and again["state"] == f"Already on the scene ({linked})"
    assert "Add to scene" not in again["buttons"]

    _names_ok(result["names"])
    overflow = result["phoneOverflow"]
    assert overflow["scrollWidth"] <= overflow["clientWidth"], overflow
