"""The plugin backend as Stash runs it: JSON on stdin (server_connection + args), one JSON
object on stdout, Stash log lines on stderr; against a real sidecar and the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from api_helpers import SIDECAR_KEY, STASH_KEY, api_assets, running_sidecar, sidecar_settings
from plugin_helpers import BACKEND, PLUGIN_DIR, PLUGIN_ID, gql, gql_data, stash_stdin
from stash_helpers import free_port_refusing_connections, stash_schema_or_skip
from stash_sense.devtools.emulator import create_app, run_in_thread

SESSION = "plugin-session-cookie-for-tests"


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path):
    return api_assets(tmp_path_factory, facedata)


@pytest.fixture(scope="module")
def servers(assets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("plugin-backend")
    plugins = work / "plugins"
    plugins.mkdir()
    (plugins / PLUGIN_ID).symlink_to(PLUGIN_DIR, target_is_directory=True)
    stash_app = create_app(assets.library, api_key=STASH_KEY, session_cookie=SESSION, plugins_dir=plugins, state_db=work / "stash.db")
    with run_in_thread(stash_app) as stash_url:
        settings = sidecar_settings(work / "data", assets.face_db, stash_url=stash_url, fingerprint_frames=4)
        with running_sidecar(settings) as (sidecar_url, _app):
            gql_data(stash_url, "mutation($input: Map!) { configurePlugin(plugin_id: \"stash-sense\", input: $input) }",
                     {"input": {"sidecarUrl": sidecar_url, "sidecarApiKey": SIDECAR_KEY, "minConfidence": 0.5}}, key=STASH_KEY)
            yield stash_url, sidecar_url


def run_backend(stdin: str, timeout: float = 300) -> tuple[dict[str, Any], list[str]]:
    done = subprocess.run([sys.executable, str(BACKEND)], input=stdin, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    answer = json.loads(done.stdout)  # exactly one JSON object
    assert set(answer) == {"output", "error"}
    lines = [line for line in done.stderr.splitlines() if line]
    for line in lines:  # Stash's plugin log format: \x01<level>\x02message
        assert line[0] == "\x01" and line[1] in "tdiwep" and line[2] == "\x02", repr(line)
    return answer, lines


def test_settings_query_is_valid_against_stash_schema() -> None:
    sys.path.insert(0, str(PLUGIN_DIR))
    try:
        import stash_sense_backend
    finally:
        sys.path.remove(str(PLUGIN_DIR))
    assert validate(stash_schema_or_skip(), parse(stash_sense_backend.SETTINGS_QUERY)) == []


def test_identifies_a_scene_through_a_running_sidecar(servers) -> None:
    stash_url, _ = servers
    answer, logs = run_backend(stash_stdin(stash_url, SESSION, {"mode": "identify_scene", "scene_id": "1", "num_frames": 10}))
    assert answer["error"] is None
    result = answer["output"]["result"]
    assert sorted(p["name"] for p in result["performers"]) == ["Brad Pitt", "Kate Winslet"]
    assert result["params"]["min_confidence"] == 0.5  # from the plugin settings in Stash
    assert result["params"]["num_frames"] == 10 and result["totals"]["frames_requested"] == 10
    assert all(p["thumbnail"].startswith("data:image/jpeg;base64,") for p in result["persons"] if p["thumbnail"])
    assert any("identifying scene 1" in line for line in logs)


def test_same_call_through_the_emulators_run_plugin_operation(servers) -> None:
    stash_url, _ = servers
    output = gql_data(stash_url, "mutation($args: Map) { runPluginOperation(plugin_id: \"stash-sense\", args: $args) }",
                      {"args": {"mode": "identify_scene", "scene_id": "1", "num_frames": 10}}, key=STASH_KEY)["runPluginOperation"]
    assert output["scene_id"] == "1"
    assert sorted(p["name"] for p in output["result"]["performers"]) == ["Brad Pitt", "Kate Winslet"]
    body = gql(stash_url, "mutation($args: Map) { runPluginOperation(plugin_id: \"stash-sense\", args: $args) }",
               {"args": {"mode": "identify_scene", "scene_id": "999"}}, key=STASH_KEY).json()
    assert body["errors"][0]["message"].startswith("the sidecar answered 404")


def test_fingerprint_task_runs_as_a_stash_job(servers) -> None:
    stash_url, sidecar_url = servers
    job_id = gql_data(stash_url, "mutation { runPluginTask(plugin_id: \"stash-sense\", task_name: \"Generate fingerprints\") }",
                      key=STASH_KEY)["runPluginTask"]
    deadline = time.monotonic() + 240
    while True:
        job = gql_data(stash_url, "query($id: ID!) { findJob(input: {id: $id}) { status progress } }", {"id": job_id}, key=STASH_KEY)["findJob"]
        if job["status"] != "RUNNING" and job["status"] != "READY":
            break
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
    assert job == {"status": "FINISHED", "progress": 1.0}
    answer, _ = run_backend(stash_stdin(stash_url, SESSION, {"mode": "fingerprints_status"}))
    assert answer["error"] is None and answer["output"]["coverage"] == 1.0 and answer["output"]["total_scenes"] == 3


def test_sidecar_down_gives_a_clear_error(servers) -> None:
    stash_url, _ = servers
    dead = f"http://127.0.0.1:{free_port_refusing_connections()}"
    answer, logs = run_backend(stash_stdin(stash_url, SESSION, {"mode": "identify_scene", "scene_id": "1", "sidecar_url": dead}))
    assert answer["output"] is None
    assert answer["error"].startswith(f"cannot reach the Stash Sense sidecar at {dead}")
    assert "stash-sense serve" in answer["error"] and any(line.startswith("\x01e\x02") for line in logs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"mode": "health", "sidecar_url": "ftp://example"}, "is not an http(s) URL"),
        ({"mode": "identify_scene", "scene_id": "abc"}, "scene_id must be a Stash scene id"),
        ({"mode": "identify_scene", "scene_id": "1", "min_confidence": 3}, "must be between 0 and 1"),
        ({"mode": "identify_scene", "scene_id": "1", "num_frames": "many"}, "num_frames must be a whole number"),
        ({"mode": "identify_scene", "scene_id": "1", "num_frames": 0}, "the sidecar answered 422"),
        ({"mode": "nope"}, "unknown mode 'nope'"),
    ],
)
def test_bad_input_gives_a_clear_error(servers, args: dict[str, Any], message: str) -> None:
    stash_url, _ = servers
    answer, _ = run_backend(stash_stdin(stash_url, SESSION, args))
    assert answer["output"] is None and message in answer["error"]


def test_wrong_key_and_unreachable_stash(servers) -> None:
    stash_url, sidecar_url = servers
    answer, _ = run_backend(stash_stdin(stash_url, SESSION, {"mode": "database_info", "sidecar_url": sidecar_url, "sidecar_api_key": "wrong"}))
    assert answer["error"].startswith("the sidecar refused the request (401): set Sidecar API key")
    dead_stash = f"http://127.0.0.1:{free_port_refusing_connections()}"
    answer, _ = run_backend(stash_stdin(dead_stash, SESSION, {"mode": "health"}))
    assert answer["error"].startswith("could not read the plugin settings from Stash")
    answer, _ = run_backend(stash_stdin(stash_url, "not-the-session", {"mode": "health"}))
    assert answer["error"] == f"Stash refused the settings query (401) at {stash_url}/graphql"
    answer, _ = run_backend("this is not json")
    assert answer["error"].startswith("stdin is not the JSON object Stash sends")
    answer, _ = run_backend(stash_stdin(stash_url, SESSION, {"mode": "health"}))
    assert answer["error"] is None and answer["output"]["status"] in ("ok", "degraded")
