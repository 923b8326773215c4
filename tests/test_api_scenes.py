"""Scene identification end to end: the emulator and the sidecar as separate processes talking
real HTTP. The sidecar must reach the same precision/recall as ``stash-sense eval scenes`` on
the same videos, and ``apply`` must change the scene in the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api_helpers import (
    api_assets,
    client,
    emulator_process,
    running_emulator,
    running_sidecar,
    sidecar_env,
    sidecar_settings,
    stash_scene_performers,
    stashdb_identity,
)
from stash_sense.benchmark.api_load import sidecar_process

PARAMS = {"num_frames": 10}
STASHDB = "https://stashdb.org/graphql"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path):
    return api_assets(tmp_path_factory, facedata)


@pytest.fixture(scope="module")
def processes(assets, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("scenes-e2e")
    with emulator_process(assets.library, work / "stash-state.db") as stash_url:
        env = sidecar_env(work / "data", assets.face_db, stash_url, STASH_SENSE_MEDIA_ROOTS=str(assets.library))
        with sidecar_process(env, log_path=work / "sidecar.log") as (url, _proc):
            yield url, stash_url, work


def _eval_scenes_command(library: Path, face_db: Path) -> dict:
    """``stash-sense eval scenes`` on the same library, DB and parameters: the reference figures."""
    command = [sys.executable, "-c", "from stash_sense.cli import main; main()", "eval", "scenes", "--library", str(library),
               "--db", str(face_db), "--num-frames", str(PARAMS["num_frames"]), "--json", "--rows"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_http_scene_identification_matches_the_eval_scenes_command(processes, assets) -> None:
    from stash_sense.evaluation.scenes import performer_keys, precision_recall, score_scene

    url, _stash_url, work = processes
    library = json.loads((assets.library / "library.json").read_text())
    stash_ids = {p["id"]: p["stash_id"] for p in library["performers"]}
    scores, reported_by_scene = [], {}
    with client(url) as c:
        for scene in library["scenes"]:
            response = c.post("/identify/scene", json={"scene_id": scene["id"], "params": PARAMS})
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["fingerprint_saved"] is True and body["result"]["source_kind"] == "video"
            assert body["result"]["totals"]["frames_analysed"] >= 1
            expected = [(p["name"], performer_keys(name=p["name"], stash_ids=[f"{STASHDB}#{stash_ids[p['id']]}"])) for p in scene["performers"]]
            reported = [(p["name"], performer_keys(name=p["name"], stash_ids=p["stash_ids"])) for p in body["result"]["performers"]]
            scores.append(score_scene(expected, reported))
            reported_by_scene[scene["id"]] = sorted(p["name"] for p in body["result"]["performers"])
        status = c.get("/recommendations/fingerprints/status").json()
    assert status["total_scenes"] == 3 and status["fingerprinted"] == 3 and status["coverage"] == 1.0

    reference = _eval_scenes_command(assets.library, assets.face_db)
    over_http = precision_recall(scores)
    assert reported_by_scene == {row["scene_id"]: sorted(row["reported"]) for row in reference["rows"]}
    assert (over_http["precision"], over_http["recall"]) == (reference["precision"], reference["recall"])
    # The sample scenes are easy enough that the engine finds someone and invents nobody.
    assert over_http["true_positives"] >= 2 and over_http["false_positives"] == 0
    (work / "precision_recall.json").write_text(json.dumps({"http": over_http, "eval_scenes": {k: reference[k] for k in ("precision", "recall")}}))


def test_apply_changes_the_scene_in_the_emulator(processes) -> None:
    url, stash_url, _ = processes
    assert stash_scene_performers(stash_url, "3") == []
    with client(url) as c:
        found = c.post("/identify/scene", json={"scene_id": "1", "params": PARAMS, "save_fingerprint": False}).json()
        identities = [p["performer_id"] for p in found["result"]["performers"]]
        assert sorted(identities) == ["local:gallery#Brad Pitt", "local:gallery#Kate Winslet"]

        unresolved = c.post("/identify/scene/3/apply", json={"confirm": True, "identities": [*identities, "local:gallery#Nobody"]})
        assert unresolved.status_code == 422 and "Nobody" in unresolved.json()["detail"]
        assert stash_scene_performers(stash_url, "3") == []  # all or nothing

        applied = c.post("/identify/scene/3/apply", json={"confirm": True, "identities": identities})
        assert applied.status_code == 200, applied.text
        assert sorted(p["performer_id"] for p in applied.json()["added"]) == ["1", "2"]
        assert stash_scene_performers(stash_url, "3") == ["1", "2"]

        # Stash-box identities resolve through the performer's stash ID; plain ids work too.
        by_stash_id = c.post("/identify/scene/3/apply", json={"confirm": True, "identities": [stashdb_identity(3)], "performer_ids": ["4"]})
        assert by_stash_id.status_code == 200 and sorted(by_stash_id.json()["scene_performer_ids"]) == ["1", "2", "3", "4"]
        assert stash_scene_performers(stash_url, "3") == ["1", "2", "3", "4"]

        assert c.post("/identify/scene/999/apply", json={"confirm": True, "performer_ids": ["1"]}).status_code == 404
        unknown = c.post("/identify/scene/3/apply", json={"confirm": True, "performer_ids": ["999"]})
        assert unknown.status_code == 422 and "999" in unknown.json()["detail"]


def test_scene_from_urls_and_paths(processes, assets) -> None:
    url, stash_url, _ = processes
    video = sorted((assets.library / "scenes").glob("*.mp4"))[0]
    with client(url) as c:
        # Stash's own stream URL: the sidecar adds Stash's key because the origin is Stash's.
        by_url = c.post("/identify/scene", json={"url": f"{stash_url}/scene/1/stream", "params": PARAMS, "thumbnail_format": "none"})
        by_path = c.post("/identify/scene", json={"url": str(video), "params": PARAMS})
        outside = c.post("/identify/scene", json={"url": "/etc/hostname", "params": PARAMS})
        missing = c.post("/identify/scene", json={"scene_id": "999"})
        broken = c.post("/identify/scene", json={"url": f"{stash_url}/scene/999/stream", "params": PARAMS})
    assert by_url.status_code == 200 and by_url.json()["scene_id"] is None and by_url.json()["fingerprint_saved"] is False
    assert {p["name"] for p in by_url.json()["result"]["performers"]} == {"Brad Pitt", "Kate Winslet"}
    assert all(p["thumbnail"] is None for p in by_url.json()["result"]["persons"])
    assert by_path.status_code == 200 and by_path.json()["result"]["persons"][0]["thumbnail"].startswith("data:image/jpeg;base64,")
    assert outside.status_code == 400 and outside.json()["error"] == "path_not_allowed"
    assert missing.status_code == 404
    assert broken.status_code == 422 and broken.json()["error"] == "no_frames"


def test_thumbnails_as_urls_and_sprite_fallback(assets, tmp_path: Path) -> None:
    """In-thread servers: thumbnails served by the sidecar, and sprites when only they are given."""
    with running_emulator(assets.library) as stash_url:
        with running_sidecar(sidecar_settings(tmp_path, assets.face_db, stash_url=stash_url)) as (url, _):
            with client(url) as c:
                body = c.post("/identify/scene", json={"scene_id": "1", "params": PARAMS, "thumbnail_format": "url"}).json()
                thumbs = [p["thumbnail"] for p in body["result"]["persons"]]
                assert thumbs and all(t.startswith("/identify/thumbnails/") for t in thumbs)
                frames = [t for p in body["result"]["persons"] for t in p["thumbnails"]]
                assert frames and all(t.startswith("/identify/thumbnails/") for t in frames)
                assert c.get(frames[-1]).headers["content-type"] == "image/jpeg"
                image = c.get(thumbs[0])
                assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"
                assert httpx.get(url + thumbs[0]).status_code == 401
                assert c.get("/identify/thumbnails/not-a-token").status_code == 404
                sprite = c.post("/identify/scene", json={"scene_id": "1", "source": "sprite", "params": {"num_frames": 20}})
                assert sprite.status_code == 200 and sprite.json()["result"]["source_kind"] == "sprite"
