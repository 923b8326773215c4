from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

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


# How long past its own pytest-timeout deadline a test may run before the whole run is ended.
HARD_DEADLINE_GRACE_S = float(os.environ.get("STASH_SENSE_TEST_DEADLINE_GRACE", "120"))
_console: list[TextIO] = []


def pytest_configure(config: pytest.Config) -> None:
    # The run's own stderr, taken with pytest's capture suspended: the watchdog's stacks must
    # reach the console (or CI's log), not a capture file that is never read.
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is not None:
        capman.suspend_global_capture(in_=False)
    try:
        _console.append(os.fdopen(os.dup(2), "w"))
    finally:
        if capman is not None:
            capman.resume_global_capture()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The last line of defence against a frozen run. pytest-timeout raises in the test when its
    deadline passes, but only if Python code can still run: a thread blocked in C with the GIL
    held freezes every Python-level timer. faulthandler's watchdog is a C thread that needs no
    GIL: if a test (setup, call and teardown) outlives its deadline by two minutes, it prints
    every thread's stack and ends the run with exit code 1, so CI fails at once instead of
    hanging until it is killed. Servers and browsers run in child processes with their own
    deadlines, so in a healthy run this never fires."""
    marker = item.get_closest_marker("timeout")
    seconds = marker.args[0] if marker is not None and marker.args else item.config.getini("timeout")
    try:
        deadline = float(seconds or 0)
    except (TypeError, ValueError):
        deadline = 0.0
    if deadline > 0 and _console:
        faulthandler.dump_traceback_later(deadline + HARD_DEADLINE_GRACE_S, exit=True, file=_console[0])
    try:
        yield
    finally:
        if deadline > 0 and _console:
            faulthandler.cancel_dump_traceback_later()


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
