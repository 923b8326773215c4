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
