"""Planted duplicates, Stash's phash and the emulator's merge / delete mutations, on a tiny
rendered library (6 short 480p scenes of real celeb17 photos), and ``eval duplicates`` on it."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from duplicates_helpers import planted_library
from stash_sense.devtools.emulator import create_app, run_in_thread
from stash_sense.devtools.samplelib import load_library
from stash_sense.devtools.samplelib.phash import goimagehash_median, perception_hash, sprite_times, video_phash
from stash_sense.evaluation.duplicates import evaluate_duplicates
from stash_sense.recommendations.phash_index import hamming
from stash_sense.stash import StashClient
from stash_sense.stash.library_client import analysis_scenes, delete_files, merge_performers, merge_scenes, scene_files

KEY = "dup-test-key"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return planted_library(tmp_path_factory, facedata)


@pytest.fixture
def stash(planted: Path) -> Iterator[str]:
    with run_in_thread(create_app(planted, api_key=KEY)) as url:  # a fresh state per test
        yield url


def gql(url: str, query: str, variables: dict | None = None) -> dict:
    r = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": KEY}, timeout=30)
    body = r.json()
    assert r.status_code == 200, body
    return body


def test_perception_hash_follows_goimagehash() -> None:
    assert sprite_times(100.0)[0] == 5.0 and abs(sprite_times(100.0)[-1] - 91.4) < 1e-9 and len(sprite_times(100.0)) == 25
    assert goimagehash_median([float(v) for v in range(64)]) == 31.0  # sorted input: the lower median
    values = [float(v) for v in range(64)]
    random.Random(0).shuffle(values)
    assert goimagehash_median(values) in values  # goimagehash's quick-select: not always the exact median
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8).repeat(5, 0).repeat(5, 1))
    h = perception_hash(image)
    assert 0 <= h < 1 << 64 and 16 <= h.bit_count() <= 48
    assert hamming(h, perception_hash(image.resize((400, 225)))) <= 4  # a rescale barely moves it
    assert perception_hash(Image.new("RGB", (800, 450))) == 0  # a black sprite: nothing above the median


def test_planted_truth_files_and_phashes(planted: Path) -> None:
    lib = load_library(planted)
    truth = lib.duplicates
    assert truth is not None and lib.missing_files() == []
    kinds = sorted(p.kind for p in truth.scenes)
    assert kinds == ["reencode", "reencode", "stash_id", "trimmed_intro"]
    assert [g.kind for g in truth.performers] == ["stash_id", "name"] and len(truth.files) == 1
    assert any(p.kind == "lookalike" for p in truth.lookalikes)
    scenes = {s.id: s for s in lib.scenes}
    assert all(s.phash for s in lib.scenes)
    for pair in truth.scenes:
        a, b = scenes[pair.a], scenes[pair.b]
        distance = hamming(int(a.phash, 16), int(b.phash, 16))
        if pair.kind == "reencode":
            assert distance <= 10 and (a.width != b.width or a.encoding.crf != b.encoding.crf)
        if pair.kind == "stash_id":
            assert a.stash_id == b.stash_id and b.duration < a.duration * 0.7
    two = scenes[truth.files[0]]
    assert len(two.extra_files) == 1 and two.extra_files[0].phash
    # The recorded hash is what the algorithm gives for the file.
    assert video_phash(lib.scene_path(two), two.duration) == int(two.phash, 16)
    twin = lib.performer_by_id(truth.performers[0].ids[1])
    assert twin.duplicate_of == truth.performers[0].ids[0] and twin.images == []


def test_emulator_serves_phashes_and_every_file(planted: Path, stash: str) -> None:
    lib = load_library(planted)
    truth = lib.duplicates
    assert truth is not None

    async def read() -> list:
        async with StashClient(stash, KEY) as client:
            return [s async for s in analysis_scenes(client)]

    scenes = {s.id: s for s in asyncio.run(read())}
    assert len(scenes) == len(lib.scenes)
    for s in lib.scenes:
        served = scenes[s.id].files[0].fingerprint("phash")
        assert served == format(int(s.phash, 16), "x")  # Stash's FormatUint(h, 16): no leading zeros
    two = scenes[truth.files[0]]
    assert len(two.files) == 2 and two.files[1].width == 854


def test_delete_files_and_merges_are_applied(planted: Path, stash: str) -> None:
    lib = load_library(planted)
    truth = lib.duplicates
    assert truth is not None
    pair = next(p for p in truth.scenes if p.kind == "reencode")
    group = truth.performers[0]

    async def act() -> None:
        async with StashClient(stash, KEY) as client:
            files = await scene_files(client, truth.files[0])
            assert len(files) == 2
            assert await delete_files(client, [files[1].id]) is True
            assert [f.id for f in await scene_files(client, truth.files[0])] == [files[0].id]
            with pytest.raises(Exception, match="without a file"):
                await delete_files(client, [files[0].id])
            merged = await merge_scenes(client, [pair.b], pair.a)
            assert merged["id"] == pair.a and len(merged["files"]) == 2
            with pytest.raises(Exception, match="not found"):
                await scene_files(client, pair.b)
            keeper, other = group.ids
            result = await merge_performers(client, [other], keeper)
            assert result["id"] == keeper

    asyncio.run(act())
    body = gql(stash, "query($id: ID!) { findPerformer(id: $id) { id alias_list stash_ids { stash_id } } }", {"id": group.ids[0]})
    performer = body["data"]["findPerformer"]
    assert any("(alt)" in a for a in performer["alias_list"]) and len(performer["stash_ids"]) == 1
    gone = gql(stash, "query($id: ID!) { findPerformer(id: $id) { id } }", {"id": group.ids[1]})
    assert gone["data"]["findPerformer"] is None


def test_eval_duplicates_on_the_tiny_library(planted: Path, stash: str) -> None:
    truth = load_library(planted).duplicates
    assert truth is not None
    report = evaluate_duplicates(stash, truth, api_key=KEY, library=str(planted))
    assert report.performers.recall == 1.0 and report.performers.precision == 1.0
    assert report.files.recall == 1.0 and report.files.precision == 1.0
    assert report.scenes.precision == 1.0 and report.lookalikes_raised == 0
    assert report.scene_recall_by_kind == {"reencode": 1.0, "stash_id": 1.0, "trimmed_intro": 1.0}
    assert report.scenes.recall == 1.0
    assert json.loads(report.model_dump_json())["scenes"]["planted"] == 4


def test_file_count_filter_counts_every_file(planted: Path, stash: str) -> None:
    truth = load_library(planted).duplicates
    assert truth is not None
    body = gql(stash, "{ findScenes(scene_filter: { file_count: { value: 1, modifier: GREATER_THAN } }) { scenes { id } } }")
    assert [s["id"] for s in body["data"]["findScenes"]["scenes"]] == truth.files
