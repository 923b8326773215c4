from __future__ import annotations

from pathlib import Path

import pytest

from stash_sense.config import facedata_dir, stash_schema_dir


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow real-data suites")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow real-data suite: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session", autouse=True)
def _private_models_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see models installed in the user's data directory: with none installed the
    default embedder is dlib's, and a test that needs EdgeFace installs it into its own folder."""
    import os

    os.environ["STASH_SENSE_MODELS_DIR"] = str(tmp_path_factory.mktemp("no-models"))


@pytest.fixture(scope="session")
def facedata() -> Path:
    """The real labelled photos (``STASH_SENSE_FACEDATA``); skips when they are absent."""
    path = facedata_dir()
    if not (path / "celeb17").is_dir():
        pytest.skip(f"real face data not found at {path} (set STASH_SENSE_FACEDATA)")
    return path


@pytest.fixture(scope="session")
def stash_schema() -> Path:
    path = stash_schema_dir()
    if not path.is_dir():
        pytest.skip(f"Stash schema not found at {path} (set STASH_SENSE_STASH_SCHEMA)")
    return path


def link_gallery(src_root: Path, dest: Path, identities: dict[str, int]) -> Path:
    """A folder of <identity>/<images> made of symlinks to the first N photos of each identity."""
    for name, count in identities.items():
        (dest / name).mkdir(parents=True, exist_ok=True)
        for photo in sorted((src_root / name).iterdir())[:count]:
            (dest / name / photo.name).symlink_to(photo)
    return dest


CELEB_SUBSET = {"Brad Pitt": 4, "Angelina Jolie": 4, "Denzel Washington": 4, "Megan Fox": 4, "Tom Hanks": 4}


@pytest.fixture(scope="session")
def small_db(facedata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real face DB: 5 celeb17 actors x 4 photos, plus 3 LFW people as distractors."""
    from stash_sense.facedb.build import build_from_folder

    root = tmp_path_factory.mktemp("small-db")
    gallery = link_gallery(facedata / "celeb17", root / "gallery", CELEB_SUBSET)
    link_gallery(facedata / "lfw" / "people", gallery, {"George_W_Bush": 2, "Colin_Powell": 2, "Tony_Blair": 2})
    build_from_folder(gallery, root / "db", progress=False)
    return root / "db"
