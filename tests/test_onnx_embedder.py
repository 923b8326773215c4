"""The EdgeFace ONNX embedders on real photos: alignment, embedding, worker pool, and face DBs
that decide which embedder runs.

The models are installed the real way (``install_model`` from ``STASH_SENSE_MODEL_SOURCE``,
default ``../shared/models``) into a temporary models directory; the tests skip with a message
when the model files are absent.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import link_gallery
from stash_sense.config import shared_dir
from stash_sense.faces.align import ARCFACE_SIZE, ARCFACE_TEMPLATE, arcface_chip, similarity_transform
from stash_sense.faces.catalog import INSTALLABLE

GALLERY = {"Brad Pitt": 3, "Angelina Jolie": 3, "Tom Hanks": 3, "Megan Fox": 3}


@pytest.fixture(scope="module")
def installed_models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Both EdgeFace models installed into a private models directory (set in the environment,
    so the worker processes see it too)."""
    from stash_sense.modelstore import install_model

    env = os.environ.get("STASH_SENSE_MODEL_SOURCE")
    source = Path(env) if env else shared_dir() / "models"
    if not all((source / e.file).is_file() for e in INSTALLABLE.values()):
        pytest.skip(f"EdgeFace model files not found in {source} (set STASH_SENSE_MODEL_SOURCE)")
    target = tmp_path_factory.mktemp("models")
    saved = {k: os.environ.get(k) for k in ("STASH_SENSE_MODELS_DIR", "STASH_SENSE_EMBEDDER")}
    os.environ["STASH_SENSE_MODELS_DIR"] = str(target)
    os.environ.pop("STASH_SENSE_EMBEDDER", None)
    try:
        for name in INSTALLABLE:
            install_model(name, accept_licence=True, source=str(source))
        yield target
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_similarity_transform_recovers_a_known_transform() -> None:
    angle, scale, shift = np.radians(17.0), 2.3, np.array([40.0, -12.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)
    # A mirrored point set is fitted by a rotation, never a reflection.
    mirrored = src * np.array([-1.0, 1.0])
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0


def test_arcface_chip_puts_the_points_on_the_template() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    points = ARCFACE_TEMPLATE * 2.5 + np.array([60.0, 80.0])
    for x, y in points.astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    chip = arcface_chip(image, points)
    assert chip.shape == (ARCFACE_SIZE, ARCFACE_SIZE, 3)
    for x, y in ARCFACE_TEMPLATE.round().astype(int):
        assert chip[y, x].max() > 100


def test_not_installed_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stash_sense.faces.catalog import embedder_name
    from stash_sense.faces.embedders import create_embedder
    from stash_sense.faces.models import ModelLoadError

    monkeypatch.setenv("STASH_SENSE_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv("STASH_SENSE_EMBEDDER", raising=False)
    assert embedder_name() == "dlib-resnet-v1"  # nothing installed: dlib stays the default
    with pytest.raises(ModelLoadError, match=r"stash-sense models install edgeface-xs --accept-licence"):
        create_embedder("edgeface-xs").check_available()


def test_default_is_edgeface_once_installed(installed_models: Path) -> None:
    from stash_sense.faces.catalog import embedder_name

    assert embedder_name() == "edgeface-xs"


def test_embeddings_on_real_faces(installed_models: Path, facedata: Path) -> None:
    from stash_sense.faces.embed_onnx import DISTANCE_SCALE
    from stash_sense.faces.embedders import create_embedder
    from stash_sense.faces.pipeline import FacePipeline, PipelineOptions

    pipe = FacePipeline(embedder=create_embedder("edgeface-xs"))
    options = PipelineOptions(expect_single_face=True, keep_crops=True)
    vecs: dict[str, list[np.ndarray]] = {}
    chips = []
    for name in GALLERY:
        for photo in sorted((facedata / "celeb17" / name).iterdir())[:3]:
            faces = pipe.analyze_file(photo, options).faces
            assert len(faces) == 1, photo
            assert faces[0].crop.shape == (112, 112, 3)
            chips.append(faces[0].crop)
            vecs.setdefault(name, []).append(faces[0].embedding)
    all_vecs = np.stack([v for vs in vecs.values() for v in vs])
    assert all_vecs.shape == (12, 512)
    assert np.allclose(np.linalg.norm(all_vecs, axis=1), DISTANCE_SCALE, atol=1e-4)
    # Batched and one-by-one inference agree.
    batched = pipe.embedder.embed(chips)
    assert np.allclose(batched, all_vecs, atol=1e-4)
    # Every photo is nearer its own identity's other photos than any other identity's.
    for name, own in vecs.items():
        for i, v in enumerate(own):
            same = min(np.linalg.norm(v - w) for j, w in enumerate(own) if j != i)
            other = min(np.linalg.norm(v - w) for n, ws in vecs.items() if n != name for w in ws)
            assert same < other, (name, i, same, other)
    # The mirror-averaged variant keeps the length and differs from the plain vector.
    flipped = create_embedder("edgeface-xs+flip").embed(chips[:2])
    assert np.allclose(np.linalg.norm(flipped, axis=1), DISTANCE_SCALE, atol=1e-4)
    assert not np.allclose(flipped, batched[:2], atol=1e-3)
    # A chip of the wrong size is refused, not silently resized.
    with pytest.raises(ValueError, match="112x112"):
        pipe.embedder.embed([np.zeros((150, 150, 3), np.uint8)])


def test_worker_pool_runs_edgeface(installed_models: Path, facedata: Path) -> None:
    from stash_sense.faces.embedders import create_embedder
    from stash_sense.faces.parallel import FaceWorkerPool
    from stash_sense.faces.pipeline import FacePipeline, PipelineOptions

    photos = [sorted((facedata / "celeb17" / n).iterdir())[0] for n in GALLERY]
    pipe = FacePipeline(embedder=create_embedder("edgeface-xxs"))
    local = [pipe.analyze_file(p, PipelineOptions(expect_single_face=True)).faces[0].embedding for p in photos]
    pool = FaceWorkerPool(2, embedder="edgeface-xxs")
    try:
        remote = [r.faces[0].embedding for r in pool.analyze_files(photos, PipelineOptions(expect_single_face=True))]
    finally:
        pool.close()
    assert np.allclose(np.stack(local), np.stack(remote), atol=1e-4)


def test_bad_provider_is_a_clear_error(installed_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stash_sense.faces.embedders import create_embedder
    from stash_sense.faces.models import ModelLoadError

    monkeypatch.setenv("STASH_SENSE_ONNX_PROVIDERS", "NoSuchExecutionProvider,CPUExecutionProvider")
    with pytest.raises(ModelLoadError, match="NoSuchExecutionProvider.*STASH_SENSE_ONNX_PROVIDERS"):
        create_embedder("edgeface-xxs").load()


def _cli(*args: str) -> tuple[int, str, str]:
    from stash_sense.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    return result.exit_code, result.stdout, result.stderr


def test_db_decides_the_model(installed_models: Path, facedata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Build with --embedder, identify without saying which embedder, refuse clearly when its
    model is gone, and rebuild the DB with another embedder from its recorded sources."""
    from stash_sense.facedb import EmbedderUnavailableError, load_manifest
    from stash_sense.recognition import Recognizer

    gallery = link_gallery(facedata / "celeb17", tmp_path / "gallery", GALLERY)
    code, out, err = _cli("db", "build", "--from-folder", str(gallery), "--out", str(tmp_path / "db"), "--embedder", "edgeface-xs", "--no-progress", "--json")
    assert code == 0, err
    assert "embedder: edgeface-xs" in err
    manifest = load_manifest(tmp_path / "db")
    assert manifest.embedding.model == "edgeface-xs" and manifest.embedding.dim == 512
    assert manifest.calibration["model"] == "edgeface-xs"

    # The configured embedder says dlib; the DB says EdgeFace, and the DB wins.
    monkeypatch.setenv("STASH_SENSE_EMBEDDER", "dlib-resnet-v1")
    probe = sorted((facedata / "celeb17" / "Tom Hanks").iterdir())[-1]
    code, out, err = _cli("identify", "image", str(probe), "--db", str(tmp_path / "db"), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["faces"][0]["matches"][0]["name"] == "Tom Hanks"

    # Rebuild the same sources with dlib into a new directory; the source DB is untouched.
    before = (tmp_path / "db" / "manifest.json").read_text()
    code, out, err = _cli("db", "rebuild", "--db", str(tmp_path / "db"), "--embedder", "dlib-resnet-v1", "--out", str(tmp_path / "db-dlib"), "--no-progress", "--json")
    assert code == 0, err
    rebuilt = load_manifest(tmp_path / "db-dlib")
    assert rebuilt.embedding.model == "dlib-resnet-v1" and rebuilt.counts.faces == manifest.counts.faces
    assert rebuilt.sources == manifest.sources
    assert (tmp_path / "db" / "manifest.json").read_text() == before

    # Without the model file, the DB is refused with the install command.
    models = tmp_path / "no-models"
    models.mkdir()
    monkeypatch.setenv("STASH_SENSE_MODELS_DIR", str(models))
    with pytest.raises(EmbedderUnavailableError, match=r"stash-sense models install edgeface-xs --accept-licence"):
        Recognizer.open(tmp_path / "db")
    code, out, err = _cli("identify", "image", str(probe), "--db", str(tmp_path / "db"))
    assert code == 1 and "stash-sense models install edgeface-xs --accept-licence" in " ".join(err.split())
    shutil.rmtree(models)


def test_demo_uses_the_best_model_it_can_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stash_sense.devtools.demo import choose_embedder

    env = os.environ.get("STASH_SENSE_MODEL_SOURCE")
    source = Path(env) if env else shared_dir() / "models"
    if not (source / INSTALLABLE["edgeface-xs"].file).is_file():
        pytest.skip(f"EdgeFace model files not found in {source} (set STASH_SENSE_MODEL_SOURCE)")
    monkeypatch.setenv("STASH_SENSE_MODELS_DIR", str(tmp_path / "user-models"))  # restored afterwards
    # A URL source is never fetched from: the demo falls back to dlib.
    monkeypatch.setenv("STASH_SENSE_MODEL_SOURCE", "http://127.0.0.1:9/models")
    assert choose_embedder(tmp_path / "demo1") == "dlib-resnet-v1"
    assert not (tmp_path / "demo1" / "models").exists()
    # A local folder holding the model: installed into the demo's own output, not the user's folder.
    monkeypatch.setenv("STASH_SENSE_MODEL_SOURCE", str(source))
    assert choose_embedder(tmp_path / "demo2") == "edgeface-xs"
    assert (tmp_path / "demo2" / "models" / INSTALLABLE["edgeface-xs"].file).is_file()
    assert not (tmp_path / "user-models").exists()


def test_sidecar_runs_the_embedder_its_face_db_names(
    installed_models: Path, facedata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sidecar, configured for dlib, serves an EdgeFace DB with EdgeFace, hot-swaps to a
    dlib DB of the same photos, and refuses (503, install command) a DB whose model is gone."""
    from api_helpers import client, running_sidecar, sidecar_settings
    from stash_sense.facedb.build import build_from_folder

    gallery = link_gallery(facedata / "celeb17", tmp_path / "gallery", GALLERY)
    build_from_folder(gallery, tmp_path / "db-edgeface", progress=False, embedder="edgeface-xs")
    build_from_folder(gallery, tmp_path / "db-dlib", progress=False, embedder="dlib-resnet-v1")
    monkeypatch.setenv("STASH_SENSE_EMBEDDER", "dlib-resnet-v1")
    photo = sorted((facedata / "celeb17" / "Megan Fox").iterdir())[-1].read_bytes()
    settings = sidecar_settings(tmp_path / "data", tmp_path / "db-edgeface")
    with running_sidecar(settings) as (url, _app), client(url) as c:
        response = c.post("/identify", files={"file": ("p.jpg", photo, "image/jpeg")})
        assert response.status_code == 200, response.text
        assert [m["name"] for f in response.json()["faces"] for m in f["matches"]] == ["Megan Fox"]
        assert c.get("/capabilities").json()["models"]["embedder"] == "edgeface-xs"
        swapped = c.post("/database/reload", json={"confirm": True, "path": str(tmp_path / "db-dlib")})
        assert swapped.status_code == 200, swapped.text
        response = c.post("/identify", files={"file": ("p.jpg", photo, "image/jpeg")})
        assert [m["name"] for f in response.json()["faces"] for m in f["matches"]] == ["Megan Fox"]
        assert c.get("/capabilities").json()["models"]["embedder"] == "dlib-resnet-v1"
    monkeypatch.setenv("STASH_SENSE_MODELS_DIR", str(tmp_path / "empty-models"))
    settings = sidecar_settings(tmp_path / "data2", tmp_path / "db-edgeface")
    with running_sidecar(settings) as (url, _app), client(url) as c:
        refused = c.post("/identify", files={"file": ("p.jpg", photo, "image/jpeg")})
        assert refused.status_code == 503
        assert "stash-sense models install edgeface-xs --accept-licence" in refused.text
