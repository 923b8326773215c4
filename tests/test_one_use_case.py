"""One use case, three routes: a Stash scene identified through the CLI, the sidecar API and
the plugin's backend gives the same persons, candidates, confidences and resolutions.

The face DB is built the most common way, ``db build --from-stash``, from an emulated Stash in
which Kate Winslet has no stash-box link: her only identity is this Stash's own performer id.
Every route must show her as the existing Stash performer (so "Add", never "Create"), and give
Hugh Jackman, still tagged on the scene, the same tagged boost.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from api_helpers import app_process
from browser_helpers import chromium_executable, run_node_script, sidecar_process
from build_stash_helpers import library, one_worker  # noqa: F401 - module fixtures
from build_stash_helpers import KEY
from plugin_helpers import BACKEND, PLUGIN_DIR, PLUGIN_ID, gql_data, stash_stdin
from stash_sense.cli import app as cli_app

SCENE = "2"  # Kate Winslet and Hugh Jackman
FRAMES = 6
SESSION = "session-cookie-for-one-use-case"
SIDECAR_KEY = "sidecar-key-for-one-use-case"


@pytest.fixture(scope="module")
def world(library: Path, one_worker: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:  # noqa: F811
    from stash_sense.facedb.build_stash import build_from_stash

    work = tmp_path_factory.mktemp("one-use-case")
    # Kate Winslet without a stash-box link (the library's performers otherwise all have one).
    own_library = work / "library"
    shutil.copytree(library, own_library, symlinks=True)
    data = json.loads((own_library / "library.json").read_text())
    del next(p for p in data["performers"] if p["id"] == "2")["stash_id"]
    (own_library / "library.json").write_text(json.dumps(data))
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / PLUGIN_ID).symlink_to(PLUGIN_DIR, target_is_directory=True)
    with app_process("stash", own_library, name="one-use-case-stash", api_key=KEY, session_cookie=SESSION, plugins_dir=plugins,
                     state_db=work / "stash.db") as stash_url:
        # Kate leaves the scene; Hugh stays tagged.
        gql_data(stash_url, 'mutation { sceneUpdate(input: {id: "2", performer_ids: ["3"]}) { id } }', key=KEY)
        db = work / "facedb"
        build_from_stash(stash_url, db, api_key=KEY, progress=False)
        env = {"STASH_SENSE_DATA_DIR": str(work / "data"), "STASH_SENSE_FACE_DB": str(db), "STASH_SENSE_DB_WATCH_INTERVAL": "0",
               "STASH_URL": stash_url, "STASH_API_KEY": KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY}
        # The sidecar in a child process too: the browser test below drives it.
        with sidecar_process(env, name="one-use-case-sidecar") as sidecar_url:
            gql_data(stash_url, 'mutation($input: Map!) { configurePlugin(plugin_id: "stash-sense", input: $input) }',
                     {"input": {"sidecarUrl": sidecar_url, "sidecarApiKey": SIDECAR_KEY}}, key=KEY)
            yield {"stash": stash_url, "sidecar": sidecar_url, "db": db}


def _cli(world: dict[str, Any]) -> dict[str, Any]:
    result = CliRunner().invoke(cli_app, ["identify", "scene", "--db", str(world["db"]), "--stash", world["stash"], "--scene-id", SCENE,
                                          "--api-key", KEY, "--num-frames", str(FRAMES), "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def _api(world: dict[str, Any]) -> dict[str, Any]:
    body = {"scene_id": SCENE, "params": {"num_frames": FRAMES}, "thumbnail_format": "data_url", "save_fingerprint": False}
    response = httpx.post(f"{world['sidecar']}/identify/scene", json=body, headers={"X-API-Key": SIDECAR_KEY}, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def _plugin(world: dict[str, Any]) -> dict[str, Any]:
    stdin = stash_stdin(world["stash"], SESSION, {"mode": "identify_scene", "scene_id": SCENE, "num_frames": FRAMES})
    done = subprocess.run([sys.executable, str(BACKEND)], input=stdin, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["error"] is None, answer["error"]
    return answer["output"]


def _shape(result: dict[str, Any], resolutions: dict[str, Any]) -> dict[str, Any]:
    """What the user is shown: persons, candidates with confidences and scores, resolutions."""
    def candidate(c: dict[str, Any]) -> tuple[Any, ...]:
        return (c["performer_id"], c["name"], c["distance"], c["confidence"], c["score"], c["accepted"], tuple(c["rejected_because"]))

    persons = [(p["person"], p["faces"], tuple(p["frames"]), tuple(candidate(c) for c in p["candidates"])) for p in result["persons"]]
    return {"performers": [candidate(c) for c in result["performers"]], "persons": persons,
            "tagged": sorted(result["params"]["tagged_performers"]), "resolutions": resolutions}


def test_cli_api_and_plugin_identify_a_scene_alike(world: dict[str, Any]) -> None:
    cli, api, plugin = _cli(world), _api(world), _plugin(world)
    shapes = [_shape(cli["result"], cli["resolutions"]), _shape(api["result"], api["resolutions"]),
              _shape(plugin["result"], plugin["resolutions"])]
    assert shapes[0] == shapes[1] == shapes[2]

    shape = shapes[0]
    by_name = {c[1]: c[0] for c in shape["performers"]}
    assert set(by_name) == {"Kate Winslet", "Hugh Jackman"}
    kate, hugh = by_name["Kate Winslet"], by_name["Hugh Jackman"]
    assert kate == f"{world['stash']}/graphql#2"  # her only identity: this Stash's own id
    # Kate has no stash-box link: she is found by this Stash's own id, and nothing offers to create her.
    assert shape["resolutions"][kate]["performer"]["id"] == "2" and shape["resolutions"][kate]["via"] == "local"
    assert shape["resolutions"][kate]["can_create"] is False
    assert shape["resolutions"][hugh]["performer"]["id"] == "3"
    # The tagged boost: Hugh, on the scene, by every identity a DB may carry for him.
    assert hugh in shape["tagged"]
    hugh_row = next(c for c in shape["performers"] if c[0] == hugh)
    kate_row = next(c for c in shape["performers"] if c[0] == kate)
    assert hugh_row[4] > hugh_row[3] and kate_row[4] == kate_row[3]  # score = confidence + boost only when tagged


def test_dashboard_and_plugin_offer_add_for_the_performer_without_a_stashbox_link(world: dict[str, Any]) -> None:
    if chromium_executable() is None:
        pytest.skip("chromium not found (apt-get install chromium, or set STASH_SENSE_CHROMIUM)")
    result = run_node_script("own_identity_rows", {"BASE_URL": world["sidecar"], "SIDECAR_KEY": SIDECAR_KEY, "STASH_URL": world["stash"],
                                                   "STASH_KEY": KEY, "SCENE_ID": SCENE}, timeout=420)
    for route in ("dashboard", "plugin"):
        assert result[route]["errors"] == [], (route, result[route]["errors"])
        kate = next(r for r in result[route]["rows"] if r["best"] == "Kate Winslet")
        assert any(b.startswith("Add") for b in kate["buttons"]), (route, kate)
        assert not any("Create" in b for b in kate["buttons"]), (route, kate)
    plugin_kate = next(r for r in result["plugin"]["rows"] if r["best"] == "Kate Winslet")
    assert "Add Kate Winslet to scene" in plugin_kate["buttons"]


def test_cli_apply_adds_the_performer_without_a_stashbox_link(world: dict[str, Any]) -> None:
    result = CliRunner().invoke(cli_app, ["identify", "scene", "--db", str(world["db"]), "--stash", world["stash"], "--scene-id", SCENE,
                                          "--api-key", KEY, "--num-frames", str(FRAMES), "--apply", "--json"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    applied = json.loads(result.stdout)["applied"]
    assert applied["added"] == ["Kate Winslet"] and applied["already_tagged"] == ["Hugh Jackman"] and applied["not_in_stash"] == []
    scene = gql_data(world["stash"], '{ findScene(id: "2") { performers { id } } }', key=KEY)["findScene"]
    assert sorted(p["id"] for p in scene["performers"]) == ["2", "3"]
    # Put the scene back as the other test expects it (modules may run in any order).
    gql_data(world["stash"], 'mutation { sceneUpdate(input: {id: "2", performer_ids: ["3"]}) { id } }', key=KEY)
