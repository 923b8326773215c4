"""The recommendations panel in a real browser against a real sidecar process and the Stash
emulator serving a tiny rendered library with planted duplicates: the page runs the analysis,
merges a duplicate scene (checked in the emulator), dismisses another (still dismissed after a
full re-run, on the page and in the API), and deletes a scene's extra file in bulk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api_helpers import app_process
from browser_helpers import ARTIFACTS, SIDECAR_KEY, STASH_KEY, require_browser, run_node_script, sidecar_process
from duplicates_helpers import planted_library
from plugin_helpers import PLUGIN_DIR, PLUGIN_ID, gql_data

from stash_sense.devtools.samplelib import load_library


@dataclass(frozen=True)
class Stack:
    library: Path
    stash_url: str
    sidecar_url: str

    def gql(self, query: str, variables: dict | None = None) -> dict:
        response = httpx.post(f"{self.stash_url}/graphql", json={"query": query, "variables": variables or {}},
                              headers={"ApiKey": STASH_KEY}, timeout=30)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    def sidecar(self) -> httpx.Client:
        return httpx.Client(base_url=self.sidecar_url, headers={"X-API-Key": SIDECAR_KEY}, timeout=60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[Stack]:
    require_browser()  # skip before rendering anything
    library = planted_library(tmp_path_factory, facedata)
    root = tmp_path_factory.mktemp("recommendations-stack")
    with app_process("stash", library, name="recommendations-stash", api_key=STASH_KEY, state_db=root / "stash-state.db") as stash_url:
        env = {
            "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
            "STASH_SENSE_DATA_DIR": str(root / "sidecar-data"), "STASH_SENSE_FACE_DB": str(root / "no-face-db"),
            "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_LOG_LEVEL": "WARNING",
        }
        with sidecar_process(env, name="recommendations-sidecar") as sidecar_url:
            yield Stack(library, stash_url, sidecar_url)


@pytest.fixture(scope="module")
def plugin_stack(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[Stack]:
    """The same library in another emulator with ``plugin/`` installed and configured for its
    own sidecar process: the plugin page reaches the sidecar only through the plugin backend."""
    require_browser()
    library = planted_library(tmp_path_factory, facedata)
    root = tmp_path_factory.mktemp("recommendations-plugin")
    plugins = root / "plugins"
    plugins.mkdir()
    (plugins / PLUGIN_ID).symlink_to(PLUGIN_DIR, target_is_directory=True)
    with app_process(
        "stash", library, name="recommendations-plugin-stash", api_key=STASH_KEY, state_db=root / "stash-state.db", plugins_dir=plugins,
    ) as stash_url:
        env = {
            "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
            "STASH_SENSE_DATA_DIR": str(root / "sidecar-data"), "STASH_SENSE_FACE_DB": str(root / "no-face-db"),
            "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_LOG_LEVEL": "WARNING",
        }
        with sidecar_process(env, name="recommendations-plugin-sidecar") as sidecar_url:
            gql_data(stash_url, 'mutation($input: Map!) { configurePlugin(plugin_id: "stash-sense", input: $input) }',
                     {"input": {"sidecarUrl": sidecar_url, "sidecarApiKey": SIDECAR_KEY}}, key=STASH_KEY)
            yield Stack(library, stash_url, sidecar_url)


def _target(a: str, b: str) -> str:
    return f"scenes:{min(a, b, key=int)},{max(a, b, key=int)}"


def test_review_merge_dismiss_and_bulk_fix(stack: Stack) -> None:
    truth = load_library(stack.library).duplicates
    assert truth is not None
    merge = next(p for p in truth.scenes if p.kind == "reencode")
    dismissed = next(p for p in truth.scenes if p.kind == "stash_id")
    same_id = next(p for p in truth.performers if p.kind == "stash_id")
    performer_target = "performers:" + ",".join(sorted(same_id.ids, key=int))
    scenes_before = stack.gql("{ findScenes { count } }")["findScenes"]["count"]
    assert stack.gql("query($id: ID!) { findScene(id: $id) { id } }", {"id": merge.b})["findScene"] is not None

    result = run_node_script("dashboard_recommendations", {
        "BASE_URL": stack.sidecar_url, "SIDECAR_KEY": SIDECAR_KEY,
        "MERGE_TARGET": _target(merge.a, merge.b), "KEEPER": merge.a, "DISMISS_TARGET": _target(dismissed.a, dismissed.b),
        "PERFORMER_TARGET": performer_target,
    })
    assert result["errors"] == [], result["errors"]
    assert result["initialState"] == "No analysis has run yet."

    # The analysis ran from the page; the page lists every planted pair and no look-alike.
    assert result["firstRun"].startswith("Duplicate scenes analysis completed (full")
    targets = {item["target"] for item in result["listed"]}
    assert {_target(p.a, p.b) for p in truth.scenes} <= targets
    assert not {_target(p.a, p.b) for p in truth.lookalikes} & targets
    assert result["countsAfterRun"]["duplicate_scenes"]["open"] == len(targets) == 4
    assert result["pageText"] == "Page 1 of 1 (4 recommendations)"
    # The minimum-confidence filter: only the pairs at 90% or more.
    assert result["confident"] and all(int(item["confidence"].rstrip("%")) >= 90 for item in result["confident"])
    assert {item["target"] for item in result["confident"]} == {
        item["target"] for item in result["listed"] if int(item["confidence"].rstrip("%")) >= 90}
    assert len(result["confident"]) < len(result["listed"])

    # The review: evidence shares, both scenes side by side, the differing fields marked.
    before = result["mergeBefore"]
    assert before["status"] == "open" and sorted(before["columns"], key=int) == sorted([merge.a, merge.b], key=int)
    merge_id = next(item["id"] for item in result["listed"] if item["target"] == _target(merge.a, merge.b))
    with stack.sidecar() as api:
        merged_rec = api.get(f"/recommendations/{merge_id}").json()
    # Each signal's share as the sidecar computed it, largest first; the phash distance spelled out.
    shares = merged_rec["evidence"]["shares"]
    assert [e["signal"] for e in before["evidence"]] == sorted(shares, key=lambda k: -shares[k])
    assert all(e["share"] == f"{round(shares[e['signal']] * 100)}%" for e in before["evidence"])
    phash = merged_rec["evidence"]["signals"]["phash"]
    assert f"{phash['distance']} bit" in next(e["detail"] for e in before["evidence"] if e["signal"] == "phash")
    rows = {r["field"]: r for r in before["rows"]}
    assert rows["Path"]["differs"] and len(set(rows["Path"]["values"])) == 2
    assert rows["Codec"]["values"] and all(v for v in rows["Codec"]["values"])
    assert all(r["differs"] == (len(set(r["values"])) > 1) for r in before["rows"])
    assert {"Merge scenes…", "Dismiss", "Dismiss for ever", "Not a duplicate"} <= set(before["buttons"])
    assert result["keeperChosen"] == merge.a
    assert f"into scene {merge.a}" in result["confirmText"] and merge.b in result["confirmText"]

    # Merged on the page, and in Stash: the other scene is gone, its file moved to the keeper.
    after = result["mergeAfter"]
    assert after["status"] == "resolved" and any("merge_scenes done" in line for line in after["history"])
    assert stack.gql("query($id: ID!) { findScene(id: $id) { id } }", {"id": merge.b})["findScene"] is None
    action = merged_rec["actions"][0]
    assert action["action"] == "merge_scenes" and action["detail"]["after"]["scene_ids"] == [merge.a]
    assert len(action["detail"]["after"]["files"]) == 2  # the merged scene's file moved to the keeper
    assert stack.gql("{ findScenes { count } }")["findScenes"]["count"] == scenes_before - 1
    assert _target(merge.a, merge.b) not in {item["target"] for item in result["openAfterMerge"]}

    # Dismissed, then a full re-run: still dismissed on the page and in the API.
    assert result["dismissedDetail"]["status"] == "dismissed" and "Undismiss" in result["dismissedDetail"]["buttons"]
    assert "completed (full" in result["secondRun"] and "1 kept dismissed" in result["secondRun"]
    assert _target(dismissed.a, dismissed.b) not in {item["target"] for item in result["openAfterRerun"]}
    assert [item["target"] for item in result["dismissedAfterRerun"]] == [_target(dismissed.a, dismissed.b)]
    with stack.sidecar() as api:
        run = api.get("/recommendations/analysis/runs", params={"type": "duplicate_scenes", "limit": 1}).json()[0]
        assert run["mode"] == "full" and run["suppressed"] == 1
        rec_id = result["dismissedAfterRerun"][0]["id"]
        rec = api.get(f"/recommendations/{rec_id}").json()
        assert rec["status"] == "dismissed" and rec["dismissal"] == "soft"
        open_targets = {r["target"] for r in api.get("/recommendations", params={"type": "duplicate_scenes"}).json()["items"]}
    assert _target(dismissed.a, dismissed.b) not in open_targets
    # The counts on the page are the sidecar's (the bulk file fix later changes no scene counts).
    with stack.sidecar() as api:
        final_counts = api.get("/recommendations/counts").json()["counts"]
    assert result["countsAfterRerun"]["duplicate_scenes"] == {**{"open": 0, "dismissed": 0, "resolved": 0, "obsolete": 0}, **final_counts["duplicate_scenes"]}
    assert result["countsAfterRerun"]["duplicate_scenes"]["dismissed"] == 1 and final_counts["duplicate_scenes"]["resolved"] == 1

    # Bulk fix of the extra files: the planted scene with two files, and the merged scene (which
    # now holds both copies). The plan names codecs and sizes and keeps one file of each.
    with_two = {truth.files[0], merge.a}
    assert {item["target"] for item in result["filesListed"]} == {f"scene:{sid}" for sid in with_two}
    assert "h264" in result["bulkConfirmText"] and result["bulkConfirmText"].count("Keep ") == 2
    assert result["bulkState"] == "Fixed 2 of 2."
    for sid in with_two:
        files = stack.gql("query($id: ID!) { findScene(id: $id) { files { id } } }", {"id": sid})["findScene"]["files"]
        assert len(files) == 1, (sid, files)

    # The performer pair sharing a stash ID: both side by side, the suggested keeper preselected.
    review = result["performerReview"]
    assert sorted(review["columns"], key=int) == sorted(same_id.ids, key=int)
    with stack.sidecar() as api:
        suggested = api.get(f"/recommendations/{review['id']}").json()["evidence"]["keeper"]
    assert review["keeper"] == suggested and any("same stash-box ID" in line for line in review["evidenceList"])
    names = next(r for r in review["rows"] if r["field"] == "Name")
    assert names["differs"] and len(set(names["values"])) == 2
    assert "Merge performers…" in review["buttons"]

    # Every control named, no horizontal scrolling at 1280x800 and 390x844.
    assert set(result["checks"]) == {"list@1280x800", "detail@1280x800", "detail@390x844", "confirm@1280x800", "list@390x844"}
    for where, check in result["checks"].items():
        assert check["names"]["checked"] > 0 and check["names"]["unnamed"] == [], (where, check["names"])
        assert check["overflow"]["scrollWidth"] <= check["overflow"]["clientWidth"], (where, check["overflow"])
    for shot in ("list-1280x800", "review-1280x800", "review-390x844", "list-390x844"):
        assert (ARTIFACTS / f"dashboard-recommendations-{shot}.png").stat().st_size > 10_000


def test_plugin_page_review_merge_and_dismiss(plugin_stack: Stack) -> None:
    stack = plugin_stack
    truth = load_library(stack.library).duplicates
    assert truth is not None
    merge = next(p for p in truth.scenes if p.kind == "reencode")
    dismissed = next(p for p in truth.scenes if p.kind == "stash_id")
    result = run_node_script("plugin_recommendations", {
        "STASH_URL": stack.stash_url, "STASH_KEY": STASH_KEY,
        "MERGE_TARGET": _target(merge.a, merge.b), "KEEPER": merge.a, "DISMISS_TARGET": _target(dismissed.a, dismissed.b),
    })
    assert result["errors"] == [], result["errors"]
    assert result["firstRun"].startswith("Last analysis (scenes): completed, 4 raised")
    assert set(result["listed"]) == {_target(p.a, p.b) for p in truth.scenes}
    before = result["before"]
    assert before["status"] == "open" and any(line.startswith("phash: ") for line in before["evidence"])
    assert "Resolution ≠" in before["differing"] and "Performers" not in " ".join(before["differing"])
    assert f"into scene {merge.a}" in result["confirmText"] and "This changes Stash." in result["confirmText"]
    assert result["after"]["status"] == "resolved"
    # In Stash: the other scene is gone, its file now on the keeper.
    assert stack.gql("query($id: ID!) { findScene(id: $id) { id } }", {"id": merge.b})["findScene"] is None
    kept = stack.gql("query($id: ID!) { findScene(id: $id) { files { id } } }", {"id": merge.a})["findScene"]
    assert len(kept["files"]) == 2
    # "Not a duplicate" holds through a full re-run, on the page and in the sidecar.
    assert "completed" in result["secondRun"] and "1 kept dismissed" in result["secondRun"]
    assert _target(dismissed.a, dismissed.b) not in result["openAfterRerun"]
    assert result["dismissedAfterRerun"] == [_target(dismissed.a, dismissed.b)]
    with stack.sidecar() as api:
        items = api.get("/recommendations", params={"type": "duplicate_scenes", "status": "dismissed"}).json()["items"]
    assert [(r["target"], r["dismissal"]) for r in items] == [(_target(dismissed.a, dismissed.b), "not_duplicate")]
    for where, check in result["checks"].items():
        assert check["names"]["checked"] > 0 and check["names"]["unnamed"] == [], (where, check["names"])
        assert check["overflow"]["scrollWidth"] <= check["overflow"]["clientWidth"], (where, check["overflow"])
