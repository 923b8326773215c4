"""``db build --from-stash``: a face DB from the Stash emulator over real HTTP, with real models.

The library (tests/build_stash_helpers.py) has four performers (one without a Stash image),
an unknown man beside Brad Pitt in Brad's one-performer scene, and a performer-less stash-box.
One build with scene enrichment is shared by most tests; resume, stash-box and failures use
their own emulator or DB.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

# Shared module-scoped fixtures (the emulator library, its server, in-process face work).
from build_stash_helpers import library, one_worker, stash  # noqa: F401
from build_stash_helpers import KEY, NO_IMAGE, PERFORMERS, STASHDB, UNKNOWN, performer_stash_id
from stash_sense.cli import app
from stash_sense.devtools.emulator import create_app, create_stashbox_app, run_in_thread
from stash_sense.facedb import FaceDB
from stash_sense.facedb.build_stash import StashBuildError, StashBuildReport, build_from_stash
from stash_sense.facedb.sources.stash_scenes import EnrichParams, select_scene_faces
from stash_sense.faces.pipeline import FacePipeline, PipelineOptions
from stash_sense.stash import StashClient

BOX_KEY = "box-test-key-2b8e41"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(stash: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, StashBuildReport]:
    out = tmp_path_factory.mktemp("db") / "faces"
    report = build_from_stash(stash, out, api_key=KEY, enrich_from_scenes=True, progress=False)
    return out, report


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline()


def embed(pipeline: FacePipeline, path: Path) -> np.ndarray:
    faces = pipeline.analyze_file(path, PipelineOptions(expect_single_face=True)).faces
    assert faces, path
    return faces[0].embedding


def faces_by_source(db_dir: Path) -> list[tuple[str, str, np.ndarray]]:
    """(performer name, source key, embedding) of every face in the DB."""
    with sqlite3.connect(db_dir / "performers.db") as con:
        rows = con.execute(
            "SELECT p.name, f.source, f.embedding FROM faces f JOIN performers p ON p.id = f.performer_id ORDER BY f.id"
        ).fetchall()
    return [(name, source, np.frombuffer(blob, dtype=np.float32)) for name, source, blob in rows]


def run_cli(args: list[str], exit_code: int = 0) -> dict[str, Any]:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


# -- the build --------------------------------------------------------------------------------


def test_performers_and_identities_match_stash(built: tuple[Path, StashBuildReport], stash: str) -> None:
    out, report = built
    graphql = f"{stash}/graphql"
    with FaceDB.open(out) as db:
        records = {r.name: r for r in db.performers(range(1, 100)).values()}
    with_image = {i: n for i, n in PERFORMERS.items() if i != NO_IMAGE}
    assert set(records) == set(with_image.values())
    for pid, name in with_image.items():
        record = records[name]
        # stash-box identities first, this Stash's own id last; both endpoint-qualified.
        assert [str(i) for i in record.identities] == [f"{STASHDB}#{performer_stash_id(pid)}", f"{graphql}#{pid}"]
        assert record.image_url is not None and record.image_url.startswith(f"{stash}/performer/{pid}/image")
        assert "apikey" not in record.image_url
    assert report.performers_in_stash == 4 and report.performers == 3
    assert report.performers_without_image == [PERFORMERS[NO_IMAGE]]
    assert report.performers_skipped == {"no image (Stash shows its generated default image)": 1}
    assert report.performers_with_faces == 3 and report.performers_without_faces == []
    image_faces = [s for _, s, _ in faces_by_source(out) if s.startswith("stash-image:")]
    assert len(image_faces) == 3 and report.images_processed_now == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sources"] == [f"stash:{stash}", f"stash-scenes:{stash}"]
    assert manifest["calibration"]["model"] == manifest["embedding"]["model"]


def test_enrichment_adds_only_the_tagged_performer(
    built: tuple[Path, StashBuildReport], library: Path, pipeline: FacePipeline
) -> None:
    out, report = built
    scene_faces = [(name, source, vec) for name, source, vec in faces_by_source(out) if source.startswith("stash-scene:")]
    by_scene = {source.rsplit("/", 1)[1]: [] for _, source, _ in scene_faces}
    for name, source, _ in scene_faces:
        by_scene[source.rsplit("/", 1)[1]].append(name)
    # Scene 1 is Brad's (Tom Cruise beside him), scene 4 Hugh's; scene 2 has two performers,
    # scene 3's performer has no Stash image, so no reference face to check against.
    assert set(by_scene) <= {"1", "4"} and by_scene.get("1")
    assert set(by_scene["1"]) == {"Brad Pitt"} and set(by_scene.get("4", ["Hugh Jackman"])) == {"Hugh Jackman"}
    assert len(by_scene["1"]) <= EnrichParams().max_faces_per_scene

    stranger = [embed(pipeline, p) for p in sorted((library / "unknowns" / UNKNOWN).glob("*.jpg"))]
    brad = [embed(pipeline, p) for p in sorted((library / "heldout" / "Brad Pitt").glob("*.jpg"))]
    for name, source, vec in scene_faces:
        if name == "Brad Pitt":
            to_brad = min(float(np.linalg.norm(vec - b)) for b in brad)
            to_stranger = min(float(np.linalg.norm(vec - s)) for s in stranger)
            assert to_brad < 0.3 < to_stranger, (to_brad, to_stranger)

    scenes = report.scenes
    assert scenes is not None
    assert scenes.scenes_with_one_performer == 3 and scenes.scenes_processed_now == 2
    assert scenes.scenes_not_processed == {"tagged performer has no reference face": 1}
    # Every sampled frame of scene 1 shows the stranger: all of his faces were turned down.
    assert scenes.faces_rejected_now >= EnrichParams().num_frames - 2
    assert scenes.faces_added_now == len(scene_faces)


def test_resume_skips_done_sources(built: tuple[Path, StashBuildReport], stash: str) -> None:
    out, first = built
    before = faces_by_source(out)
    again = build_from_stash(stash, out, api_key=KEY, enrich_from_scenes=True, progress=False)
    assert again.images_processed_now == 0
    assert again.scenes is not None and again.scenes.scenes_processed_now == 0
    assert again.scenes.scenes_done_before == 2
    after = faces_by_source(out)
    assert len(after) == len(before) == again.faces == first.faces
    assert [s for _, s, _ in after] == [s for _, s, _ in before]


def test_build_without_enrichment_has_one_face_per_imaged_performer(stash: str, tmp_path: Path) -> None:
    report = run_cli(
        ["db", "build", "--from-stash", stash, "--api-key", KEY, "--out", str(tmp_path / "db"), "--no-progress", "--json"]
    )
    assert report["ok"] is True and report["faces"] == 3 and report["scenes"] is None
    assert report["performers_without_image"] == [PERFORMERS[NO_IMAGE]]
    assert KEY not in json.dumps(report)


# -- stash-box ----------------------------------------------------------------------------------


async def _create_linked_performers(stash_url: str, endpoint: str, image: bytes) -> None:
    async with StashClient(stash_url, KEY) as client:
        from stash_sense.stash import StashID

        await client.create_performer(
            "Brad Pitt", disambiguation="box", aliases=["William Bradley Pitt"], image=image,
            stash_ids=[StashID(endpoint=endpoint, stash_id=performer_stash_id(1))],
        )
        await client.create_performer(
            "Kate Winslet", disambiguation="box", stash_ids=[StashID(endpoint=endpoint, stash_id=performer_stash_id(2))]
        )


def test_from_stashbox_adds_the_stashbox_images(library: Path, tmp_path: Path) -> None:
    with run_in_thread(create_app(library, api_key=KEY, performers_without_image=[NO_IMAGE])) as stash_url, \
            run_in_thread(create_stashbox_app(library, api_key=BOX_KEY)) as box_url:
        endpoint = f"{box_url}/graphql"
        brad_image = sorted((library / "gallery" / "Brad Pitt").glob("*.jpg"))[0].read_bytes()
        asyncio.run(_create_linked_performers(stash_url, endpoint, brad_image))
        out = tmp_path / "db"
        # Without a key (Stash has none configured for this stash-box) the build refuses to start.
        with pytest.raises(StashBuildError, match="no API key for stash-box"):
            build_from_stash(stash_url, out, api_key=KEY, stashbox_endpoint=endpoint, progress=False)
        report = run_cli([
            "db", "build", "--from-stash", stash_url, "--api-key", KEY, "--from-stashbox", endpoint,
            "--stashbox-api-key", BOX_KEY, "--out", str(out), "--no-progress", "--json",
        ])
        # A later plain --from-stash build keeps Kate (box), who has faces but no Stash image.
        plain = build_from_stash(stash_url, out, api_key=KEY, progress=False)
        assert plain.performers_without_image == [PERFORMERS[NO_IMAGE]] and plain.faces == report["faces"]
        assert json.loads((out / "manifest.json").read_text())["sources"] == [f"stash:{stash_url}", f"stash-box:{endpoint}"]
    assert BOX_KEY not in json.dumps(report) and KEY not in json.dumps(report)
    box = report["stashbox"]
    assert box["performers_linked"] == 2 and box["performers_fetched_now"] == 2
    # Brad's first stash-box image is the photo Stash already has: a duplicate, not a new face.
    assert box["images_processed_now"] == 6 and box["faces_added_now"] == 5
    assert box["skipped_now"] == {"duplicate photo": 1}
    faces = faces_by_source(out)
    with FaceDB.open(out) as db:
        records = {(r.name, r.disambiguation): r for r in db.performers(range(1, 100)).values()}
    brad_box, kate_box = records[("Brad Pitt", "box")], records[("Kate Winslet", "box")]
    assert brad_box.face_count == 3 and kate_box.face_count == 3  # Kate (box) has no Stash image at all
    assert brad_box.aliases == ["William Bradley Pitt"]
    assert str(brad_box.identities[0]) == f"{endpoint}#{performer_stash_id(1)}"
    box_sources = [s for name, s, _ in faces if s.startswith("stash-box-image:")]
    assert len(box_sources) == 5 and all(s.startswith(f"stash-box-image:{endpoint}#") for s in box_sources)
    # The library's own performers are linked to StashDB, not to this stash-box: untouched.
    assert records[("Hugh Jackman", None)].face_count == 1
    assert "Kate Winslet (box)" not in report["performers_without_image"]
    assert report["performers_without_image"] == [PERFORMERS[NO_IMAGE]]


# -- failures -----------------------------------------------------------------------------------


def test_wrong_key_unreachable_and_usage_errors(stash: str, tmp_path: Path) -> None:
    wrong = "not-the-key-" + uuid.uuid4().hex
    data = run_cli(["db", "build", "--from-stash", stash, "--api-key", wrong, "--out", str(tmp_path / "a"), "--json"], 1)
    assert data["error_type"] == "StashAuthError" and "401" in data["error"] and wrong not in data["error"]
    assert not (tmp_path / "a").exists()  # refused before anything was written

    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = CliRunner().invoke(app, ["db", "build", "--from-stash", closed, "--api-key", wrong, "--out", str(tmp_path / "b")])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert closed in result.stderr and wrong not in result.stdout + result.stderr

    data = run_cli(["db", "build", "--from-stashbox", STASHDB, "--out", str(tmp_path / "c"), "--json"], 1)
    assert "--from-stashbox need --from-stash" in data["error"]
    data = run_cli(["db", "build", "--from-folder", str(tmp_path), "--from-stash", stash, "--out", str(tmp_path / "d"), "--json"], 1)
    assert "choose one source" in data["error"]


# -- which scene faces are kept (pure selection rules) ----------------------------------------------


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _near(base: np.ndarray, distance: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at about ``distance`` from unit vector ``base``."""
    step = rng.normal(size=base.shape)
    step -= step.dot(base) * base
    return _unit(base + distance * step / np.linalg.norm(step))


def test_selection_keeps_the_tagged_performer_and_drops_everyone_else() -> None:
    rng = np.random.default_rng(7)
    performer, stranger, other = (_unit(rng.normal(size=128)) for _ in range(3))
    # Six frames, each with the performer and a stranger; the stranger's faces are all
    # inside max_distance of nothing, but one is (by bad luck) only 0.45 from the performer.
    faces, frames = [], []
    for frame in range(6):
        faces += [_near(performer, 0.25, rng), _near(stranger, 0.1, rng)]
        frames += [frame, frame]
    faces[1] = _near(performer, 0.45, rng)  # a stranger's face that alone would pass the distance test
    vectors = np.stack(faces)
    quality = [0.9 - 0.01 * i for i in range(len(faces))]
    params = EnrichParams(max_faces_per_scene=3, duplicate_distance=0.05)
    chosen = select_scene_faces(vectors, frames, quality, performer[None], other[None], np.empty((0, 128)), params)
    assert chosen.reason is None and len(chosen.chosen) == 3
    assert all(i % 2 == 0 for i in chosen.chosen)  # only the performer's faces
    assert chosen.rejected == 6

    # A face nearer another performer's reference is never taken, even within max_distance.
    closer_to_other = np.stack([_near(performer, 0.3, rng) for _ in range(3)])
    refs_other = closer_to_other[:1] + 0.0
    picked = select_scene_faces(closer_to_other, [0, 1, 2], [0.9] * 3, performer[None], refs_other, np.empty((0, 128)), params)
    assert set(picked.chosen) == {1, 2}

    # Matched in one frame only: not enough.
    single = select_scene_faces(vectors[:1], [0], [0.9], performer[None], other[None], np.empty((0, 128)), params)
    assert single.chosen == [] and "fewer than 2 frames" in (single.reason or "")

    # Nobody near the performer: nothing added.
    nobody = select_scene_faces(vectors[1::2], frames[1::2], quality[1::2], other[None], performer[None], np.empty((0, 128)), params)
    assert nobody.chosen == [] and nobody.reason == "no face matches the tagged performer"

    # Faces the DB already has are not added twice.
    again = select_scene_faces(vectors, frames, quality, performer[None], other[None], vectors[chosen.chosen], params)
    assert not set(again.chosen) & set(chosen.chosen)
