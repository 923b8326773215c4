"""The face pipeline on real photos: detection, alignment, embeddings, bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stash_sense.faces.imageio import ImageReadError, decode_image
from stash_sense.faces.pipeline import WHOLE_IMAGE, FacePipeline, PipelineOptions


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline()


@pytest.fixture(scope="module")
def fr(facedata: Path) -> Path:
    return facedata / "face_recognition"


def _embed_one(pipeline: FacePipeline, path: Path) -> np.ndarray:
    result = pipeline.analyze_file(path, PipelineOptions(expect_single_face=True))
    assert result.error is None and len(result.faces) == 1, (path, result.error)
    return result.faces[0].embedding


def test_two_people_photo_has_two_faces_largest_first(pipeline: FacePipeline, fr: Path) -> None:
    result = pipeline.analyze_file(fr / "two_people.jpg")
    assert result.error is None
    assert len(result.faces) == 2
    assert result.faces[0].box.area >= result.faces[1].box.area
    for face in result.faces:
        assert face.embedding is not None and face.embedding.shape == (128,)
        assert face.landmarks.shape == (5, 2)
        assert 0.0 < face.quality <= 1.0
        assert face.crop is None  # crops are dropped unless asked for


@pytest.mark.parametrize("name", ["Charles_Schumer_0002", "Donald_Keyser_0001"])
def test_single_subject_photo_searches_harder_for_a_central_face(pipeline: FacePipeline, facedata: Path, name: str) -> None:
    # In these LFW photos the first detector finds only a bystander at the edge; the labelled
    # person stands at the centre and is found by a later stage of the cascade.
    path = facedata / "lfw" / "people" / name.rsplit("_", 1)[0] / f"{name}.jpg"
    if not path.is_file():
        pytest.skip(f"{path} not in this copy of the face data")
    first_look = pipeline.detect(decode_image(path))
    assert first_look and all(not (f.box.x <= 125 <= f.box.x + f.box.w and f.box.y <= 125 <= f.box.y + f.box.h) for f in first_look)
    faces = pipeline.analyze_file(path, PipelineOptions(expect_single_face=True, embed=False)).faces
    assert len(faces) == 1
    box = faces[0].box
    assert box.x <= 125 <= box.x + box.w and box.y <= 125 <= box.y + box.h


def test_single_subject_photo_picks_the_face_centred_on_the_image(pipeline: FacePipeline, facedata: Path) -> None:
    # Julianne Moore (centred) with Todd Haynes (larger, up and to the right; both boxes
    # overlap the centre): the labelled person is the one whose face is centred.
    moore = facedata / "lfw" / "people" / "Julianne_Moore"
    haynes = facedata / "lfw" / "people" / "Todd_Haynes" / "Todd_Haynes_0001.jpg"
    if not (moore / "Julianne_Moore_0001.jpg").is_file() or not haynes.is_file():
        pytest.skip("Julianne Moore / Todd Haynes photos not in this copy of the face data")
    both = pipeline.analyze_file(moore / "Julianne_Moore_0001.jpg")
    assert len(both.faces) == 2 and both.faces[0].box.area > both.faces[1].box.area
    picked = _embed_one(pipeline, moore / "Julianne_Moore_0001.jpg")
    others = [_embed_one(pipeline, p) for p in sorted(moore.glob("*.jpg"))[1:]]
    todd = _embed_one(pipeline, haynes)
    assert np.linalg.norm(picked - todd) > 0.6
    assert min(np.linalg.norm(picked - o) for o in others) < 0.6


def test_a_weak_detection_at_the_centre_does_not_replace_the_real_face(pipeline: FacePipeline, facedata: Path) -> None:
    # A shirtless portrait whose face is above the centre: dlib HOG fires weakly on the chest,
    # which is nearer the centre than the face is. The face must stay the photo's subject.
    smith = facedata / "celeb17" / "Will Smith"
    photo = smith / "026_4f5bfb2c.jpg"
    if not photo.is_file():
        pytest.skip(f"{photo} not in this copy of the face data")
    picked = _embed_one(pipeline, photo)
    others = [_embed_one(pipeline, p) for p in sorted(smith.glob("*.jpg"))[:5]]
    assert min(np.linalg.norm(picked - o) for o in others if np.linalg.norm(picked - o) > 1e-6) < 0.6


def test_same_person_closer_than_different_people(pipeline: FacePipeline, fr: Path) -> None:
    obama = _embed_one(pipeline, fr / "obama.jpg")
    obama2 = _embed_one(pipeline, fr / "obama2.jpg")
    biden = _embed_one(pipeline, fr / "biden.jpg")
    same = float(np.linalg.norm(obama - obama2))
    different = float(np.linalg.norm(obama - biden))
    assert same < 0.5 < different, (same, different)


@pytest.mark.parametrize("res", ["240p", "480p", "720p", "1080p"])
def test_detects_across_resolutions(pipeline: FacePipeline, fr: Path, res: str) -> None:
    reference = _embed_one(pipeline, fr / "obama.jpg")
    result = pipeline.analyze_file(fr / f"obama-{res}.jpg")
    assert result.faces, f"no face at {res}"
    assert float(np.linalg.norm(result.faces[0].embedding - reference)) < 0.5


def test_tight_headshot_falls_back_to_whole_image_fit(pipeline: FacePipeline, facedata: Path, tmp_path: Path) -> None:
    """Stash-box headshots are often cropped inside the face; the DB build must still use them."""
    src = facedata / "celeb17" / sorted(p.name for p in (facedata / "celeb17").iterdir())[0]
    photo = sorted(src.iterdir())[0]
    image = decode_image(photo)
    face = pipeline.analyze(image, PipelineOptions(expect_single_face=True, keep_crops=True))[0]
    # Crop well inside the detected box: forehead and chin cut off, as on a tight headshot.
    b = face.box
    crop = image[b.y + b.h // 6 : b.y + b.h - b.h // 8, b.x + b.w // 10 : b.x + b.w - b.w // 10]
    crop = np.asarray(Image.fromarray(crop).resize((crop.shape[1] * 2, crop.shape[0] * 2)))
    faces = pipeline.analyze(crop, PipelineOptions(expect_single_face=True))
    assert len(faces) == 1
    # Whichever path found it (a detector or the whole-image fit), it is the same person.
    assert float(np.linalg.norm(faces[0].embedding - face.embedding)) < 0.45
    # A crop no detector can read: tighter still, then verify the fit path is what answered.
    tighter = crop[crop.shape[0] // 8 : -crop.shape[0] // 8, crop.shape[1] // 10 : -crop.shape[1] // 10]
    plain = pipeline.analyze(tighter, PipelineOptions())
    single = pipeline.analyze(tighter, PipelineOptions(expect_single_face=True))
    if not plain:
        assert len(single) == 1 and single[0].detector == WHOLE_IMAGE
        assert float(np.linalg.norm(single[0].embedding - face.embedding)) < 0.5


def test_whole_image_fit_rejects_non_faces(pipeline: FacePipeline) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    flat = np.full((300, 300, 3), 128, dtype=np.uint8)
    assert pipeline.analyze(noise, PipelineOptions(expect_single_face=True)) == []
    assert pipeline.analyze(flat, PipelineOptions(expect_single_face=True)) == []


def _bad_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    data = good.read_bytes()
    files = {
        "zero": tmp_path / "zero.jpg",
        "truncated": tmp_path / "truncated.jpg",
        "corrupt": tmp_path / "corrupt.jpg",
        "text": tmp_path / "notes.jpg",
        "bomb": tmp_path / "bomb.png",
        "missing": tmp_path / "missing.jpg",
    }
    files["zero"].write_bytes(b"")
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["corrupt"].write_bytes(data[:200] + bytes(np.random.default_rng(1).integers(0, 255, 4000, dtype=np.uint8)))
    files["text"].write_text("this is not an image\n")
    # A tiny PNG that claims 20000 x 20000 pixels (400 MP): a decompression bomb.
    buf = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buf, format="PNG")
    files["bomb"].write_bytes(buf.getvalue())
    return files


def test_bad_inputs_give_clear_errors_and_never_stop_a_batch(pipeline: FacePipeline, fr: Path, tmp_path: Path) -> None:
    bad = _bad_files(tmp_path, fr / "obama.jpg")
    expected = {
        "zero": "empty file",
        "truncated": "truncated",
        "corrupt": "",
        "text": "not a recognised image",
        "bomb": "limit",
        "missing": "not found",
    }
    batch = [fr / "obama.jpg", *bad.values(), fr / "biden.jpg"]
    results = [pipeline.analyze_file(p) for p in batch]
    assert results[0].faces and results[-1].faces
    for (kind, path), result in zip(bad.items(), results[1:-1]):
        assert result.error, kind
        assert str(path) in result.error
        assert expected[kind] in result.error, (kind, result.error)


def test_decode_image_limits(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(p)
    with pytest.raises(ImageReadError, match="limit"):
        decode_image(p, max_pixels=1_000_000)
    assert decode_image(p).shape == (3000, 3000, 3)


def test_worker_pool_matches_in_process_results(fr: Path, tmp_path: Path) -> None:
    from stash_sense.faces.parallel import FaceWorkerPool

    paths = [fr / "obama.jpg", tmp_path / "nothing.jpg", fr / "biden.jpg"]
    (tmp_path / "nothing.jpg").write_bytes(b"")
    pool = FaceWorkerPool(2)
    try:
        results = list(pool.analyze_files(paths, PipelineOptions(expect_single_face=True)))
    finally:
        pool.close()
    assert [r.source for r in results] == [str(p) for p in paths]
    assert results[1].error and "empty" in results[1].error
    local = FacePipeline().analyze_file(paths[0], PipelineOptions(expect_single_face=True))
    assert np.allclose(results[0].faces[0].embedding, local.faces[0].embedding, atol=1e-5)


def test_workers_exit_when_their_parent_is_killed(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    # The parent starts a pool, reports its workers' pids, then dies without any clean-up.
    script = (
        "import os, signal\n"
        "from stash_sense.faces.parallel import FaceWorkerPool\n"
        "pool = FaceWorkerPool(2)\n"
        "[f.result() for f in pool.warm()]\n"
        "print(' '.join(str(p) for p in pool._pool()._processes), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    # Files, not pipes: orphaned workers would hold a pipe open and stall the wait.
    log, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with log.open("w") as stdout, err.open("w") as stderr:
        code = subprocess.run([sys.executable, "-c", script], stdout=stdout, stderr=stderr, timeout=300).returncode
    assert code == -9, err.read_text()[-2000:]
    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == 2

    def alive(pid: int) -> bool:
        # An exited orphan may linger as a zombie until init reaps it: that is not alive.
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    deadline = time.monotonic() + 20
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in pids), "worker processes outlived their killed parent"
