"""The plugin backend's recommendation operations as Stash runs them (JSON on stdin, one JSON
object out), proxied to a real sidecar over the Stash emulator serving planted duplicates: run
an analysis, list, detail, merge a duplicate scene in Stash, dismiss one and keep it dismissed
after a full re-run, and refuse bad arguments with a sentence."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api_helpers import SIDECAR_KEY, STASH_KEY, running_sidecar, sidecar_settings
from duplicates_helpers import planted_library
from plugin_helpers import PLUGIN_DIR, PLUGIN_ID, gql_data, stash_stdin
from stash_sense.devtools.emulator import create_app, run_in_thread
from stash_sense.devtools.samplelib import load_library
from test_plugin_backend import run_backend

SESSION = "plugin-session-cookie-for-recommendations"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[tuple[Path, str]]:
    library = planted_library(tmp_path_factory, facedata)
    work = tmp_path_factory.mktemp("plugin-recommendations")
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / PLUGIN_ID).symlink_to(PLUGIN_DIR, target_is_directory=True)
    app = create_app(library, api_key=STASH_KEY, session_cookie=SESSION, plugins_dir=plugins, state_db=work / "stash.db")
    with run_in_thread(app) as stash_url:
        with running_sidecar(sidecar_settings(work / "data", None, stash_url=stash_url)) as (sidecar_url, _app):
            gql_data(stash_url, 'mutation($input: Map!) { configurePlugin(plugin_id: "stash-sense", input: $input) }',
                     {"input": {"sidecarUrl": sidecar_url, "sidecarApiKey": SIDECAR_KEY}}, key=STASH_KEY)
            yield library, stash_url


def op(stash_url: str, **args: Any) -> dict[str, Any]:
    answer, _lines = run_backend(stash_stdin(stash_url, SESSION, args))
    return answer


def analyse(stash_url: str, kind: str, *, full: bool = False) -> dict[str, Any]:
    started = op(stash_url, mode="analysis_start", type=kind, full=full)
    assert started["error"] is None, started
    deadline = time.monotonic() + 120
    while True:
        status = op(stash_url, mode="analysis_status")["output"]
        if not status["running"]:
            return status["recent"][0]
        assert time.monotonic() < deadline
        time.sleep(0.2)


def target(a: str, b: str) -> str:
    return f"scenes:{min(a, b, key=int)},{max(a, b, key=int)}"


def test_review_through_the_plugin_backend(stack: tuple[Path, str]) -> None:
    library, stash_url = stack
    truth = load_library(library).duplicates
    assert truth is not None
    merge = next(p for p in truth.scenes if p.kind == "reencode")
    dismissed = next(p for p in truth.scenes if p.kind == "stash_id")

    run = analyse(stash_url, "scenes")
    assert run["status"] == "completed" and run["raised"] == len(truth.scenes)
    counts = op(stash_url, mode="recommendations_counts")["output"]
    assert counts["counts"]["duplicate_scenes"]["open"] == len(truth.scenes)
    page = op(stash_url, mode="recommendations_list", type="duplicate_scenes", per_page=2)["output"]
    assert page["total"] == len(truth.scenes) and len(page["items"]) == 2
    everything = op(stash_url, mode="recommendations_list", type="duplicate_scenes", per_page=50)["output"]["items"]
    by_target = {item["target"]: item["id"] for item in everything}
    assert set(by_target) == {target(p.a, p.b) for p in truth.scenes}

    rec_id = by_target[target(merge.a, merge.b)]
    detail = op(stash_url, mode="recommendation_detail", id=rec_id)["output"]
    assert detail["fix"] == "merge_scenes" and "phash" in detail["evidence"]["shares"]
    unconfirmed = op(stash_url, mode="recommendation_resolve", id=rec_id, keeper=merge.a)
    assert unconfirmed["output"] is None and "400" in unconfirmed["error"] and "confirm" in unconfirmed["error"]
    done = op(stash_url, mode="recommendation_resolve", id=rec_id, keeper=merge.a, confirm=True)
    assert done["error"] is None and done["output"]["recommendation"]["status"] == "resolved"
    assert gql_data(stash_url, "query($id: ID!) { findScene(id: $id) { id } }", {"id": merge.b}, key=STASH_KEY)["findScene"] is None
    files = gql_data(stash_url, "query($id: ID!) { findScene(id: $id) { files { id } } }", {"id": merge.a}, key=STASH_KEY)
    assert len(files["findScene"]["files"]) == 2

    twin = by_target[target(dismissed.a, dismissed.b)]
    out = op(stash_url, mode="recommendation_dismiss", id=twin, kind="not_duplicate")["output"]
    assert out["status"] == "dismissed" and out["dismissal"] == "not_duplicate"
    rerun = analyse(stash_url, "scenes", full=True)
    assert rerun["mode"] == "full" and rerun["suppressed"] == 1
    assert op(stash_url, mode="recommendation_detail", id=twin)["output"]["status"] == "dismissed"
    still = op(stash_url, mode="recommendations_list", type="duplicate_scenes", status="dismissed")["output"]["items"]
    assert [item["target"] for item in still] == [target(dismissed.a, dismissed.b)]
    back = op(stash_url, mode="recommendation_undismiss", id=twin)["output"]
    assert back["status"] == "open" and back["dismissal"] is None

    # Bad arguments: one sentence each, never a traceback.
    assert "recommendation id" in op(stash_url, mode="recommendation_detail", id="abc")["error"]
    assert "type must be one of" in op(stash_url, mode="recommendations_list", type="duplicates")["error"]
    assert "kind must be one of" in op(stash_url, mode="recommendation_dismiss", id=twin, kind="later")["error"]
    assert "between 1 and 200" in op(stash_url, mode="recommendations_list", per_page=0)["error"]
    assert "404" in op(stash_url, mode="recommendation_detail", id="999999")["error"]
    assert "type must be one of" in op(stash_url, mode="analysis_start")["error"]
