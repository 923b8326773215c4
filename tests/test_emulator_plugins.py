"""The emulator runs raw plugins as Stash does: runPluginOperation, runPluginTask with jobs,
plugin listing, and settings through configurePlugin / configuration { plugins }."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import parse, validate

from emulator_helpers import make_library
from plugin_helpers import PLUGIN_DIR, gql, gql_data, write_probe_plugin
from stash_helpers import stash_schema_or_skip
from stash_sense.devtools.emulator import create_app, run_in_thread

KEY = "emulator-plugin-key"

LIST = "{ plugins { id name version enabled settings { name display_name type } tasks { name description } paths { javascript css } } }"
RUN = "mutation($id: ID!, $args: Map) { runPluginOperation(plugin_id: $id, args: $args) }"
TASK = "mutation($id: ID!, $task: String, $args: Map) { runPluginTask(plugin_id: $id, task_name: $task, args_map: $args) }"
JOB = "query($id: ID!) { findJob(input: {id: $id}) { id status progress description startTime endTime addTime error } }"
QUEUE = "{ jobQueue { id status } }"
STOP = "mutation($id: ID!) { stopJob(job_id: $id) }"
CONFIGURE = "mutation($id: ID!, $input: Map!) { configurePlugin(plugin_id: $id, input: $input) }"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return make_library(tmp_path_factory.mktemp("plugin-emulator-library"), facedata)


@pytest.fixture(scope="module")
def plugins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugins")
    write_probe_plugin(root)
    (root / "stash-sense").symlink_to(PLUGIN_DIR, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def stash(library: Path, plugins_dir: Path) -> Iterator[tuple[str, object]]:
    app = create_app(library, api_key=KEY, plugins_dir=plugins_dir)
    with run_in_thread(app) as url:
        yield url, app


def _wait_job(url: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = gql_data(url, JOB, {"id": job_id}, key=KEY)["findJob"]
        if job["status"] in ("FINISHED", "CANCELLED", "FAILED") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_documents_are_valid_against_stash_schema() -> None:
    schema = stash_schema_or_skip()
    for document in (LIST, RUN, TASK, JOB, QUEUE, STOP, CONFIGURE):
        assert validate(schema, parse(document)) == [], document


def test_plugins_are_listed_from_their_yaml(stash) -> None:
    url, _ = stash
    plugins = {p["id"]: p for p in gql_data(url, LIST, key=KEY)["plugins"]}
    assert set(plugins) == {"probe", "stash-sense"}
    probe = plugins["probe"]
    assert probe["name"] == "Probe" and probe["version"] == "1.2.3" and probe["enabled"] is True
    assert probe["settings"] == [{"name": "greeting", "display_name": "Greeting", "type": "STRING"}]
    assert probe["tasks"] == [{"name": "Count", "description": "counts to steps"}]
    sense = plugins["stash-sense"]
    # As real Stash answers: the URLs its UI loads the plugin's files from, not paths on disk.
    assert sense["paths"] == {"javascript": [f"{url}/plugin/stash-sense/javascript"], "css": [f"{url}/plugin/stash-sense/css"]}
    assert {s["name"]: s["type"] for s in sense["settings"]}["minConfidence"] == "NUMBER"
    assert [t["name"] for t in sense["tasks"]] == ["Generate fingerprints"]


def test_operation_gets_stash_stdin_and_returns_output(stash, plugins_dir: Path) -> None:
    url, app = stash
    output = gql_data(url, RUN, {"id": "probe", "args": {"mode": "echo", "n": 2, "flag": True}}, key=KEY)["runPluginOperation"]
    assert output["args"] == {"mode": "echo", "n": 2, "flag": True}  # no task: no default args
    connection = output["connection"]
    port = int(url.rsplit(":", 1)[1])
    assert (connection["Scheme"], connection["Host"], connection["Port"]) == ("http", "127.0.0.1", port)
    assert connection["PluginDir"] == str((plugins_dir / "probe").resolve())
    assert connection["SessionCookie"]["Name"] == "session"
    assert connection["SessionCookie"]["Value"] == app.state.plugins.session_cookie
    # The cookie Stash hands the plugin is accepted in place of the API key; a wrong one is not.
    cookie = connection["SessionCookie"]["Value"]
    assert gql(url, "{ version { version } }", cookie=cookie).status_code == 200
    assert gql(url, "{ version { version } }", cookie="wrong").status_code == 401


def test_operation_errors_become_graphql_errors(stash) -> None:
    url, _ = stash
    body = gql(url, RUN, {"id": "probe", "args": {"mode": "fail"}}, key=KEY).json()
    assert body["errors"][0]["message"] == "probe failed on purpose"
    body = gql(url, RUN, {"id": "probe", "args": {"mode": "crash"}}, key=KEY).json()
    assert body["errors"][0]["message"] == "exit status 3"
    assert gql_data(url, RUN, {"id": "probe", "args": {"mode": "text"}}, key=KEY)["runPluginOperation"] == "not json"
    body = gql(url, RUN, {"id": "nope", "args": {}}, key=KEY).json()
    assert body["errors"][0]["message"] == "no plugin with ID nope"


def test_settings_round_trip_through_the_plugin(stash) -> None:
    url, _ = stash
    assert gql_data(url, CONFIGURE, {"id": "probe", "input": {"greeting": "hello"}}, key=KEY)["configurePlugin"] == {"greeting": "hello"}
    output = gql_data(url, RUN, {"id": "probe", "args": {"mode": "settings"}}, key=KEY)["runPluginOperation"]
    assert output["probe"] == {"greeting": "hello"}


def test_task_runs_as_a_job_with_progress_and_default_args(stash) -> None:
    url, app = stash
    job_id = gql_data(url, TASK, {"id": "probe", "task": "Count", "args": {"pause": "0.05"}}, key=KEY)["runPluginTask"]
    job = _wait_job(url, job_id)
    assert job["status"] == "FINISHED" and job["progress"] == 1.0
    assert job["description"] == "Running plugin task: Count" and job["startTime"] and job["endTime"]
    run = app.state.plugins.jobs[int(job_id)].run
    assert run.output["args"] == {"mode": "count", "steps": "4", "pause": "0.05"}  # defaultArgs filled in
    assert run.progress == [0.25, 0.5, 0.75, 1.0]
    assert ("i", "probe started") in run.logs and ("e", "plain stderr line") in run.logs  # unprefixed = error level
    body = gql(url, TASK, {"id": "probe", "task": "Nope"}, key=KEY).json()
    assert body["errors"][0]["message"] == "no task with name Nope in plugin Probe"


def test_stop_job_kills_the_backend(stash) -> None:
    url, _ = stash
    job_id = gql_data(url, TASK, {"id": "probe", "task": "Count", "args": {"steps": "100", "pause": "0.2"}}, key=KEY)["runPluginTask"]
    deadline = time.monotonic() + 30
    while (gql_data(url, JOB, {"id": job_id}, key=KEY)["findJob"]["progress"] or 0) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job_id in [j["id"] for j in gql_data(url, QUEUE, key=KEY)["jobQueue"]]
    assert gql_data(url, STOP, {"id": job_id}, key=KEY)["stopJob"] is True
    job = _wait_job(url, job_id, timeout=20)
    assert job["status"] == "CANCELLED" and job["progress"] < 1.0
    assert job_id not in [j["id"] for j in gql_data(url, QUEUE, key=KEY)["jobQueue"]]
    assert gql_data(url, JOB, {"id": "9999"}, key=KEY)["findJob"] is None


def test_without_a_plugins_folder(library: Path) -> None:
    with run_in_thread(create_app(library, api_key=KEY)) as url:
        assert gql_data(url, "{ plugins { id } }", key=KEY)["plugins"] == []
        body = gql(url, RUN, {"id": "probe", "args": {}}, key=KEY).json()
        assert body["errors"][0]["message"] == "this emulator was started without a plugins folder"


def test_a_backend_that_outlives_its_deadline_is_killed_with_what_it_started(tmp_path: Path) -> None:
    """No plugin run can outlive its caller: past ``run_timeout`` the backend's whole process
    group is killed and the run reports why."""
    import asyncio

    from stash_sense.devtools.emulator.plugins import PluginHost

    root = tmp_path / "plugins"
    write_probe_plugin(root)
    host = PluginHost(root, config_dir=tmp_path, session_cookie="c", run_timeout=2.0)
    probe = host.plugin("probe")
    started = time.monotonic()
    run = asyncio.run(host.execute(probe, None, {"mode": "count", "steps": 3, "pause": 30}, "http://127.0.0.1:9"))
    assert time.monotonic() - started < 20  # not the 90 s the backend wanted
    assert run.error is not None and "did not finish within 2 s" in run.error and run.output == ""
