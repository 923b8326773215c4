"""Process-wide settings read from the environment.

Every setting has a documented default (see README, "Configuration"); nothing here touches
the network or loads a model.
"""

from __future__ import annotations

import os
from pathlib import Path

# The repository root when running from a checkout (src/stash_sense/config.py -> ../../..).
_REPO_ROOT = Path(__file__).resolve().parents[2]


def facedata_dir() -> Path:
    """Where the labelled real-face photos live (``STASH_SENSE_FACEDATA``).

    Defaults to ``../shared/facedata`` next to the repository root. Used by tests, the demo
    and the evaluation commands' defaults; never copied into the project.
    """
    env = os.environ.get("STASH_SENSE_FACEDATA")
    if env:
        return Path(env).expanduser().resolve()
    return (_REPO_ROOT.parent / "shared" / "facedata").resolve()


def shared_dir() -> Path:
    """The ``shared`` folder beside the checkout (schemas, data)."""
    return facedata_dir().parent


def stash_schema_dir() -> Path:
    """Stash's GraphQL schema files (``STASH_SENSE_STASH_SCHEMA``)."""
    env = os.environ.get("STASH_SENSE_STASH_SCHEMA")
    if env:
        return Path(env).expanduser().resolve()
    return shared_dir() / "stash-schema" / "graphql"


def stashbox_schema_dir() -> Path:
    """stash-box's GraphQL schema files (``STASH_SENSE_STASHBOX_SCHEMA``)."""
    env = os.environ.get("STASH_SENSE_STASHBOX_SCHEMA")
    if env:
        return Path(env).expanduser().resolve()
    return shared_dir() / "stashbox-schema" / "graphql"


def cache_dir() -> Path:
    """Scratch space for derived data such as embedding caches (``STASH_SENSE_CACHE``)."""
    env = os.environ.get("STASH_SENSE_CACHE")
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "stash-sense"
    path.mkdir(parents=True, exist_ok=True)
    return path


def worker_count() -> int:
    """CPU workers for batch embedding (``STASH_SENSE_WORKERS``, default: all cores)."""
    env = os.environ.get("STASH_SENSE_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


# Face embedders this build ships (the calibration of each lives in matching/calibrations).
EMBEDDERS = ("dlib-resnet-v1", "dlib-resnet-v1+flip")
DEFAULT_EMBEDDER = "dlib-resnet-v1"


def embedder_name() -> str:
    """The face embedder (``STASH_SENSE_EMBEDDER``); a face DB must be built with the same one."""
    name = os.environ.get("STASH_SENSE_EMBEDDER", DEFAULT_EMBEDDER).strip()
    if name not in EMBEDDERS:
        raise ValueError(f"STASH_SENSE_EMBEDDER={name!r} is not one of {', '.join(EMBEDDERS)}")
    return name
