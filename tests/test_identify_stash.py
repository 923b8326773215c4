"""``identify scene --stash URL --scene-id ID [--apply]`` against the Stash emulator over HTTP.

The face DB is built from the same emulator (tests/build_stash_helpers.py library). Scene 2
shows Kate Winslet and Hugh Jackman; tests untag them in Stash first, then check that
identification finds them and ``--apply`` tags them again.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

# Shared module-scoped fixtures (the emulator library, its server, in-process face work).
from build_stash_helpers import library, one_worker, stash  # noqa: F401
from build_stash_helpers import KEY, NO_IMAGE, STASHDB, performer_stash_id
from stash_sense.cli import app
from stash_sense.devtools.emulator import create_app, run_in_thread
from stash_sense.facedb.build import build_from_folder
from stash_sense.facedb.build_stash import build_from_stash
from stash_sense.media import FrameSourceError
from stash_sense.stash import Scene, StashClient
from stash_sense.app.resolution import IdentityResolver
from stash_sense.stash.media import SceneMediaError, StashBridge, open_scene_frames

FRAMES = "6"


@pytest.fixture(scope="module")
def db(stash: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("identify-db") / "faces"
    build_from_stash(stash, out, api_key=KEY, progress=False)
    return out


def gql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": KEY})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def scene_performers(url: str, scene_id: str) -> list[str]:
    data = gql(url, "query($id: ID!) { findScene(id: $id) { performers { id } } }", {"id": scene_id})
    return sorted(p["id"] for p in data["findScene"]["performers"])


def untag(url: str, scene_id: str) -> None:
    gql(url, "mutation($id: ID!) { sceneUpdate(input: {id: $id, performer_ids: []}) { id } }", {"id": scene_id})
    assert scene_performers(url, scene_id) == []


def identify(args: list[str], exit_code: int = 0) -> CliRunner:
    result = CliRunner().invoke(app, ["identify", "scene", *args])
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return result


# -- identify and apply -------------------------------------------------------------------------


def test_identify_without_apply_leaves_stash_alone(stash: str, db: Path) -> None:
    untag(stash, "2")
    result = identify(["--db", str(db), "--stash", stash, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES, "--json"])
    outcome = json.loads(result.stdout)
    assert {p["name"] for p in outcome["result"]["performers"]} == {"Kate Winslet", "Hugh Jackman"}
    assert outcome["result"]["source_kind"] == "video" and outcome["result"]["source"].startswith("Stash scene 2: video")
    # The DB was built from this very Stash: its local identities map straight to the performers.
    assert {(m["name"], m["stash_performer_id"], m["via"]) for m in outcome["matches"]} == {
        ("Kate Winslet", "2", "local"), ("Hugh Jackman", "3", "local"),
    }
    assert outcome["applied"] is None and outcome["performers_before"] == []
    assert scene_performers(stash, "2") == []
    assert KEY not in result.stdout + result.stderr
    human = identify(["--db", str(db), "--stash", stash, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES])
    assert "not tagged on the scene yet" in human.stderr and "via local" in human.stderr
    assert scene_performers(stash, "2") == []


def test_apply_tags_the_scene_in_stash(stash: str, db: Path) -> None:
    untag(stash, "2")
    result = identify(["--db", str(db), "--stash", stash, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES, "--apply"])
    assert scene_performers(stash, "2") == ["2", "3"]
    assert "added to scene 2" in result.stderr and "Kate Winslet" in result.stderr
    # Applying again changes nothing: both are already tagged.
    again = identify(["--db", str(db), "--stash", stash, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES, "--apply", "--json"])
    applied = json.loads(again.stdout)["applied"]
    assert applied["added"] == [] and sorted(applied["already_tagged"]) == ["Hugh Jackman", "Kate Winslet"]
    assert applied["performer_ids_after"] == ["2", "3"]


def test_apply_on_another_stash_maps_by_stash_id(library: Path, db: Path) -> None:
    # A second Stash with the same performers at another URL: the DB's local ids mean nothing
    # there, its StashDB ids do.
    with run_in_thread(create_app(library, api_key=KEY, performers_without_image=[NO_IMAGE])) as other:
        untag(other, "2")
        result = identify(["--db", str(db), "--stash", other, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES, "--apply", "--json"])
        outcome = json.loads(result.stdout)
        assert {(m["stash_performer_id"], m["via"]) for m in outcome["matches"]} == {("2", "stash_id"), ("3", "stash_id")}
        assert scene_performers(other, "2") == ["2", "3"]


def test_folder_db_names_match_by_exact_name_and_nothing_is_created(library: Path, stash: str, tmp_path: Path) -> None:
    # A DB built from labelled photos has only folder names ('local:gallery#<name>'): they name
    # the Stash performer with exactly that name (as the API and the dashboard resolve them).
    folder_db = tmp_path / "folder-db"
    build_from_folder(library / "gallery", folder_db, progress=False)
    untag(stash, "2")
    count_before = gql(stash, "{ findPerformers(filter: {per_page: 1}) { count } }")["findPerformers"]["count"]
    result = identify(["--db", str(folder_db), "--stash", stash, "--scene-id", "2", "--api-key", KEY, "--num-frames", FRAMES, "--apply", "--json"])
    outcome = json.loads(result.stdout)
    assert {(m["name"], m["via"]) for m in outcome["matches"]} == {("Hugh Jackman", "name"), ("Kate Winslet", "name")}
    assert sorted(outcome["applied"]["added"]) == ["Hugh Jackman", "Kate Winslet"] and outcome["applied"]["not_in_stash"] == []
    assert scene_performers(stash, "2") == ["2", "3"]
    assert gql(stash, "{ findPerformers(filter: {per_page: 1}) { count } }")["findPerformers"]["count"] == count_before
    # The JSON carries the resolutions the API returns, keyed by candidate identity.
    assert outcome["resolutions"]["local:gallery#Kate Winslet"]["performer"]["id"] == "2"


async def _find(url: str, identities: list[str]) -> Any:
    async with StashClient(url, KEY) as client:
        return await IdentityResolver(client).resolve_performer(identities[0], identities)


def test_resolver_uses_stash_ids_and_never_guesses(stash: str) -> None:
    by_stashdb = asyncio.run(_find(stash, [f"{STASHDB}#{performer_stash_id(3)}"]))
    assert (by_stashdb.performer.id, by_stashdb.via) == ("3", "stash_id")
    # The endpoint is compared in canonical form (case, trailing slash).
    spelled = asyncio.run(_find(stash, [f"HTTPS://StashDB.org/graphql/#{performer_stash_id(3)}"]))
    assert spelled.performer.id == "3"
    unknown = asyncio.run(_find(stash, [f"{STASHDB}#00000000-0000-0000-0000-000000000000", "local:photos#Nobody"]))
    assert not unknown.found and unknown.performer is None
    assert "no Stash performer linked to" in unknown.reason and "no Stash performer named 'Nobody'" in unknown.reason
    # A local id that no longer exists falls back to the stash-box id.
    gone = asyncio.run(_find(stash, [f"{stash}/graphql#999", f"{STASHDB}#{performer_stash_id(1)}"]))
    assert (gone.performer.id, gone.via) == ("1", "stash_id")
    # This Stash's own id names its performer directly, whatever stash-box links it has.
    own = asyncio.run(_find(stash, [f"{stash}/graphql#2"]))
    assert (own.performer.id, own.via, own.can_create) == ("2", "local", False)


# -- media fallbacks and errors -------------------------------------------------------------------


async def _scene(url: str, scene_id: str) -> Scene:
    async with StashClient(url, KEY) as client:
        return await client.find_scene(scene_id)


def test_media_falls_back_to_sprites_then_fails_clearly(stash: str) -> None:
    scene = asyncio.run(_scene(stash, "2"))
    broken = scene.model_copy(update={"paths": scene.paths.model_copy(update={"stream": f"{stash}/scene/999/stream"})})
    with StashBridge() as bridge:
        client = StashClient(stash, KEY)
        try:
            with open_scene_frames(bridge, client, broken) as source:
                assert source.kind == "sprite" and source.sample(4)
            nothing = broken.model_copy(update={"paths": broken.paths.model_copy(update={"vtt": None, "screenshot": None})})
            with pytest.raises(SceneMediaError) as info:
                open_scene_frames(bridge, client, nothing)
            assert "no usable media for scene 2" in str(info.value) and len(info.value.attempts) == 3
            no_file = scene.model_copy(update={"files": []})
            with pytest.raises(FrameSourceError, match="scene 2 has no video file"):
                open_scene_frames(bridge, client, no_file)
        finally:
            bridge.run(client.aclose())
    assert KEY not in str(info.value)


def test_unknown_scene_wrong_key_unreachable_and_usage(stash: str, db: Path) -> None:
    base = ["--db", str(db), "--num-frames", FRAMES]
    missing = identify([*base, "--stash", stash, "--scene-id", "999", "--api-key", KEY], 1)
    assert "scene 999 not found in Stash" in missing.stderr
    wrong_key = "wrong-key-for-identify-0042"
    refused = identify([*base, "--stash", stash, "--scene-id", "2", "--api-key", wrong_key], 1)
    assert "401" in refused.stderr and wrong_key not in refused.stdout + refused.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = identify([*base, "--stash", closed, "--scene-id", "2", "--api-key", wrong_key], 1)
    assert "cannot connect" in down.stderr and wrong_key not in down.stdout + down.stderr
    assert "--stash needs --scene-id" in identify([*base, "--stash", stash], 1).stderr
    assert "cannot be combined with --stash" in identify([*base, "video.mp4", "--stash", stash, "--scene-id", "2"], 1).stderr
    assert "need --stash" in identify([*base, "video.mp4", "--apply"], 1).stderr
    assert "give a video file" in identify(base, 1).stderr
