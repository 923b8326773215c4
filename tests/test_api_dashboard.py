"""The API endpoints behind the dashboard, over real HTTP against the Stash and stash-box
emulators: Stash search, identity lookup, creating a performer from stash-box, benchmark
reports, effective settings, test connection, and the public dashboard files."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from browser_helpers import BOX_KEY, MISSING_FROM_STASH, STASH_KEY, _populate, _stash_library, stash_boxes
from emulator_helpers import IDENTITIES, make_library, performer_stash_id

SIDECAR_KEY = "dashboard-api-key-for-tests"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[dict]:
    from stash_sense.api.app import create_app as create_sidecar
    from stash_sense.api.settings import load_settings
    from stash_sense.devtools.emulator import create_app, create_stashbox_app, run_in_thread

    root = tmp_path_factory.mktemp("dashboard-api")
    library = make_library(root / "library", facedata)
    stash_library = _stash_library(library, root / "stash-library")
    with run_in_thread(create_stashbox_app(library, api_key=BOX_KEY)) as box_url:
        endpoint = f"{box_url}/graphql"
        present = [p for p in range(1, len(IDENTITIES) + 1) if p != MISSING_FROM_STASH]
        with run_in_thread(create_app(stash_library, api_key=STASH_KEY, stash_boxes=stash_boxes(endpoint))) as stash_url:
            asyncio.run(_populate(stash_url, library, endpoint, performer_ids=present))
            env = {
                "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
                "STASH_SENSE_DATA_DIR": str(root / "data"), "STASH_SENSE_DB_WATCH_INTERVAL": "0",
            }
            with run_in_thread(create_sidecar(load_settings(env=env))) as sidecar_url:
                yield {"stash": stash_url, "box": endpoint, "sidecar": sidecar_url, "data": root / "data", "library": stash_library}


def api(world: dict, key: str | None = SIDECAR_KEY) -> httpx.Client:
    return httpx.Client(base_url=world["sidecar"], headers={"X-API-Key": key} if key else {}, timeout=60)


def stash_gql(world: dict, query: str, variables: dict | None = None) -> dict:
    body = httpx.post(f"{world['stash']}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": STASH_KEY}).json()
    assert not body.get("errors"), body
    return body["data"]


def test_dashboard_files_are_public_and_fenced_but_the_api_is_not(world: dict) -> None:
    with api(world, key=None) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert '<script type="module" src="/dashboard/app.js">' in page.text
        for name in ("app.js", "api.js", "scenes.js", "style.css"):
            assert client.get(f"/dashboard/{name}").status_code == 200, name
        assert client.get("/dashboard/missing.js").status_code == 404
        assert client.get("/dashboard/%2e%2e%2fapp.py").status_code == 404
        for path in ("/settings", "/benchmarks", "/stash/scenes?q=x"):
            assert client.get(path).status_code == 401, path
        assert client.post("/stash/test-connection").status_code == 401


def test_settings_hide_every_secret(world: dict) -> None:
    with api(world) as client:
        text = client.get("/settings").text
        data = client.get("/settings").json()
    assert SIDECAR_KEY not in text and STASH_KEY not in text
    assert data["settings"]["api_key"] == "<set>" and data["settings"]["stash_api_key"] == "<set>"
    assert data["environment_variables"]["api_key"] == "STASH_SENSE_API_KEY"
    assert data["settings"]["benchmark_dir"] == str(world["data"] / "benchmarks")


def test_scene_and_performer_search(world: dict) -> None:
    with api(world) as client:
        by_title = client.get("/stash/scenes", params={"q": "Scene 2"}).json()["scenes"]
        by_id = client.get("/stash/scenes", params={"q": "3"}).json()["scenes"]
        nothing = client.get("/stash/scenes", params={"q": "no such title at all"}).json()["scenes"]
        performers = client.get("/stash/performers", params={"q": "brad"}).json()["performers"]
        too_long = client.get("/stash/scenes", params={"q": "x" * 201})
    assert by_title[0]["title"] == "Scene 2" and by_title[0]["duration_s"] > 0
    assert by_id[0]["id"] == "3"
    assert nothing == []
    assert [p["name"] for p in performers] == ["Brad Pitt"]
    assert performers[0]["stash_ids"] == [{"endpoint": world["box"], "stash_id": performer_stash_id(1)}]
    assert too_long.status_code == 422


def test_resolve_says_who_is_in_stash_and_who_can_be_created(world: dict) -> None:
    brad = f"{world['box']}#{performer_stash_id(1)}"
    kate = f"{world['box']}#{performer_stash_id(MISSING_FROM_STASH)}"
    with api(world) as client:
        results = client.post("/stash/resolve", json={"identities": [brad, kate, "local:gallery#Nobody", "nonsense"]}).json()["results"]
        empty = client.post("/stash/resolve", json={"identities": []})
    by = {r["identity"]: r for r in results}
    assert by[brad]["performer"]["name"] == "Brad Pitt" and not by[brad]["can_create"]
    assert by[kate]["performer"] is None and by[kate]["can_create"] and "no Stash performer" in by[kate]["reason"]
    assert by["local:gallery#Nobody"]["can_create"] is False  # a local identity has no stash-box entry
    assert by["nonsense"]["performer"] is None and not by["nonsense"]["can_create"]
    assert empty.status_code == 422


def test_create_from_stashbox_makes_one_linked_performer_with_a_portrait(world: dict) -> None:
    kate = f"{world['box']}#{performer_stash_id(MISSING_FROM_STASH)}"
    with api(world) as client:
        unconfirmed = client.post("/stash/performers/from-stashbox", json={"confirm": False, "identity": kate})
        local = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": "local:gallery#Kate Winslet"})
        elsewhere = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": "https://other.example/graphql#abc"})
        unknown = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": f"{world['box']}#00000000-0000-0000-0000-000000000000"})
        no_scene = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": kate, "scene_id": "999"})
        first = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": kate, "scene_id": "3"})
        again = client.post("/stash/performers/from-stashbox", json={"confirm": True, "identity": kate})
    assert unconfirmed.status_code == 400 and unconfirmed.json()["error"] == "confirmation_required"
    assert local.status_code == 422 and local.json()["error"] == "invalid_identity"
    assert elsewhere.status_code == 422 and elsewhere.json()["error"] == "stashbox_not_configured"
    assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]
    assert no_scene.status_code == 404
    assert first.status_code == 200, first.text
    created = first.json()
    assert created["created"] is True and created["performer"]["name"] == IDENTITIES[MISSING_FROM_STASH - 1]
    assert created["scene_performer_ids"] == [created["performer"]["id"]]
    assert again.json()["created"] is False and again.json()["performer"]["id"] == created["performer"]["id"]
    # In Stash: exactly one such performer, linked to the stash-box, with a real portrait, on scene 3.
    found = stash_gql(world, "query($q: String) { findPerformers(filter: {q: $q}) { performers { id image_path stash_ids { endpoint stash_id } } } }",
                      {"q": IDENTITIES[MISSING_FROM_STASH - 1]})["findPerformers"]["performers"]
    assert len(found) == 1 and found[0]["stash_ids"] == [{"endpoint": world["box"], "stash_id": performer_stash_id(MISSING_FROM_STASH)}]
    assert "default=true" not in found[0]["image_path"]
    scene = stash_gql(world, '{ findScene(id: "3") { performers { id } } }')["findScene"]
    assert scene["performers"] == [{"id": created["performer"]["id"]}]


def test_create_from_stashbox_needs_the_key_stash_has(world: dict, tmp_path: Path) -> None:
    from stash_sense.api.app import create_app as create_sidecar
    from stash_sense.api.settings import load_settings
    from stash_sense.devtools.emulator import create_app, run_in_thread

    keyless = [{**stash_boxes(world["box"])[0], "api_key": ""}]
    with run_in_thread(create_app(world["library"], api_key=STASH_KEY, stash_boxes=keyless)) as stash_url:
        env = {"STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_DATA_DIR": str(tmp_path), "STASH_SENSE_DB_WATCH_INTERVAL": "0"}
        with run_in_thread(create_sidecar(load_settings(env=env))) as sidecar_url:
            answer = httpx.post(f"{sidecar_url}/stash/performers/from-stashbox", timeout=60,
                                json={"confirm": True, "identity": f"{world['box']}#{performer_stash_id(1)}"})
    assert answer.status_code == 422 and answer.json()["error"] == "stashbox_no_key"


def test_benchmark_reports_list_and_open(world: dict) -> None:
    root = world["data"] / "benchmarks"
    (root / "run-a").mkdir(parents=True, exist_ok=True)
    (root / "run-a" / "summary.txt").write_text("Benchmark summary\nline 2\nline 3\nline 4\n")
    (root / "run-a" / "report.html").write_text("<h1>report a</h1>")
    (root / "run-a" / "recommended_config.json").write_text('{"min_confidence": 0.5}')
    (root / "not-a-report").mkdir(exist_ok=True)
    with api(world) as client:
        listing = client.get("/benchmarks").json()
        opened = client.get("/benchmarks/run-a").json()
        html = client.get("/benchmarks/run-a/report.html")
        missing = client.get("/benchmarks/not-a-report")
        climbing = client.get("/benchmarks/..%2F..%2Fetc")
    names = [r["name"] for r in listing["reports"]]
    assert "run-a" in names and "not-a-report" not in names
    assert next(r for r in listing["reports"] if r["name"] == "run-a")["summary_head"] == "Benchmark summary\nline 2\nline 3"
    assert opened["recommended_config"] == {"min_confidence": 0.5} and opened["html_path"] == "/benchmarks/run-a/report.html"
    assert opened["files"] == ["recommended_config.json", "report.html", "summary.txt"]
    assert html.status_code == 200 and html.text == "<h1>report a</h1>" and "sandbox" in html.headers["content-security-policy"]
    assert missing.status_code == 404 and climbing.status_code in (404, 422)


def test_test_connection_checks_stash_now(world: dict, tmp_path: Path) -> None:
    from stash_sense.api.app import create_app as create_sidecar
    from stash_sense.api.settings import load_settings
    from stash_sense.devtools.emulator import run_in_thread

    with api(world) as client:
        answer = client.post("/stash/test-connection").json()
    assert answer["stash"]["reachable"] is True and answer["stash"]["version"]
    env = {"STASH_SENSE_DATA_DIR": str(tmp_path), "STASH_SENSE_DB_WATCH_INTERVAL": "0"}
    with run_in_thread(create_sidecar(load_settings(env=env))) as sidecar_url:
        unconfigured = httpx.post(f"{sidecar_url}/stash/test-connection")
    assert unconfigured.status_code == 503 and unconfigured.json()["error"] == "stash_not_configured"
