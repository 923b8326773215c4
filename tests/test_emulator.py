"""The Stash and stash-box emulators, exercised over real HTTP on loopback.

A tiny sample library (three short H.264 scenes, four performers with real celeb17 photos) is
rendered once per module; every test talks to a threaded uvicorn server with httpx.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator_helpers import IDENTITIES, SCENES, STASHDB, make_library, performer_stash_id, scene_stash_id
from stash_sense.devtools.emulator import create_app, create_stashbox_app, run_in_thread
from stash_sense.devtools.emulator.library import LibraryError, read_library
from stash_sense.devtools.emulator.media import oshash
from stash_sense.devtools.emulator.ranges import UnsatisfiableRange, parse_range

KEY = "test-api-key-0123"


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return make_library(tmp_path_factory.mktemp("emulator-library"), facedata)


@pytest.fixture(scope="module")
def stash(library: Path) -> Iterator[str]:
    """A read-only emulator shared by the query tests (mutation tests start their own)."""
    with run_in_thread(create_app(library, api_key=KEY)) as url:
        yield url


@pytest.fixture
def fresh_stash(library: Path) -> Iterator[str]:
    with run_in_thread(create_app(library, api_key=KEY)) as url:
        yield url


def post(url: str, query: str, variables: dict[str, Any] | None = None, *, key: str | None = KEY) -> httpx.Response:
    headers = {"ApiKey": key} if key is not None else {}
    return httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=60)


def gql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(url, query, variables)
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


def gql_error(url: str, query: str, variables: dict[str, Any] | None = None) -> str:
    body = post(url, query, variables).json()
    assert body.get("errors"), body
    return " | ".join(e["message"] for e in body["errors"])


def scene_ids(url: str, scene_filter: dict[str, Any] | None = None, find_filter: dict[str, Any] | None = None) -> list[int]:
    data = gql(
        url,
        "query($f: SceneFilterType, $ff: FindFilterType) { findScenes(scene_filter: $f, filter: $ff) { count scenes { id } } }",
        {"f": scene_filter, "ff": find_filter if find_filter is not None else {"per_page": -1}},
    )
    return [int(s["id"]) for s in data["findScenes"]["scenes"]]


def get(url: str, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", {"ApiKey": KEY})
    return httpx.get(url, headers=headers, timeout=60, **kwargs)


def reference_oshash(path: Path) -> str:
    """Stash's OpenSubtitles hash, written out independently of the emulator's implementation:
    size + sum of the little-endian uint64 words of the first and last min(64 KiB, size//8*8) bytes."""
    data = path.read_bytes()
    chunk = min(65536, len(data) // 8 * 8)
    head, tail = data[:chunk], data[len(data) - chunk :]
    words = [struct.unpack_from("<Q", block, offset)[0] for block in (head, tail) for offset in range(0, chunk, 8)]
    return format((len(data) + sum(words)) % 2**64, "016x")


def decoded_frames(path: Path) -> list[Any]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_image() for frame in container.decode(video=0)]


def top_strip_red(image: Any) -> float:
    """Mean red of the top sixth, where the test scenes show only their per-frame background."""
    from PIL import ImageStat

    strip = image.convert("RGB").crop((0, 0, image.width, max(1, image.height // 6)))
    return ImageStat.Stat(strip).mean[0]


# -- GraphQL basics -----------------------------------------------------------------------------


def test_version_status_and_configuration(stash: str) -> None:
    data = gql(
        stash,
        "{ version { version hash build_time } systemStatus { status appSchema }"
        " configuration { general { apiKey stashBoxes { endpoint api_key name max_requests_per_minute } } plugins } }",
    )
    assert data["version"]["version"].startswith("v0.30.1") and data["version"]["hash"]
    assert data["systemStatus"]["status"] == "OK"
    general = data["configuration"]["general"]
    assert general["apiKey"] == KEY
    assert general["stashBoxes"] == [
        {"endpoint": STASHDB, "api_key": "", "name": "StashDB", "max_requests_per_minute": 240}
    ]
    assert data["configuration"]["plugins"] == {}


def test_introspection_lists_the_real_schema(stash: str) -> None:
    data = gql(stash, "{ __schema { queryType { name } types { name } } }")
    names = {t["name"] for t in data["__schema"]["types"]}
    assert {"Scene", "VideoFile", "SceneFilterType", "ResolutionEnum", "BulkSceneUpdateInput"} <= names
    assert len(names) > 250  # the whole upstream schema, not a hand-written subset


def test_unimplemented_root_field_is_a_clear_error(stash: str) -> None:
    assert "findGalleries is not implemented by the Stash emulator" in gql_error(stash, "{ findGalleries { count } }")


def test_get_queries_and_http_errors(stash: str) -> None:
    response = httpx.get(f"{stash}/graphql", params={"query": "{ version { version } }", "apikey": KEY})
    assert response.status_code == 200 and response.json()["data"]["version"]["version"]
    mutation = httpx.get(
        f"{stash}/graphql", params={"query": 'mutation { tagCreate(input: {name: "x"}) { id } }'}, headers={"ApiKey": KEY}
    )
    assert mutation.status_code == 405
    garbage = httpx.post(f"{stash}/graphql", content=b"{not json", headers={"ApiKey": KEY})
    assert garbage.status_code == 400 and "not valid JSON" in garbage.json()["errors"][0]["message"]
    invalid = post(stash, "{ findScenes { scenes { file { path } } } }")  # Scene.file no longer exists
    assert invalid.status_code == 422 and "Cannot query field 'file'" in invalid.json()["errors"][0]["message"]


# -- scenes ---------------------------------------------------------------------------------------


def test_find_scenes_describes_the_library(stash: str, library: Path) -> None:
    data = gql(
        stash,
        """{ findScenes(filter: {per_page: -1}) { count duration filesize scenes {
            id title organized created_at updated_at urls studio { id } tags { id }
            files { id path basename size format width height duration video_codec audio_codec frame_rate bit_rate
                    fingerprints { type value } oshash: fingerprint(type: "oshash") md5: fingerprint(type: "md5")
                    parent_folder { path } }
            stash_ids { endpoint stash_id updated_at }
            performers { id name }
        } } }""",
    )["findScenes"]
    assert data["count"] == len(SCENES)
    by_id = {int(s["id"]): s for s in data["scenes"]}
    total_size = 0
    for spec in SCENES:
        scene = by_id[spec.id]
        path = library / "scenes" / f"scene_{spec.id:04d}.mp4"
        (file,) = scene["files"]
        total_size += path.stat().st_size
        assert scene["title"] == f"Scene {spec.id}" and scene["studio"] is None and scene["tags"] == []
        assert file["path"] == str(path.resolve()) and file["basename"] == path.name
        assert file["parent_folder"]["path"] == str(path.resolve().parent)
        assert file["id"] != scene["id"]  # file ids are their own sequence, as in Stash
        assert (file["width"], file["height"]) == spec.size
        assert file["size"] == path.stat().st_size
        assert file["duration"] == pytest.approx(spec.duration, abs=0.15)
        assert file["format"] == "mp4" and file["video_codec"] == "h264" and file["frame_rate"] == pytest.approx(10)
        assert file["bit_rate"] > 0
        expected = {"oshash": reference_oshash(path), "md5": hashlib.md5(path.read_bytes()).hexdigest()}
        assert {fp["type"]: fp["value"] for fp in file["fingerprints"]} == expected
        assert (file["oshash"], file["md5"]) == (expected["oshash"], expected["md5"])
        assert scene["stash_ids"][0]["endpoint"] == STASHDB
        assert scene["stash_ids"][0]["stash_id"] == scene_stash_id(spec.id)
        assert [int(p["id"]) for p in scene["performers"]] == list(spec.performer_ids)
        assert [p["name"] for p in scene["performers"]] == [IDENTITIES[i - 1] for i in spec.performer_ids]
    assert data["filesize"] == total_size
    assert data["duration"] == pytest.approx(sum(s.duration for s in SCENES), abs=0.3)


def test_scene_paths_are_absolute_stash_urls(stash: str, library: Path) -> None:
    scene = gql(
        stash,
        '{ findScene(id: "1") { updated_at files { fingerprint(type: "oshash") }'
        " paths { screenshot preview stream webp vtt sprite funscript interactive_heatmap caption }"
        " sceneStreams { url mime_type label } } }",
    )["findScene"]
    digest = scene["files"][0]["fingerprint"]
    paths = scene["paths"]
    assert paths["stream"] == f"{stash}/scene/1/stream?apikey={KEY}"
    assert paths["screenshot"].startswith(f"{stash}/scene/1/screenshot?t=")
    assert paths["vtt"] == f"{stash}/scene/{digest}_thumbs.vtt"
    assert paths["sprite"] == f"{stash}/scene/{digest}_sprite.jpg"
    assert paths["preview"] == f"{stash}/scene/1/preview" and paths["caption"] == f"{stash}/scene/1/caption"
    assert scene["sceneStreams"] == [{"url": paths["stream"], "mime_type": "video/mp4", "label": "Direct stream"}]


def test_external_url_and_no_key(library: Path) -> None:
    with run_in_thread(create_app(library, external_url="https://stash.example:9999/")) as url:
        paths = gql(url, '{ findScene(id: "2") { paths { stream screenshot } } }')["findScene"]["paths"]
        assert paths["stream"] == "https://stash.example:9999/scene/2/stream"  # no key, no ?apikey=
        assert paths["screenshot"].startswith("https://stash.example:9999/scene/2/screenshot?t=")
        assert httpx.get(f"{url}/scene/2/stream").status_code == 200  # no key configured: open


@pytest.mark.parametrize(
    ("scene_filter", "expected"),
    [
        ({"stash_id_endpoint": {"endpoint": STASHDB, "modifier": "NOT_NULL"}}, [1, 2, 3]),
        ({"stash_id_endpoint": {"endpoint": STASHDB, "modifier": "IS_NULL"}}, []),
        ({"stash_id_endpoint": {"endpoint": "https://fansdb.cc/graphql", "modifier": "NOT_NULL"}}, []),
        ({"stash_id_endpoint": {"endpoint": STASHDB, "stash_id": scene_stash_id(2), "modifier": "EQUALS"}}, [2]),
        ({"stash_id_endpoint": {"stash_id": scene_stash_id(3), "modifier": "NOT_EQUALS"}}, [1, 2]),
        ({"performer_count": {"value": 1, "modifier": "EQUALS"}}, [2]),
        ({"performer_count": {"value": 1, "modifier": "NOT_EQUALS"}}, [1, 3]),
        ({"performer_count": {"value": 1, "modifier": "GREATER_THAN"}}, [1]),
        ({"performer_count": {"value": 1, "modifier": "LESS_THAN"}}, [3]),
        ({"performer_count": {"value": 1, "value2": 2, "modifier": "BETWEEN"}}, [1, 2]),
        ({"performer_count": {"value": 1, "value2": 1, "modifier": "NOT_BETWEEN"}}, [1, 3]),
        ({"resolution": {"value": "STANDARD", "modifier": "EQUALS"}}, [1, 3]),
        ({"resolution": {"value": "STANDARD", "modifier": "GREATER_THAN"}}, [2]),
        ({"resolution": {"value": "STANDARD_HD", "modifier": "LESS_THAN"}}, [1, 3]),
        ({"resolution": {"value": "STANDARD_HD", "modifier": "NOT_EQUALS"}}, [1, 3]),
        ({"resolution": {"value": "R360P", "modifier": "GREATER_THAN"}}, [1, 2, 3]),
        ({"resolution": {"value": "FULL_HD", "modifier": "EQUALS"}}, []),
        ({"is_missing": "performers"}, [3]),
        ({"is_missing": "stash_id"}, []),
        ({"is_missing": "studio"}, [1, 2, 3]),
        ({"performers": {"value": ["1"], "modifier": "INCLUDES"}}, [1]),
        ({"performers": {"value": ["1", "3"], "modifier": "INCLUDES"}}, [1, 2]),
        ({"performers": {"value": ["1", "2"], "modifier": "INCLUDES_ALL"}}, [1]),
        ({"performers": {"value": ["1", "3"], "modifier": "INCLUDES_ALL"}}, []),
        ({"performers": {"value": ["1"], "modifier": "EXCLUDES"}}, [2, 3]),
        ({"performers": {"value": ["1", "2"], "modifier": "EQUALS"}}, [1]),
        ({"performers": {"value": ["1"], "modifier": "EQUALS"}}, []),
        ({"performers": {"modifier": "IS_NULL"}}, [3]),
        ({"performers": {"value": ["1", "3"], "excludes": ["2"], "modifier": "INCLUDES"}}, [2]),
        ({"duration": {"value": 3, "modifier": "GREATER_THAN"}}, [1]),
        ({"title": {"value": "scene 2", "modifier": "EQUALS"}}, [2]),
        ({"id": {"value": 2, "modifier": "GREATER_THAN"}}, [3]),
        (
            {"performer_count": {"value": 0, "modifier": "GREATER_THAN"},
             "AND": {"resolution": {"value": "STANDARD", "modifier": "EQUALS"}}},
            [1],
        ),
        ({"is_missing": "performers", "OR": {"performers": {"value": ["3"], "modifier": "INCLUDES"}}}, [2, 3]),
        ({"stash_id_endpoint": {"modifier": "NOT_NULL"}, "NOT": {"performer_count": {"value": 2, "modifier": "EQUALS"}}}, [2, 3]),
    ],
)
def test_scene_filters(stash: str, scene_filter: dict[str, Any], expected: list[int]) -> None:
    assert scene_ids(stash, scene_filter) == expected


def test_scene_ids_argument_and_search(stash: str) -> None:
    data = gql(stash, 'query { findScenes(ids: ["3", "1"]) { count scenes { id } } }')["findScenes"]
    assert data["count"] == 2 and {s["id"] for s in data["scenes"]} == {"1", "3"}
    assert scene_ids(stash, None, {"q": "scene_0002", "per_page": -1}) == [2]
    assert scene_ids(stash, None, {"q": 'scene -"Scene 2"', "per_page": -1}) == [1, 3]


def test_unsupported_filters_and_sorts_fail_clearly(stash: str) -> None:
    query = "query($f: SceneFilterType, $ff: FindFilterType) { findScenes(scene_filter: $f, filter: $ff) { count } }"
    message = gql_error(stash, query, {"f": {"galleries": {"value": ["1"], "modifier": "INCLUDES"}}})
    assert "galleries not supported by the Stash emulator" in message and "performer_count" in message
    assert "is_missing: 'nonsense' is not supported" in gql_error(stash, query, {"f": {"is_missing": "nonsense"}})
    assert "needs value2" in gql_error(stash, query, {"f": {"performer_count": {"value": 1, "modifier": "BETWEEN"}}})
    assert "sort 'o_counter' is not supported" in gql_error(stash, query, {"ff": {"sort": "o_counter"}})
    both = {"AND": {"organized": True}, "OR": {"organized": False}}
    assert "cannot be combined" in gql_error(stash, query, {"f": both})


def test_pagination_and_sorting(stash: str) -> None:
    query = "query($ff: FindFilterType) { findScenes(filter: $ff) { count scenes { id } } }"
    page = gql(stash, query, {"ff": {"per_page": 2, "page": 2, "sort": "id"}})["findScenes"]
    assert page["count"] == 3 and [s["id"] for s in page["scenes"]] == ["3"]
    assert len(gql(stash, query, {"ff": {}})["findScenes"]["scenes"]) == 3  # default page size 25
    assert scene_ids(stash, None, {"per_page": 0}) == []
    assert scene_ids(stash, None, {"per_page": -1, "sort": "title", "direction": "DESC"}) == [3, 2, 1]
    assert scene_ids(stash, None, {"per_page": -1, "sort": "duration"}) == [3, 2, 1]
    assert scene_ids(stash, None, {"per_page": -1, "sort": "performer_count", "direction": "DESC"}) == [1, 2, 3]
    seeded = [scene_ids(stash, None, {"per_page": -1, "sort": f"random_{seed}"}) for seed in range(12)]
    assert all(sorted(order) == [1, 2, 3] for order in seeded)
    assert seeded[5] == scene_ids(stash, None, {"per_page": -1, "sort": "random_5"})  # same seed, same order
    assert len({tuple(order) for order in seeded}) > 1  # different seeds shuffle differently
    assert sorted(scene_ids(stash, None, {"per_page": -1, "sort": "random"})) == [1, 2, 3]


def test_find_scene_variants(stash: str, library: Path) -> None:
    path = library / "scenes" / "scene_0002.mp4"
    assert gql(stash, '{ findScene(id: "2") { id } }')["findScene"]["id"] == "2"
    assert gql(stash, '{ findScene(id: "99") { id } }')["findScene"] is None
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert gql(stash, "query($c: String) { findScene(checksum: $c) { id } }", {"c": md5})["findScene"]["id"] == "2"
    found = gql(stash, "query($h: String) { findSceneByHash(input: {oshash: $h}) { id } }", {"h": reference_oshash(path)})
    assert found["findSceneByHash"]["id"] == "2"


# -- performers and tags --------------------------------------------------------------------------


def test_find_performers(stash: str, library: Path) -> None:
    query = """query($f: PerformerFilterType, $ff: FindFilterType) { findPerformers(performer_filter: $f, filter: $ff) {
        count performers { id name alias_list image_path scene_count favorite stash_ids { endpoint stash_id } } } }"""
    everyone = gql(stash, query, {"ff": {"per_page": -1}})["findPerformers"]
    assert everyone["count"] == len(IDENTITIES)
    for performer in everyone["performers"]:
        pid = int(performer["id"])
        assert performer["name"] == IDENTITIES[pid - 1]
        assert performer["stash_ids"] == [{"endpoint": STASHDB, "stash_id": performer_stash_id(pid)}]
        assert performer["scene_count"] == sum(pid in s.performer_ids for s in SCENES)
        assert performer["image_path"].startswith(f"{stash}/performer/{pid}/image?t=")
        assert "default=true" not in performer["image_path"]

    def ids(performer_filter: dict[str, Any] | None, **find: Any) -> list[str]:
        result = gql(stash, query, {"f": performer_filter, "ff": {"per_page": -1, **find}})["findPerformers"]
        return [p["id"] for p in result["performers"]]

    assert ids({"name": {"value": "kate winslet", "modifier": "EQUALS"}}) == ["2"]
    assert ids({"is_missing": "scenes"}) == ["4"]
    assert ids({"scene_count": {"value": 0, "modifier": "GREATER_THAN"}}) == ["1", "2", "3"]
    assert ids({"stash_id_endpoint": {"endpoint": STASHDB, "stash_id": performer_stash_id(3), "modifier": "EQUALS"}}) == ["3"]
    assert ids(None, q="portman") == ["4"]
    assert ids(None, sort="name") == ["1", "3", "2", "4"]  # Brad, Hugh, Kate, Natalie
    one = gql(stash, '{ findPerformer(id: "2") { name scenes { id } } }')["findPerformer"]
    assert one == {"name": "Kate Winslet", "scenes": [{"id": "1"}]}
    assert gql(stash, '{ findPerformer(id: "77") { id } }')["findPerformer"] is None


def test_performer_image_is_the_first_gallery_photo(stash: str, library: Path) -> None:
    image_path = gql(stash, '{ findPerformer(id: "1") { image_path } }')["findPerformer"]["image_path"]
    response = get(image_path)
    gallery = sorted((library / "gallery" / IDENTITIES[0]).glob("*.jpg"))
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == gallery[0].read_bytes()
    assert get(f"{stash}/performer/404/image").status_code == 404


def test_performer_without_image_gets_a_placeholder(library: Path) -> None:
    from PIL import Image

    with run_in_thread(create_app(library, api_key=KEY, performers_without_image=["2"])) as url:
        performers = gql(url, "{ findPerformers(filter: {per_page: -1}) { performers { id image_path } } }")
        paths = {p["id"]: p["image_path"] for p in performers["findPerformers"]["performers"]}
        assert paths["2"].endswith("&default=true") and "default=true" not in paths["1"]
        placeholder = get(paths["2"])
        assert placeholder.status_code == 200 and placeholder.headers["content-type"] == "image/png"
        image = Image.open(BytesIO(placeholder.content)).convert("RGB")
        # Flat silhouette: only a couple of colours, nothing photographic (no face to find).
        assert len(image.getcolors(maxcolors=4096) or []) < 64
        missing = gql(url, '{ findPerformers(performer_filter: {is_missing: "image"}) { performers { id } } }')
        assert missing["findPerformers"]["performers"] == [{"id": "2"}]


def test_tags_create_find_and_duplicates(fresh_stash: str) -> None:
    created = gql(fresh_stash, 'mutation { tagCreate(input: {name: "Identified", aliases: ["auto-id"]}) { id name aliases } }')
    tag = created["tagCreate"]
    assert tag["name"] == "Identified" and tag["aliases"] == ["auto-id"]
    assert "tag with name 'identified' already exists" in gql_error(fresh_stash, 'mutation { tagCreate(input: {name: "identified"}) { id } }')
    by_alias = gql(
        fresh_stash,
        """query($n: String!) { findTags(tag_filter: {name: {value: $n, modifier: EQUALS},
            OR: {aliases: {value: $n, modifier: EQUALS}}}, filter: {per_page: -1}) { count tags { id } } }""",
        {"n": "AUTO-ID"},
    )
    assert by_alias["findTags"] == {"count": 1, "tags": [{"id": tag["id"]}]}
    assert gql(fresh_stash, "query($id: ID!) { findTag(id: $id) { name scene_count } }", {"id": tag["id"]})["findTag"] == {
        "name": "Identified", "scene_count": 0,
    }


# -- mutations --------------------------------------------------------------------------------


BULK = """mutation($input: BulkSceneUpdateInput!) { bulkSceneUpdate(input: $input) { id performers { id } } }"""


def test_bulk_scene_update_modes(fresh_stash: str) -> None:
    added = gql(fresh_stash, BULK, {"input": {"ids": ["1", "2"], "performer_ids": {"ids": ["2", "3"], "mode": "ADD"}}})
    assert {s["id"]: [p["id"] for p in s["performers"]] for s in added["bulkSceneUpdate"]} == {
        "1": ["1", "2", "3"],  # appended, and performer 2 not duplicated
        "2": ["3", "2"],
    }
    again = gql(fresh_stash, BULK, {"input": {"ids": ["1"], "performer_ids": {"ids": ["3"], "mode": "ADD"}}})
    assert [p["id"] for p in again["bulkSceneUpdate"][0]["performers"]] == ["1", "2", "3"]
    removed = gql(fresh_stash, BULK, {"input": {"ids": ["1"], "performer_ids": {"ids": ["1", "3"], "mode": "REMOVE"}}})
    assert [p["id"] for p in removed["bulkSceneUpdate"][0]["performers"]] == ["2"]
    replaced = gql(fresh_stash, BULK, {"input": {"ids": ["3"], "performer_ids": {"ids": ["4"], "mode": "SET"}}})
    assert [p["id"] for p in replaced["bulkSceneUpdate"][0]["performers"]] == ["4"]
    # Persisted: a separate request sees the new links, and the filters use them.
    assert scene_ids(fresh_stash, {"performers": {"value": ["4"], "modifier": "INCLUDES"}}) == [3]
    assert "performer 99 not found" in gql_error(
        fresh_stash, BULK, {"input": {"ids": ["1"], "performer_ids": {"ids": ["99"], "mode": "ADD"}}}
    )
    assert "does not support studio_id" in gql_error(fresh_stash, BULK, {"input": {"ids": ["1"], "studio_id": "1"}})


def test_scene_update_replaces_and_bumps_updated_at(fresh_stash: str) -> None:
    before = gql(fresh_stash, '{ findScene(id: "2") { updated_at } }')["findScene"]["updated_at"]
    tag_id = gql(fresh_stash, 'mutation { tagCreate(input: {name: "Checked"}) { id } }')["tagCreate"]["id"]
    updated = gql(
        fresh_stash,
        """mutation($input: SceneUpdateInput!) { sceneUpdate(input: $input) {
            id title details organized date urls performers { id } tags { name } stash_ids { endpoint stash_id } updated_at } }""",
        {"input": {
            "id": "2", "title": "Renamed", "details": "notes", "organized": True, "date": "2024-05-01",
            "urls": ["https://example.com/s2"], "performer_ids": ["1", "4"], "tag_ids": [tag_id], "stash_ids": [],
        }},
    )["sceneUpdate"]
    assert updated["title"] == "Renamed" and updated["details"] == "notes" and updated["organized"] is True
    assert updated["date"] == "2024-05-01" and updated["urls"] == ["https://example.com/s2"]
    assert [p["id"] for p in updated["performers"]] == ["1", "4"] and updated["tags"] == [{"name": "Checked"}]
    assert updated["stash_ids"] == [] and updated["updated_at"] >= before
    assert scene_ids(fresh_stash, {"is_missing": "stash_id"}) == [2]
    assert scene_ids(fresh_stash, {"tags": {"value": [tag_id], "modifier": "INCLUDES"}}) == [2]
    update = "mutation($input: SceneUpdateInput!) { sceneUpdate(input: $input) { id } }"
    assert "invalid date" in gql_error(fresh_stash, update, {"input": {"id": "2", "date": "May 1st"}})
    assert "scene 42 not found" in gql_error(fresh_stash, update, {"input": {"id": "42", "title": "x"}})
    assert "does not support cover_image" in gql_error(fresh_stash, update, {"input": {"id": "2", "cover_image": "x"}})


PERFORMER_CREATE = """mutation($input: PerformerCreateInput!) { performerCreate(input: $input) {
    id name disambiguation alias_list gender country birthdate image_path scene_count stash_ids { endpoint stash_id } } }"""


def test_performer_create_with_data_url_image(fresh_stash: str, library: Path) -> None:
    photo = sorted((library / "heldout" / IDENTITIES[1]).glob("*.jpg"))[0].read_bytes()
    data_url = "data:image/jpeg;base64," + base64.b64encode(photo).decode()
    created = gql(fresh_stash, PERFORMER_CREATE, {"input": {
        "name": "New Person", "disambiguation": "2nd", "alias_list": ["NP"], "gender": "FEMALE", "country": "GB",
        "birthdate": "1990-01-02", "image": data_url,
        "stash_ids": [{"endpoint": STASHDB, "stash_id": "00000000-0000-0000-0000-000000000042"}],
    }})["performerCreate"]
    assert int(created["id"]) > len(IDENTITIES)
    assert created["alias_list"] == ["NP"] and created["gender"] == "FEMALE" and created["birthdate"] == "1990-01-02"
    assert created["stash_ids"] == [{"endpoint": STASHDB, "stash_id": "00000000-0000-0000-0000-000000000042"}]
    assert created["scene_count"] == 0 and "default=true" not in created["image_path"]
    assert get(created["image_path"]).content == photo
    found = gql(fresh_stash, '{ findPerformers(performer_filter: {name: {value: "new person", modifier: EQUALS}}) { count } }')
    assert found["findPerformers"]["count"] == 1
    duplicate = gql_error(fresh_stash, PERFORMER_CREATE, {"input": {"name": "New Person", "disambiguation": "2nd"}})
    assert "performer with name 'New Person (2nd)' already exists" in duplicate
    assert "base64" in gql_error(fresh_stash, PERFORMER_CREATE, {"input": {"name": "B", "image": "data:image/jpeg,raw"}})
    no_image = gql(fresh_stash, PERFORMER_CREATE, {"input": {"name": "Faceless"}})["performerCreate"]
    assert no_image["image_path"].endswith("&default=true")


def test_performer_create_downloads_an_image_url(fresh_stash: str, library: Path) -> None:
    with run_in_thread(create_stashbox_app(library, api_key=KEY)) as box:
        performer = box_gql(box, "query($id: ID!) { findPerformer(id: $id) { images { url } } }", {"id": performer_stash_id(3)})
        image_url = performer["findPerformer"]["images"][1]["url"]
        created = gql(fresh_stash, PERFORMER_CREATE, {"input": {"name": "Downloaded", "image": image_url}})
        expected = sorted((library / "gallery" / IDENTITIES[2]).glob("*.jpg"))[1].read_bytes()
        assert get(created["performerCreate"]["image_path"]).content == expected
        assert "could not download image" in gql_error(
            fresh_stash, PERFORMER_CREATE, {"input": {"name": "Broken", "image": f"{box}/images/not-there"}}
        )


def test_state_persists_in_given_db_and_library_is_untouched(library: Path, tmp_path: Path) -> None:
    index = library / "library.json"
    before = index.read_bytes()
    state = tmp_path / "state.db"
    with run_in_thread(create_app(library, api_key=KEY, state_db=state)) as url:
        gql(url, BULK, {"input": {"ids": ["3"], "performer_ids": {"ids": ["1"], "mode": "ADD"}}})
    with run_in_thread(create_app(library, api_key=KEY, state_db=state, performers_without_image=[1])) as url:
        assert scene_ids(url, {"performers": {"value": ["1"], "modifier": "INCLUDES"}}) == [1, 3]
        assert gql(url, '{ findPerformer(id: "1") { image_path } }')["findPerformer"]["image_path"].endswith("default=true")
    with run_in_thread(create_app(library, api_key=KEY, state_db=state)) as url:  # the image option is per run
        assert "default=true" not in gql(url, '{ findPerformer(id: "1") { image_path } }')["findPerformer"]["image_path"]
    with pytest.raises(ValueError, match="not in the library"):
        create_app(library, state_db=state, performers_without_image=[99])
    with run_in_thread(create_app(library, api_key=KEY)) as url:  # a default session starts from the library
        assert scene_ids(url, {"performers": {"value": ["1"], "modifier": "INCLUDES"}}) == [1]
    assert index.read_bytes() == before


def test_default_session_state_is_removed_at_shutdown(library: Path) -> None:
    app = create_app(library, api_key=KEY)
    state = app.state.catalog.store.path
    with run_in_thread(app):
        assert state.exists()
    assert not state.exists() and not state.parent.exists()
    sessions = set((library / ".emulator").glob("session-*"))
    with pytest.raises(ValueError, match="not in the library"):
        create_app(library, performers_without_image=[99])
    assert set((library / ".emulator").glob("session-*")) == sessions  # a failed start leaves nothing behind


def test_plugin_configuration_round_trip(fresh_stash: str) -> None:
    stored = gql(fresh_stash, 'mutation { configurePlugin(plugin_id: "stash-sense", input: {url: "http://x:5000"}) }')
    assert stored["configurePlugin"] == {"url": "http://x:5000"}
    plugins = gql(fresh_stash, '{ configuration { plugins(include: ["stash-sense"]) } }')["configuration"]["plugins"]
    assert plugins == {"stash-sense": {"url": "http://x:5000"}}


# -- media --------------------------------------------------------------------------------------


def test_stream_range_requests(stash: str, library: Path) -> None:
    path = library / "scenes" / "scene_0001.mp4"
    data, size = path.read_bytes(), path.stat().st_size
    url = f"{stash}/scene/1/stream"
    whole = get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, size - 1),
        "bytes=-50": (size - 50, size - 1),
        f"bytes=10-{size + 500}": (10, size - 1),
    }
    for header, (first, last) in cases.items():
        response = get(url, headers={"ApiKey": KEY, "Range": header})
        assert response.status_code == 206, header
        assert response.headers["content-range"] == f"bytes {first}-{last}/{size}", header
        assert response.content == data[first : last + 1], header
    for bad in (f"bytes={size}-", "bytes=50-10", "items=0-1", "bytes=abc"):
        response = get(url, headers={"ApiKey": KEY, "Range": bad})
        assert response.status_code == 416, bad
        assert response.headers["content-range"] == f"bytes */{size}", bad
    head = httpx.head(url, headers={"ApiKey": KEY})
    assert head.status_code == 200 and int(head.headers["content-length"]) == size and head.content == b""
    assert get(f"{stash}/scene/99/stream").status_code == 404


def test_range_parser_follows_go_rules() -> None:
    assert parse_range("bytes=0-0", 10) == [(0, 0)]
    assert parse_range("bytes=5-, 0-1", 10) == [(5, 9), (0, 1)]
    assert parse_range("bytes=-100", 10) == [(0, 9)]
    assert parse_range("bytes=20-30, 2-3", 10) == [(2, 3)]  # non-overlapping parts are skipped
    for bad in ("bytes=", "bytes=-", "bytes=3-1", "bytes=x-1", "bytes=10-"):
        with pytest.raises(UnsatisfiableRange):
            parse_range(bad, 10)


def test_screenshots(stash: str, library: Path) -> None:
    from PIL import Image

    frames = decoded_frames(library / "scenes" / "scene_0001.mp4")
    at_one_second = get(f"{stash}/scene/1/screenshot", params={"t": "1.0"})
    assert at_one_second.status_code == 200 and at_one_second.headers["content-type"] == "image/jpeg"
    shot = Image.open(BytesIO(at_one_second.content))
    assert shot.size == (854, 480)
    assert top_strip_red(shot) == pytest.approx(top_strip_red(frames[10]), abs=2.5)
    cover = Image.open(BytesIO(get(f"{stash}/scene/1/screenshot").content))
    assert top_strip_red(cover) == pytest.approx(top_strip_red(frames[8]), abs=2.5)  # 20% of 4 s
    paths_url = gql(stash, '{ findScene(id: "1") { paths { screenshot } } }')["findScene"]["paths"]["screenshot"]
    busted = Image.open(BytesIO(get(paths_url).content))  # ?t=<updated_at> is a cache buster
    assert top_strip_red(busted) == pytest.approx(top_strip_red(cover), abs=1)
    assert get(f"{stash}/scene/1/screenshot", params={"t": "soon"}).status_code == 400


def test_sprite_sheet_and_vtt_match_stash_format(stash: str, library: Path) -> None:
    from PIL import Image

    scene = gql(stash, '{ findScene(id: "1") { files { duration } paths { vtt sprite } } }')["findScene"]
    duration = scene["files"][0]["duration"]
    vtt = get(scene["paths"]["vtt"])
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    sprite_name = scene["paths"]["sprite"].rsplit("/", 1)[1]
    lines = vtt.text.split("\n")
    assert lines[:2] == ["WEBVTT", ""]
    cues = [lines[i : i + 3] for i in range(2, len(lines) - 1, 3)]
    assert len(cues) == 81
    step = duration / 81
    tiles = []
    for index, (timing, target, blank) in enumerate(cues):
        start, arrow, end = timing.split(" ")
        assert arrow == "-->" and blank == ""
        assert start == vtt_time(index * step) and end == vtt_time((index + 1) * step)
        name, fragment = target.split("#xywh=")
        assert name == sprite_name  # relative to the VTT's URL
        tiles.append(tuple(int(v) for v in fragment.split(",")))
    assert {(w, h) for _, _, w, h in tiles} == {(160, 90)}
    assert sorted({x for x, _, _, _ in tiles}) == [160 * i for i in range(9)]
    assert sum(1 for x, _, _, _ in tiles if x == 0) == 9  # a parser that skips x=0 loses a column
    assert tiles[10] == (160, 90, 160, 90) and tiles[80] == (1280, 720, 160, 90)
    sprite = Image.open(BytesIO(get(scene["paths"]["sprite"]).content))
    assert sprite.size == (9 * 160, 9 * 90) and sprite.format == "JPEG"
    frames = decoded_frames(library / "scenes" / "scene_0001.mp4")
    for index in (0, 37, 80):  # each tile shows the first frame at or after its cue start
        x, y, w, h = tiles[index]
        expected = frames[min(len(frames) - 1, math.ceil(index * step * 10 - 1e-6))]
        assert top_strip_red(sprite.crop((x, y, x + w, y + h))) == pytest.approx(top_strip_red(expected), abs=3)
    unknown = get(f"{stash}/scene/0000000000000000_thumbs.vtt")
    assert unknown.status_code == 404


def test_project_sprite_reader_reads_the_emulator_sprites(stash: str) -> None:
    sources = pytest.importorskip("stash_sense.media", reason="the scene frame sources are not part of this build")
    vtt_url = gql(stash, '{ findScene(id: "2") { paths { vtt } } }')["findScene"]["paths"]["vtt"]
    cues = sources.parse_sprite_vtt(get(vtt_url).text)
    assert len(cues) == 81 and sum(1 for cue in cues if cue.x == 0) == 9
    reader = sources.SpriteFrameSource(vtt_url, headers={"ApiKey": KEY})  # the sheet is found relative to the VTT
    assert len(reader.tiles) == 81


def vtt_time(seconds: float) -> str:
    millis = int(seconds * 1000)
    return f"{millis // 3600000:02d}:{millis // 60000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def test_oshash_matches_the_reference_definition(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(300_000))
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1003))  # not a whole number of words
    assert oshash(big) == reference_oshash(big)
    assert oshash(small) == reference_oshash(small)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="too small"):
        oshash(empty)


# -- authentication -----------------------------------------------------------------------------


def test_api_key_is_required(stash: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="stash_sense.devtools.emulator")
    query = "{ version { version } }"
    missing = post(stash, query, key=None)
    assert missing.status_code == 401 and "API key" in missing.json()["errors"][0]["message"]
    assert post(stash, query, key="wrong").status_code == 401
    assert post(stash, query).status_code == 200
    by_param = httpx.post(f"{stash}/graphql", params={"apikey": KEY}, json={"query": query})
    assert by_param.status_code == 200
    wrong_header_right_param = httpx.post(
        f"{stash}/graphql", params={"apikey": KEY}, json={"query": query}, headers={"ApiKey": "nope"}
    )
    assert wrong_header_right_param.status_code == 401
    for media in ("/scene/1/stream", "/scene/1/screenshot", "/performer/1/image"):
        assert httpx.get(f"{stash}{media}").status_code == 401, media
        assert httpx.get(f"{stash}{media}", params={"apikey": "wrong"}).status_code == 401, media
        assert httpx.get(f"{stash}{media}", params={"apikey": KEY}).status_code == 200, media
    assert httpx.get(f"{stash}/scene/1/stream").headers["content-type"].startswith("text/plain")
    assert "/scene/1/stream" in caplog.text  # requests are logged ...
    assert KEY not in caplog.text  # ... without the key


def test_session_cookie_is_accepted(library: Path) -> None:
    with run_in_thread(create_app(library, api_key=KEY, session_cookie="cookie-value")) as url:
        ok = httpx.post(f"{url}/graphql", json={"query": "{ version { version } }"}, cookies={"session": "cookie-value"})
        assert ok.status_code == 200
        bad = httpx.post(f"{url}/graphql", json={"query": "{ version { version } }"}, cookies={"session": "other"})
        assert bad.status_code == 401


# -- compatibility --------------------------------------------------------------------------------


def test_stashapp_tools_can_connect_and_find_scenes(stash: str) -> None:
    from stashapi.stashapp import StashInterface

    port = int(stash.rsplit(":", 1)[1])
    client = StashInterface({"scheme": "http", "host": "127.0.0.1", "port": port, "ApiKey": KEY})
    scenes = client.find_scenes()
    assert sorted(int(s["id"]) for s in scenes) == [spec.id for spec in SCENES]
    assert all(s["files"][0]["fingerprints"] for s in scenes)
    one = client.find_scenes(f={"performer_count": {"value": 1, "modifier": "EQUALS"}})
    assert [s["id"] for s in one] == ["2"]
    assert client.get_configuration()["general"]["apiKey"] == KEY


def _sample_variables(document: Any) -> dict[str, Any]:
    """Values for a document's required variables, by GraphQL type."""
    from graphql import OperationDefinitionNode, parse, print_ast

    samples: dict[str, Any] = {
        "ID!": "1",
        "[ID!]!": ["1"],
        "String!": "Brad Pitt",
        "PerformerCreateInput!": {"name": "Documents Test Performer"},
        "TagCreateInput!": {"name": "Documents Test Tag"},
        "PerformerQueryInput!": {"page": 1, "per_page": 25, "sort": "UPDATED_AT", "direction": "DESC"},
    }
    operation = next(d for d in parse(document.source).definitions if isinstance(d, OperationDefinitionNode))
    variables: dict[str, Any] = {}
    for definition in operation.variable_definitions:
        type_text = print_ast(definition.type)
        if type_text.endswith("!"):
            assert type_text in samples, f"add a sample value for {type_text} ({document.name})"
            variables[definition.variable.name.value] = samples[type_text]
    return variables


def test_every_project_document_executes_against_the_emulators(library: Path) -> None:
    try:
        from stash_sense.stash import documents
    except ImportError:
        pytest.skip("stash_sense.stash.documents is not part of this build")
    all_documents = [v for v in vars(documents).values() if isinstance(v, documents.Document)]
    assert all_documents
    with run_in_thread(create_app(library, api_key=KEY)) as stash_url, \
            run_in_thread(create_stashbox_app(library, api_key=KEY)) as box_url:
        for document in all_documents:
            variables = _sample_variables(document)
            if document.target is documents.Target.STASHBOX:
                variables = {k: performer_stash_id(1) if v == "1" else v for k, v in variables.items()}
                url = box_url
            else:
                url = stash_url
            response = post(url, document.source, variables)
            body = response.json()
            assert response.status_code == 200 and not body.get("errors"), (document.name, body)
            assert any(value is not None for value in body["data"].values()), document.name


# -- stash-box emulator ----------------------------------------------------------------------------


def box_gql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": KEY})
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def stashbox(library: Path) -> Iterator[str]:
    with run_in_thread(create_stashbox_app(library, api_key=KEY)) as url:
        yield url


def test_stashbox_find_performer_lists_all_gallery_images(stashbox: str, library: Path) -> None:
    from PIL import Image

    performer = box_gql(
        stashbox,
        "query($id: ID!) { findPerformer(id: $id) { id name aliases deleted scene_count images { id url width height } } }",
        {"id": performer_stash_id(2)},
    )["findPerformer"]
    assert performer["name"] == "Kate Winslet" and performer["deleted"] is False and performer["scene_count"] == 1
    gallery = sorted((library / "gallery" / "Kate Winslet").glob("*.jpg"))
    assert len(performer["images"]) == len(gallery) == 3
    for image, path in zip(performer["images"], gallery):
        assert image["url"] == f"{stashbox}/images/{image['id']}"
        response = httpx.get(image["url"])  # public, like stash-box's image host
        assert response.status_code == 200 and response.content == path.read_bytes()
        assert (image["width"], image["height"]) == Image.open(path).size
    small = httpx.get(performer["images"][0]["url"], params={"size": "100"})
    assert Image.open(BytesIO(small.content)).width == 100
    assert httpx.get(performer["images"][0]["url"], params={"size": "huge"}).status_code == 400
    missing = box_gql(stashbox, 'query { findPerformer(id: "00000000-0000-0000-0000-000000000000") { id } }')
    assert missing["findPerformer"] is None


def test_stashbox_query_and_search_performers(stashbox: str) -> None:
    query = "query($input: PerformerQueryInput!) { queryPerformers(input: $input) { count performers { name } } }"
    names = box_gql(stashbox, query, {"input": {"names": "kate"}})["queryPerformers"]
    assert names == {"count": 1, "performers": [{"name": "Kate Winslet"}]}
    exact = box_gql(stashbox, query, {"input": {"name": '"Brad"'}})["queryPerformers"]
    assert exact["count"] == 0
    paged = box_gql(stashbox, query, {"input": {"sort": "NAME", "direction": "ASC", "per_page": 2, "page": 2}})
    assert paged["queryPerformers"] == {"count": 4, "performers": [{"name": "Kate Winslet"}, {"name": "Natalie Portman"}]}
    search = box_gql(stashbox, 'query { searchPerformers(term: "pitt") { count performers { id name } } }')
    assert search["searchPerformers"]["performers"] == [{"id": performer_stash_id(1), "name": "Brad Pitt"}]
    body = httpx.post(
        f"{stashbox}/graphql", json={"query": 'query { queryPerformers(input: {url: "x"}) { count } }'}, headers={"ApiKey": KEY}
    ).json()
    assert "does not support url" in body["errors"][0]["message"]


def test_stashbox_requires_the_header(stashbox: str) -> None:
    query = {"query": "{ version { version } }"}
    assert httpx.post(f"{stashbox}/graphql", json=query).status_code == 401
    assert httpx.post(f"{stashbox}/graphql", json=query, params={"apikey": KEY}).status_code == 401  # no fallback
    assert httpx.post(f"{stashbox}/graphql", json=query, headers={"ApiKey": "wrong"}).status_code == 401
    assert box_gql(stashbox, "{ version { version } }")["version"]["version"] == "v0.10.2"


# -- library reading, server helper and CLI -------------------------------------------------------------


def test_library_errors_are_clear(tmp_path: Path, library: Path) -> None:
    with pytest.raises(LibraryError, match="library.json not found"):
        read_library(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for folder in ("gallery", "heldout", "scenes"):
        (broken / folder).symlink_to(library / folder)
    data = json.loads((library / "library.json").read_text())
    data["scenes"][0]["file"] = "scenes/missing.mp4"
    (broken / "library.json").write_text(json.dumps(data))
    with pytest.raises(LibraryError, match="missing.mp4"):
        read_library(broken)
    view = read_library(library)
    assert [p.name for p in view.performers] == IDENTITIES
    assert view.performers[0].images[0].parent.name == IDENTITIES[0]
    assert [s.performer_ids for s in view.scenes] == [s.performer_ids for s in SCENES]


def test_run_in_thread_stops_the_server(library: Path) -> None:
    with run_in_thread(create_stashbox_app(library, api_key=None)) as url:
        assert httpx.post(f"{url}/graphql", json={"query": "{ version { hash } }"}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{url}/graphql", json={"query": "{ version { hash } }"}, timeout=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_serve_starts_a_working_emulator(library: Path) -> None:
    port = _free_port()
    command = [
        sys.executable, "-c", "from stash_sense.cli import main; main()",
        "emulator", "serve", "--library", str(library), "--port", str(port), "--performers-without-image", "3",
    ]
    env = {**os.environ, "STASH_SENSE_EMULATOR_API_KEY": KEY}  # the key stays out of the command line
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = post(f"http://127.0.0.1:{port}", "{ findScenes { count } }")
                break
            except httpx.ConnectError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.2)
        assert response.json()["data"]["findScenes"]["count"] == len(SCENES)
        assert post(f"http://127.0.0.1:{port}", "{ findScenes { count } }", key=None).status_code == 401
        missing = post(f"http://127.0.0.1:{port}", '{ findPerformers(performer_filter: {is_missing: "image"}) { performers { id } } }')
        assert missing.json()["data"]["findPerformers"]["performers"] == [{"id": "3"}]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}" in output
    assert KEY not in output


def test_cli_rejects_a_folder_without_a_library(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from stash_sense.cli import app

    result = CliRunner().invoke(app, ["emulator", "serve", "--library", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code != 0
    assert "library.json not found" in result.output
