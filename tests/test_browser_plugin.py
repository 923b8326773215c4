"""The Stash plugin's JavaScript in a real browser: a harness page gives it window.PluginApi
with React from npm and routes /graphql to the Stash emulator, whose runPluginOperation and
runPluginTask run the plugin's backend against a real sidecar process. Each flow checks what
the user sees and what changed in Stash. Skips with a message when chromium, node or
node_modules are missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from browser_helpers import STASH_KEY, dashboard_assets, require_browser, run_node_script
from emulator_helpers import IDENTITIES, performer_stash_id
from plugin_helpers import MISSING, gql_data, plugin_stack, ui_documents
from stash_helpers import stash_schema_or_skip


def test_plugin_documents_are_valid_against_stash_schema() -> None:
    schema = stash_schema_or_skip()
    documents = ui_documents()
    assert {"runOperation", "runTask", "addPerformers", "createPerformer", "searchPerformers"} <= set(documents)
    for name, document in documents.items():
        assert validate(schema, parse(document)) == [], name


def _scene(stash_url: str, scene_id: str) -> list[dict]:
    query = "query($id: ID!) { findScene(id: $id) { performers { id name stash_ids { endpoint stash_id } } } }"
    return gql_data(stash_url, query, {"id": scene_id}, key=STASH_KEY)["findScene"]["performers"]


def test_plugin_in_the_harness(tmp_path_factory: pytest.TempPathFactory, facedata: Path, tmp_path: Path) -> None:
    require_browser()
    assets = dashboard_assets(tmp_path_factory, facedata)
    hugh = IDENTITIES[MISSING - 1]
    with plugin_stack(assets, tmp_path) as (stash_url, sidecar_url, ids):
        assert sorted(p["name"] for p in _scene(stash_url, "1")) == ["Brad Pitt"]
        result = run_node_script("plugin_scene", {"STASH_URL": stash_url, "STASH_KEY": STASH_KEY}, timeout=600)
        assert result["errors"] == [], result["errors"]

        # Scene 1 as the user saw it: one row per person, largest first, thumbnails, confidence,
        # Brad Pitt marked as already on the scene, Kate Winslet offered for adding.
        before = {r["best"]: r for r in result["scene1Before"]}
        assert {"Brad Pitt", "Kate Winslet"} <= set(before)
        assert before["Brad Pitt"]["status"] == "Already on this scene"
        assert "Add Kate Winslet to scene" in before["Kate Winslet"]["buttons"]
        assert all(r["thumbnails"] >= 1 for r in before.values())
        assert before["Brad Pitt"]["confidence"].endswith("%") and before["Kate Winslet"]["confidence"].endswith("%")
        faces = [int(r["label"].split(": ")[0].split()[-1]) for r in result["scene1Before"]]
        assert faces == sorted(faces)  # rows numbered in order, largest person first
        assert {"Link another performer", "Skip"} <= set(before["Kate Winslet"]["buttons"])
        after = {r["best"]: r["status"] for r in result["scene1After"]}
        assert after["Kate Winslet"] == after["Brad Pitt"] == "Added to this scene"
        # ... and what changed in Stash: Kate added, Natalie Portman linked from Brad's row.
        assert sorted(p["name"] for p in _scene(stash_url, "1")) == ["Brad Pitt", "Kate Winslet", "Natalie Portman"]
        assert result["scene1Details"] == "Performers: Brad Pitt, Kate Winslet, Natalie Portman"

        # Scene 2 on a phone: Hugh Jackman is on stash-box only; the plugin created him in Stash,
        # linked to his stash-box ID, and put him on the scene.
        # (Picked from the alternatives when the match is below the minimum confidence.)
        first = result["scene2Before"][0]
        assert len(result["scene2Before"]) == 1 and first["thumbnails"] >= 1
        if result["pickedAlternative"]:
            assert first["status"] == "No match above the minimum confidence"
        else:
            assert first["best"] == hugh and first["status"] == "Not in Stash yet"
        assert [(r["best"], r["status"]) for r in result["scene2After"]] == [(hugh, "Added to this scene")]
        on_scene = _scene(stash_url, "2")
        assert [p["name"] for p in on_scene] == [hugh]
        assert on_scene[0]["stash_ids"] == [{"endpoint": assets.box_endpoint, "stash_id": performer_stash_id(MISSING)}]

        # The Stash Sense page from the navigation entry: the fingerprint task ran as a Stash
        # job through runPluginTask and the sidecar now covers every scene.
        assert result["pagePath"] == "/plugin/stash-sense"
        # Scene 1's identification saved its fingerprint: the job did the other two.
        assert "completed: 2 of 2 scenes" in result["fingerprints"] and "100% (3 of 3 scenes)" in result["fingerprints"]
        assert "loaded, version" in result["sidecarCard"]
        assert result["scene3Heading"] == "Scene 3" and result["scene3Summary"].endswith("frames")
        jobs = gql_data(stash_url, "{ jobQueue { id } }", key=STASH_KEY)["jobQueue"]
        assert jobs == []
        job = gql_data(stash_url, 'query { findJob(input: {id: "1"}) { status description } }', key=STASH_KEY)["findJob"]
        assert job == {"status": "FINISHED", "description": "Running plugin task: Generate fingerprints"}

        # Every call the plugin made went to Stash's GraphQL; it never reached the sidecar itself.
        assert any("runPluginOperation" in q for q in result["graphqlCalls"])
        for name, check in result["checks"].items():
            assert check["names"]["checked"] > 0 and check["names"]["unnamed"] == [], (name, check["names"])
            assert check["overflow"]["scrollWidth"] <= check["overflow"]["clientWidth"], (name, check["overflow"])
