"""The recommendations API against a real sidecar and the Stash emulator serving a library with
planted duplicates: analyses as jobs, list / counts / detail, dismissals that survive re-runs,
and fixes that change the emulated Stash for real (with the safety checks)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_helpers import STASH_KEY, client, running_emulator, running_sidecar, sidecar_settings
from duplicates_helpers import planted_library

from stash_sense.devtools.samplelib import load_library


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return planted_library(tmp_path_factory, facedata)


@pytest.fixture
def stack(planted: Path, tmp_path: Path) -> Iterator[tuple[httpx.Client, str]]:
    """A fresh emulated Stash and a sidecar with an API key and no face DB."""
    with running_emulator(planted) as stash_url:
        with running_sidecar(sidecar_settings(tmp_path / "data", None, stash_url=stash_url)) as (url, _), client(url) as c:
            yield c, stash_url


def analyse(c: httpx.Client, kind: str, *, full: bool = False) -> dict:
    started = c.post("/recommendations/analysis", json={"type": kind, "full": full})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    while True:
        status = c.get("/recommendations/analysis").json()
        if not status["running"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run = c.get("/recommendations/analysis/runs", params={"limit": 1}).json()[0]
    assert run["status"] == "completed", run
    return run


def stash_gql(stash_url: str, query: str, variables: dict) -> dict:
    r = httpx.post(f"{stash_url}/graphql", json={"query": query, "variables": variables}, headers={"ApiKey": STASH_KEY}, timeout=30)
    return r.json()["data"]


def test_analyses_list_counts_detail_and_errors(stack, planted: Path) -> None:
    c, _ = stack
    truth = load_library(planted).duplicates
    assert truth is not None
    for kind in ("performers", "files", "scenes"):
        run = analyse(c, kind)
        assert run["mode"] == "full" and run["examined"] > 0
    counts = c.get("/recommendations/counts").json()
    assert counts["counts"]["duplicate_performers"]["open"] == 2 and counts["counts"]["duplicate_files"]["open"] == 1
    assert counts["open"] == sum(v.get("open", 0) for v in counts["counts"].values())
    page = c.get("/recommendations", params={"type": "duplicate_scenes", "per_page": 1}).json()
    assert page["total"] >= 3 and len(page["items"]) == 1 and page["items"][0]["confidence"] == 1.0
    detail = c.get(f"/recommendations/{page['items'][0]['id']}").json()
    assert detail["fix"] == "merge_scenes" and set(detail["evidence"]["shares"]) >= {"stash_id"}
    assert len(detail["evidence"]["scenes"]) == 2 and detail["evidence"]["scenes"][0]["files"][0]["phash"]
    high = c.get("/recommendations", params={"min_confidence": 0.99, "status": "open"}).json()
    assert all(item["confidence"] >= 0.99 for item in high["items"])
    # Bad input: clear messages, right statuses.
    assert c.get("/recommendations/999999").status_code == 404
    assert c.get("/recommendations", params={"per_page": 0}).status_code == 422
    assert c.get("/recommendations", params={"type": "nope"}).status_code == 422
    assert c.get("/recommendations", params={"min_confidence": 0.9, "max_confidence": 0.1}).json()["error"] == "invalid_range"
    assert c.post("/recommendations/analysis", json={"type": "everything"}).status_code == 422
    # An incremental run with nothing changed examines nothing.
    quiet = analyse(c, "scenes")
    assert quiet["mode"] == "incremental" and quiet["examined"] == 0


def test_fixes_change_stash_and_are_recorded(stack, planted: Path) -> None:
    c, stash_url = stack
    truth = load_library(planted).duplicates
    assert truth is not None
    analyse(c, "files")
    analyse(c, "scenes")
    analyse(c, "performers")
    scene_recs = c.get("/recommendations", params={"type": "duplicate_scenes"}).json()["items"]
    pair = next(p for p in truth.scenes if p.kind == "reencode")
    rec = next(r for r in scene_recs if r["target"] == f"scenes:{min(pair.a, pair.b, key=int)},{max(pair.a, pair.b, key=int)}")
    unconfirmed = c.post(f"/recommendations/{rec['id']}/resolve", json={"action": "fix"})
    assert unconfirmed.status_code == 400 and unconfirmed.json()["error"] == "confirmation_required"
    bad_keeper = c.post(f"/recommendations/{rec['id']}/resolve", json={"confirm": True, "keeper": "424242"})
    assert bad_keeper.status_code == 422 and bad_keeper.json()["error"] == "invalid_keeper"
    done = c.post(f"/recommendations/{rec['id']}/resolve", json={"confirm": True, "keeper": pair.a})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["recommendation"]["status"] == "resolved"
    assert body["action"]["detail"]["before"]["scene_ids"] == sorted([pair.a, pair.b], key=int)
    assert body["action"]["detail"]["after"]["scene_ids"] == [pair.a]
    merged = stash_gql(stash_url, "query($id: ID!) { findScene(id: $id) { id files { id } } }", {"id": pair.a})["findScene"]
    assert len(merged["files"]) == 2
    assert stash_gql(stash_url, "query($id: ID!) { findScene(id: $id) { id } }", {"id": pair.b})["findScene"] is None
    again = c.post(f"/recommendations/{rec['id']}/resolve", json={"confirm": True})
    assert again.status_code == 409 and again.json()["error"] == "not_open"
    # The next scene run is incremental and looks at the merged scenes only.
    run = analyse(c, "scenes")
    assert run["mode"] == "incremental" and set(run["examined_ids"]) == {pair.a, pair.b}

    # Extra files: the keeper stays, the other file goes; the last file is never deleted.
    file_rec = c.get("/recommendations", params={"type": "duplicate_files"}).json()["items"][0]
    keeper = file_rec["evidence"]["keeper"]
    everything = c.post(f"/recommendations/{file_rec['id']}/resolve",
                        json={"confirm": True, "file_ids": [f["id"] for f in file_rec["evidence"]["files"]]})
    assert everything.status_code == 422 and everything.json()["error"] == "invalid_keeper"
    deleted = c.post(f"/recommendations/{file_rec['id']}/resolve", json={"confirm": True}).json()
    assert deleted["action"]["detail"]["after"]["file_ids"] == [keeper]
    assert deleted["action"]["detail"]["deleted"][0]["video_codec"] == "h264"
    scene = stash_gql(stash_url, "query($id: ID!) { findScene(id: $id) { files { id } } }", {"id": truth.files[0]})["findScene"]
    assert [f["id"] for f in scene["files"]] == [keeper]

    # Performers merged into the most complete one.
    perf_rec = next(r for r in c.get("/recommendations", params={"type": "duplicate_performers"}).json()["items"]
                    if r["target"] == "performers:" + ",".join(truth.performers[0].ids))
    merged_perf = c.post(f"/recommendations/{perf_rec['id']}/resolve", json={"confirm": True}).json()
    assert merged_perf["action"]["detail"]["into"] == truth.performers[0].ids[0]
    gone = stash_gql(stash_url, "query($id: ID!) { findPerformer(id: $id) { id } }", {"id": truth.performers[0].ids[1]})
    assert gone["findPerformer"] is None
    assert len(c.get(f"/recommendations/{perf_rec['id']}").json()["actions"]) == 1


def test_dismissals_hold_across_reruns(stack) -> None:
    c, _ = stack
    analyse(c, "performers")
    recs = c.get("/recommendations", params={"type": "duplicate_performers"}).json()["items"]
    soft, never = recs[0], recs[1]
    assert c.post(f"/recommendations/{soft['id']}/dismiss", json={"kind": "soft", "reason": "later"}).json()["dismissal"] == "soft"
    assert c.post(f"/recommendations/{never['id']}/dismiss", json={"kind": "not_duplicate"}).json()["status"] == "dismissed"
    assert c.post(f"/recommendations/{soft['id']}/dismiss", json={"kind": "maybe"}).status_code == 422
    rerun = analyse(c, "performers", full=True)
    assert rerun["suppressed"] == 2
    assert c.get(f"/recommendations/{soft['id']}").json()["status"] == "dismissed"
    assert c.get(f"/recommendations/{never['id']}").json()["status"] == "dismissed"
    assert c.get("/recommendations", params={"type": "duplicate_performers"}).json()["total"] == 0
    back = c.post(f"/recommendations/{soft['id']}/undismiss").json()
    assert back["status"] == "open" and back["dismissal"] is None


def test_fixes_need_the_sidecar_api_key(planted: Path, tmp_path: Path) -> None:
    with running_emulator(planted) as stash_url:
        settings = sidecar_settings(tmp_path / "open", None, stash_url=stash_url, api_key=None)
        with running_sidecar(settings) as (url, _), client(url, key=None) as c:
            analyse(c, "files")
            rec = c.get("/recommendations", params={"type": "duplicate_files"}).json()["items"][0]
            refused = c.post(f"/recommendations/{rec['id']}/resolve", json={"confirm": True})
            assert refused.status_code == 403 and refused.json()["error"] == "api_key_required"
            closed = c.post(f"/recommendations/{rec['id']}/resolve", json={"action": "mark_resolved", "note": "done by hand"})
            assert closed.status_code == 200 and closed.json()["recommendation"]["status"] == "resolved"


class _SlowAnalyzer:
    """An analyzer that takes its time, so the job can be watched, refused twice and stopped."""

    type = "duplicate_scenes"
    logic_version = 99
    object_kind = "scene"

    async def analyze(self, *, since, control):  # noqa: ANN001, ANN201
        import asyncio

        for step in range(200):
            control.check()
            control.report(step / 200, f"step {step}")
            await asyncio.sleep(0.05)
        raise AssertionError("the run was not stopped")


def test_a_running_analysis_reports_progress_refuses_a_second_and_stops(planted: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import stash_sense.api.analysis_jobs as jobs_module

    monkeypatch.setattr(jobs_module, "build_analyzer", lambda *a, **k: _SlowAnalyzer())
    with running_emulator(planted) as stash_url:
        with running_sidecar(sidecar_settings(tmp_path / "data", None, stash_url=stash_url)) as (url, _), client(url) as c:
            assert c.post("/recommendations/analysis", json={"type": "scenes"}).status_code == 202
            deadline = time.monotonic() + 30
            while (status := c.get("/recommendations/analysis").json())["progress"] in (None, 0.0):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert status["running"] and status["type"] == "duplicate_scenes" and status["current"]["status"] == "running"
            second = c.post("/recommendations/analysis", json={"type": "files"})
            assert second.status_code == 409 and second.json()["error"] == "analysis_running"
            assert c.post("/recommendations/analysis/stop").json()["stopping"] is True
            while c.get("/recommendations/analysis").json()["running"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            run = c.get("/recommendations/analysis/runs", params={"type": "duplicate_scenes"}).json()[0]
            assert run["status"] == "stopped" and run["error"] == "stopped on request"
