"""The Stash Sense plugin in Stash's real web UI, in headless Chromium.

The Stash emulator serves a production build of Stash's own UI (``../shared/stash-ui/build``,
React 17, react-bootstrap, Apollo) as Stash serves it, under the base path ``/stash/`` as behind
a reverse proxy, with an empty plugins folder. The tests, in order, on one stack:

1. the emulator answers what the UI asks (``index.html`` with its ``<base href>``, gzip assets,
   the custom CSS/JavaScript/locales, the plugin routes, the session);
2. Settings > Plugins: add the sidecar's own plugin source (``/plugin/index.yml``), install
   Stash Sense from it (the package calls Stash's page makes), set its settings;
3. Settings > Tasks: run "Generate fingerprints", watch it in Stash's job queue; then the
   Stash Sense page from the navigation bar, desktop and phone;
4. a scene page: the Stash Sense tab, identify, add, link, create from stash-box (phone), what
   Stash's own Details tab shows afterwards; the UI at Stash's root too;
5. the GraphQL subscriptions over WebSocket that keep Stash's job queue live;
6. on a second stack (a library with planted duplicates), the other way to install a plugin:
   the sidecar's zip unpacked into the plugins folder and Settings > Plugins > Reload plugins;
   then the Recommendations review on the Stash Sense page (merge, "not a duplicate", re-run).

Every flow checks what the page shows and what changed in the emulator or the sidecar; every
page fails on any console error but the Chromecast SDK's (fetched from the internet, which the
tests do not reach), and on any request made outside the base path. Skips with a message when
chromium, node, the shared photos or the Stash UI build are missing.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from browser_helpers import ARTIFACTS, SIDECAR_KEY, STASH_KEY, dashboard_assets, require_browser, run_node_script
from duplicates_helpers import planted_library
from emulator_helpers import IDENTITIES, performer_stash_id
from plugin_helpers import MISSING, PLUGIN_ID
from stash_ui_helpers import BASE_PATH, SESSION, StashUIStack, planted_stack, require_stash_ui, stash_ui_stack

from stash_sense.devtools.samplelib import load_library

SETTINGS = {"sidecarUrl": "Sidecar URL", "sidecarApiKey": "Sidecar API key", "minConfidence": "Minimum confidence",
            "showRejected": "Show rejected candidates", "refreshOutdated": "Refresh outdated fingerprints"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[StashUIStack]:
    require_browser()  # skip before building anything
    ui_dir = require_stash_ui()
    assets = dashboard_assets(tmp_path_factory, facedata)
    with stash_ui_stack(assets, tmp_path_factory.mktemp("stash-ui"), ui_dir) as running:
        yield running


def _installed(stack: StashUIStack) -> None:
    if not stack.notes.get("installed"):
        pytest.fail("the plugin was not installed from Settings > Plugins (see test_install_from_the_sidecar_source)")


def _no_stray_requests(result: dict) -> None:
    assert result["errors"] == [], result["errors"]
    assert result["outsideBase"] == [], result["outsideBase"]


def test_stash_ui_is_served_as_stash_serves_it(stack: StashUIStack) -> None:
    cookies = {"session": SESSION}
    with httpx.Client(cookies=cookies, timeout=30) as client:
        proxied = client.get(stack.ui_url + "scenes/1")
        direct = client.get(stack.stash_url + "/settings")
        assert proxied.status_code == direct.status_code == 200
        assert '<base href="/stash/"' in proxied.text and '<base href="/"' in direct.text
        assert "%COLOR%" not in proxied.text and 'content="#202b33"' in proxied.text
        script = re.search(r'src="\./(assets/index-[^"]+\.js)"', proxied.text)
        assert script is not None
        asset = client.get(stack.ui_url + script.group(1), headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200 and asset.headers["content-encoding"] == "gzip"
        assert asset.headers["content-type"].startswith("text/javascript") and "PluginApi" in asset.text
        assert client.get(stack.ui_url + "assets/no-such-file.js").status_code == 404
        assert client.get(stack.ui_url + "customlocales").json() == {}
        assert client.get(stack.ui_url + "css").headers["content-type"].startswith("text/css")
        # Stash mounts /plugin for plugin files only: a plugin page's own route is a 404 when
        # opened directly (stashapp/stash#5124); the UI reaches it from its navigation bar.
        assert client.get(stack.ui_url + "plugin/stash-sense").status_code == 404
        assert client.get(stack.ui_url + "plugin/no-such-plugin/javascript").status_code == 404
        assert client.get(stack.ui_url + "scene/1/interactive_heatmap").headers["content-type"] == "image/png"
        graphql = client.post(stack.ui_url + "graphql", json={"query": "{ systemStatus { status } plugins { id } }"}).json()
        assert graphql["data"] == {"systemStatus": {"status": "OK"}, "plugins": []}  # nothing installed yet
    # The session is what lets the browser in: without it GraphQL is refused, and the UI's login
    # page (where a 401 sends it) hands the session out for the emulator's API key.
    assert httpx.post(stack.ui_url + "graphql", json={"query": "{ version { version } }"}, timeout=30).status_code == 401
    page = httpx.get(stack.ui_url + "scenes/2", timeout=30)
    assert page.status_code == 302 and page.headers["location"] == f"{BASE_PATH}/login?returnURL=%2Fstash%2Fscenes%2F2"
    login = stack.ui_url + "login"
    assert httpx.post(login, data={"apikey": "wrong"}, timeout=30).status_code == 401
    answer = httpx.post(login, data={"apikey": STASH_KEY, "returnURL": stack.ui_url + "scenes/2"}, timeout=30)
    assert answer.status_code == 302 and answer.headers["location"] == f"{BASE_PATH}/scenes/2"
    assert answer.cookies["session"] == SESSION and f"Path={BASE_PATH}" in answer.headers["set-cookie"]


def test_install_from_the_sidecar_source(stack: StashUIStack) -> None:
    index = yaml.safe_load(httpx.get(f"{stack.sidecar_url}/plugin/index.yml", timeout=30).text)
    version = index[0]["version"]
    result = run_node_script("stash_ui_install", stack.browser_env(), timeout=300)
    _no_stray_requests(result)
    assert "Stash Sense" in result["available"] and version in result["available"]
    assert {"AvailablePluginPackages", "InstallPluginPackages", "ConfigureGeneral", "ConfigurePlugin"} <= set(result["operations"])
    assert result["pluginHeading"] == f"Stash Sense ({version})"
    assert result["settingsListed"] == list(SETTINGS.values())
    assert "Stash Sense" in result["installedSection"] and version in result["installedSection"]
    # After the reload: the settings as saved, and the plugin's entry in Stash's navigation bar,
    # rendered twice by Stash (menu and bar), one of them visible at 1280 px.
    assert result["afterReload"] == {"sidecarUrl": stack.sidecar_url, "showRejected": True, "navEntries": 2, "navVisible": 1}

    # In the emulator: the source, the package installed from it, the plugin loaded and configured.
    source = f"{stack.sidecar_url}/plugin/index.yml"
    data = stack.gql(
        "{ configuration { general { pluginPackageSources { name url local_path } } plugins }"
        " installedPackages(type: Plugin) { package_id name version sourceURL source_package { version } }"
        " plugins { id name enabled paths { javascript css } } }"
    )
    assert data["configuration"]["general"]["pluginPackageSources"] == [{"name": "Stash Sense sidecar", "url": source, "local_path": None}]
    assert data["installedPackages"] == [{
        "package_id": PLUGIN_ID, "name": "Stash Sense", "version": version, "sourceURL": source, "source_package": {"version": version},
    }]
    assert data["configuration"]["plugins"] == {PLUGIN_ID: {"sidecarUrl": stack.sidecar_url, "sidecarApiKey": SIDECAR_KEY, "showRejected": True}}
    [plugin] = data["plugins"]
    assert plugin["id"] == PLUGIN_ID and plugin["enabled"] is True
    assert plugin["paths"] == {"javascript": [f"{stack.stash_url}/plugin/{PLUGIN_ID}/javascript"], "css": [f"{stack.stash_url}/plugin/{PLUGIN_ID}/css"]}
    # On disk: exactly the zip the sidecar serves, and Stash's manifest of what was installed.
    served = zipfile.ZipFile(io.BytesIO(httpx.get(f"{stack.sidecar_url}/plugin/{PLUGIN_ID}.zip", timeout=30).content))
    folder = stack.plugins_dir / PLUGIN_ID
    for name in served.namelist():
        assert (folder / name).read_bytes() == served.read(name), name
    manifest = yaml.safe_load((folder / "manifest").read_text())
    assert manifest["id"] == PLUGIN_ID and manifest["source_repository"] == source
    assert sorted(manifest["files"]) == sorted(served.namelist())
    stack.notes["installed"] = True


def test_generate_fingerprints_task_and_the_stash_sense_page(stack: StashUIStack) -> None:
    _installed(stack)
    with stack.sidecar() as api:
        assert api.get("/recommendations/fingerprints/status").json()["fingerprinted"] == 0
    result = run_node_script("stash_ui_tasks", stack.browser_env(), timeout=420)
    _no_stray_requests(result)
    assert result["taskSetting"].startswith("Generate fingerprints\nCompute face fingerprints")
    assert result["toast"].startswith("Added Generate fingerprints to job queue")
    # Stash's job queue showed the task running (its progress bar), then finished.
    states = result["jobStates"]
    assert states and all(s["text"].startswith("Running plugin task: Generate fingerprints") for s in states)
    assert any("running" in s["status"] and s["progress"] is not None and s["progress"].endswith("%") for s in states)
    assert "finished" in states[-1]["status"]
    jobs = [stack.gql('query($id: ID!) { findJob(input: {id: $id}) { status description } }', {"id": str(i)})["findJob"] for i in (1, 2)]
    assert jobs == [{"status": "FINISHED", "description": "Installing packages..."},
                    {"status": "FINISHED", "description": "Running plugin task: Generate fingerprints"}]
    with stack.sidecar() as api:
        status = api.get("/recommendations/fingerprints/status").json()
    assert status["fingerprinted"] == status["total_scenes"] == 3 and status["coverage"] == 1.0

    # The Stash Sense page, from the navigation bar, under the base path.
    assert result["pageUrl"] == stack.ui_url + "plugin/stash-sense"
    assert "100% (3 of 3 scenes)" in result["fingerprints"] and "completed: 3 of 3 scenes" in result["fingerprints"]
    assert result["analysis"] == "Last analysis (scenes): completed, 0 raised, 0 kept dismissed"
    assert result["names"]["checked"] > 0 and result["names"]["unnamed"] == [], result["names"]
    assert result["pluginOperationCount"] > 0 and result["pluginOperations"] == []
    # Under Stash's Bootstrap: no select spanning the card, the checkbox its own size, nothing
    # past the viewport; on a phone the entry sits in Stash's menu, which closes on following it.
    for name, layout in (("1280", result["layout1280"]), ("390", result["layout390"])):
        share = 0.25 if name == "1280" else 0.6
        assert all(s["width"] <= share * layout["cardWidth"] for s in layout["selects"]), (name, layout)
        assert layout["checkbox"]["width"] < 24 and layout["checkLabelWidth"] < 160, (name, layout)
        assert layout["cardRight"] <= layout["viewport"], (name, layout)
    assert result["phoneVisibleEntries"] == 0 and result["phoneMenuOpen"] == 0
    for shot in ("stash-ui-tasks-1280x800", "stash-ui-page-1280x800", "stash-ui-page-390x844"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000


def test_scene_page_identify_add_link_and_create(stack: StashUIStack) -> None:
    _installed(stack)
    hugh = IDENTITIES[MISSING - 1]
    assert sorted(p["name"] for p in stack.scene_performers("1")) == ["Brad Pitt"]
    result = run_node_script("stash_ui_scene", stack.browser_env(), timeout=540)
    _no_stray_requests(result)
    # react-bootstrap mounts every tab pane with the page: the plugin's only once it is opened.
    assert result["panelsBeforeOpen"] == [0, 0]

    # Scene 1: one row per person, Brad Pitt already on the scene, Kate Winslet offered.
    before = {r["best"]: r for r in result["scene1Before"]}
    assert {"Brad Pitt", "Kate Winslet"} <= set(before)
    assert before["Brad Pitt"]["status"] == "Already on this scene"
    assert "Add Kate Winslet to scene" in before["Kate Winslet"]["buttons"]
    assert {"Link another performer", "Skip"} <= set(before["Kate Winslet"]["buttons"])
    assert all(r["thumbnails"] >= 1 for r in before.values())
    after = {r["best"]: r["status"] for r in result["scene1After"]}
    assert after["Kate Winslet"] == after["Brad Pitt"] == "Added to this scene"
    # In Stash, and on Stash's own scene page after a reload.
    assert sorted(p["name"] for p in stack.scene_performers("1")) == ["Brad Pitt", "Kate Winslet", "Natalie Portman"]
    assert sorted(card.split("\n")[0] for card in result["scene1Stash"]) == ["Brad Pitt", "Kate Winslet", "Natalie Portman"]

    # Scene 2 on a phone: Hugh Jackman is on stash-box only; created in Stash with his stash ID.
    first = result["scene2Before"][0]
    assert len(result["scene2Before"]) == 1 and first["thumbnails"] >= 1
    if result["pickedAlternative"]:
        assert first["status"] == "No match above the minimum confidence"
    else:
        assert first["best"] == hugh and first["status"] == "Not in Stash yet"
    assert [(r["best"], r["status"]) for r in result["scene2After"]] == [(hugh, "Added to this scene")]
    on_scene = stack.scene_performers("2")
    assert [p["name"] for p in on_scene] == [hugh]
    assert stack.assets is not None
    assert on_scene[0]["stash_ids"] == [{"endpoint": stack.assets.box_endpoint, "stash_id": performer_stash_id(MISSING)}]
    assert [card.split("\n")[0] for card in result["scene2Stash"]] == [hugh]

    # Every plugin request went through Stash's base path: its GraphQL calls and its files.
    operations = result["pluginOperations"]
    assert {"StashSenseOperation", "StashSenseAdd", "StashSensePerformers", "StashSenseCreate"} <= {o.split()[0] for o in operations}
    assert all(o.split()[1] == stack.ui_url + "graphql" for o in operations)
    assert result["pluginFiles"] and all(url.startswith(f"{stack.ui_url}plugin/{PLUGIN_ID}/") for url in result["pluginFiles"])
    # At Stash's root (no proxy) the same plugin calls Stash's root GraphQL.
    assert re.fullmatch(r"\d+ performer\(s\) found in \d+ frames", result["rootScene3"])
    assert result["rootOperations"] and set(result["rootOperations"]) == {f"{stack.stash_url}/graphql"}

    # The plugin's part of the page: every control named, nothing wider than the viewport.
    for where, check in result["checks"].items():
        assert check["names"]["checked"] > 0 and check["names"]["unnamed"] == [], (where, check["names"])
        assert check["layout"]["overflowing"] == [] and check["layout"]["panelRight"] <= check["layout"]["viewport"], (where, check["layout"])
    for shot in ("stash-ui-scene-1280x800", "stash-ui-scene-390x844"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000


def test_graphql_subscriptions_over_websocket(stack: StashUIStack) -> None:
    """What keeps Stash's job queue live: graphql-transport-ws at {base}graphql, behind the session."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = stack.ui_url.replace("http://", "ws://") + "graphql"
    with pytest.raises(InvalidStatus):
        with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10):
            pass
    jobs = "subscription { jobsSubscribe { type job { id status description } } }"
    with connect(url, subprotocols=["graphql-transport-ws"], additional_headers={"Cookie": f"session={SESSION}"}, open_timeout=10) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "connection_ack"}
        ws.send(json.dumps({"id": "q", "type": "subscribe", "payload": {"query": "{ systemStatus { status } }"}}))
        assert json.loads(ws.recv(timeout=10)) == {"id": "q", "type": "next", "payload": {"data": {"systemStatus": {"status": "OK"}}}}
        assert json.loads(ws.recv(timeout=10)) == {"id": "q", "type": "complete"}
        ws.send(json.dumps({"id": "j", "type": "subscribe", "payload": {"query": jobs}}))
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}
        # A task queued now is announced, and removed with its final status when it ends.
        job_id = stack.gql('mutation { runPluginTask(plugin_id: "stash-sense", task_name: "Generate fingerprints") }')["runPluginTask"]
        events = []
        while not events or events[-1]["type"] != "REMOVE":
            message = json.loads(ws.recv(timeout=120))
            assert message["id"] == "j" and message["type"] == "next", message
            events.append(message["payload"]["data"]["jobsSubscribe"])
        assert all(e["job"]["id"] == job_id for e in events)
        assert events[0]["type"] == "ADD" and events[-1]["job"]["status"] == "FINISHED"
        ws.send(json.dumps({"id": "j", "type": "complete"}))


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[StashUIStack]:
    require_browser()
    ui_dir = require_stash_ui()
    library = planted_library(tmp_path_factory, facedata)
    with planted_stack(library, tmp_path_factory.mktemp("stash-ui-planted"), ui_dir) as running:
        running.notes["library"] = library
        yield running


def _target(a: str, b: str) -> str:
    return f"scenes:{min(a, b, key=int)},{max(a, b, key=int)}"


def test_dropped_in_plugin_and_the_recommendations_review(planted: StashUIStack) -> None:
    stack = planted
    truth = load_library(stack.notes["library"]).duplicates
    assert truth is not None
    merge = next(p for p in truth.scenes if p.kind == "reencode")
    dismissed = next(p for p in truth.scenes if p.kind == "stash_id")
    files = stack.drop_in_plugin()
    assert stack.gql("{ plugins { id } }")["plugins"] == []  # not until the plugins are reloaded
    stack.gql('mutation($input: Map!) { configurePlugin(plugin_id: "stash-sense", input: $input) }',
              {"input": {"sidecarUrl": stack.sidecar_url, "sidecarApiKey": SIDECAR_KEY}})
    result = run_node_script("stash_ui_recommendations", stack.browser_env(
        MERGE_TARGET=_target(merge.a, merge.b), KEEPER=merge.a, DISMISS_TARGET=_target(dismissed.a, dismissed.b),
    ), timeout=420)
    _no_stray_requests(result)
    assert "stash-sense.yml" in files and result["beforeReload"] == 0 and result["afterReload"].startswith("Stash Sense (")
    assert [p["id"] for p in stack.gql("{ plugins { id } }")["plugins"]] == [PLUGIN_ID]
    assert result["pluginOperationCount"] > 0

    assert result["firstRun"].startswith("Last analysis (scenes): completed, 4 raised")
    assert set(result["listed"]) == {_target(p.a, p.b) for p in truth.scenes}
    before = result["before"]
    assert before["status"] == "open" and any(line.startswith("phash: ") for line in before["evidence"])
    assert "Resolution ≠" in before["differing"]
    assert f"into scene {merge.a}" in result["confirmText"] and "This changes Stash." in result["confirmText"]
    assert result["after"]["status"] == "resolved"
    assert stack.gql("query($id: ID!) { findScene(id: $id) { id } }", {"id": merge.b})["findScene"] is None
    kept = stack.gql("query($id: ID!) { findScene(id: $id) { files { id } } }", {"id": merge.a})["findScene"]
    assert len(kept["files"]) == 2
    assert "completed" in result["secondRun"] and "1 kept dismissed" in result["secondRun"]
    assert _target(dismissed.a, dismissed.b) not in result["openAfterRerun"]
    assert result["dismissedAfterRerun"] == [_target(dismissed.a, dismissed.b)]
    with stack.sidecar() as api:
        items = api.get("/recommendations", params={"type": "duplicate_scenes", "status": "dismissed"}).json()["items"]
    assert [(r["target"], r["dismissal"]) for r in items] == [(_target(dismissed.a, dismissed.b), "not_duplicate")]
    # The review under Stash's Bootstrap: in its card at both widths, radios of their own size.
    assert result["names"]["checked"] > 0 and result["names"]["unnamed"] == [], result["names"]
    for layout in (result["layout1280"], result["layout390"]):
        assert layout["tableRight"] <= layout["cardRight"] + 1 and layout["cardRight"] <= layout["viewport"], layout
        assert layout["radios"] and all(width < 24 for width in layout["radios"]), layout
    for shot in ("stash-ui-recommendations-review-1280x800", "stash-ui-recommendations-review-390x844"):
        assert (ARTIFACTS / f"{shot}.png").stat().st_size > 10_000
