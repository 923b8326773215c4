"""Process-wide settings read from the environment.

Every setting has a documented default (see README, "Configuration"); nothing here touches
the network or loads a model. The bottom layer: it imports nothing else from the package (see
docs/architecture.md).
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


def stash_ui_dir() -> Path:
    """A production build of Stash's own web UI, for the emulator and the browser tests
    (``STASH_SENSE_STASH_UI``, default ``../shared/stash-ui/build``); never copied anywhere."""
    env = os.environ.get("STASH_SENSE_STASH_UI")
    if env:
        return Path(env).expanduser().resolve()
    return shared_dir() / "stash-ui" / "build"


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


def data_dir() -> Path:
    """Where Stash Sense keeps its state (``STASH_SENSE_DATA_DIR``, default
    ``$XDG_DATA_HOME/stash-sense``, i.e. ``~/.local/share/stash-sense``)."""
    env = os.environ.get("STASH_SENSE_DATA_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME")
    return (Path(base).expanduser() if base else Path.home() / ".local" / "share") / "stash-sense"


def face_db_dir() -> Path:
    """The face DB the sidecar serves and ``db install`` installs into (``STASH_SENSE_FACE_DB``,
    default ``$STASH_SENSE_DATA_DIR/facedb``). With installed releases it is a symlink into
    ``<it>.versions/`` (see ``facedb/versions.py``)."""
    env = os.environ.get("STASH_SENSE_FACE_DB", "").strip()
    return Path(env).expanduser() if env else data_dir() / "facedb"


def face_db_source() -> str:
    """Where face-DB releases are offered (``STASH_SENSE_FACE_DB_SOURCE``): a pack (or its
    ``.manifest.json``) as a path or an http(s) URL; "" when unset. Only read when a user asks
    for an update: nothing is fetched on its own."""
    return os.environ.get("STASH_SENSE_FACE_DB_SOURCE", "").strip()


def models_dir() -> Path:
    """Where installed model files live (``STASH_SENSE_MODELS_DIR``, default
    ``$STASH_SENSE_DATA_DIR/models``). Only ``stash-sense models install`` writes here."""
    env = os.environ.get("STASH_SENSE_MODELS_DIR")
    return Path(env).expanduser() if env else data_dir() / "models"


def model_source() -> str:
    """Where ``stash-sense models install`` fetches model files from (``STASH_SENSE_MODEL_SOURCE``):
    a folder or an http(s) base URL. Nothing else ever fetches a model."""
    return os.environ.get("STASH_SENSE_MODEL_SOURCE", "").strip() or DEFAULT_MODEL_SOURCE


# The project's release location for model files that no PyPI package ships.
DEFAULT_MODEL_SOURCE = "https://github.com/stash-sense/stash-sense/releases/download/models-v1"


def onnx_providers() -> list[str]:
    """ONNX Runtime execution providers, in order of preference (``STASH_SENSE_ONNX_PROVIDERS``,
    comma-separated; e.g. ``CUDAExecutionProvider,CPUExecutionProvider`` with onnxruntime-gpu)."""
    env = os.environ.get("STASH_SENSE_ONNX_PROVIDERS", "")
    names = [p.strip() for p in env.split(",") if p.strip()]
    return names or ["CPUExecutionProvider"]


def onnx_threads() -> int:
    """Intra-op threads per ONNX Runtime session (``STASH_SENSE_ONNX_THREADS``, default 1: the
    worker pool already runs one process per core; 0 lets ONNX Runtime choose)."""
    env = os.environ.get("STASH_SENSE_ONNX_THREADS", "").strip()
    return max(0, int(env)) if env else 1


def embedder_setting() -> str:
    """The face embedder asked for by ``STASH_SENSE_EMBEDDER`` ("" when unset). The model catalog
    (``faces/catalog.py``: ``embedder_name``) checks the name and picks the default."""
    return os.environ.get("STASH_SENSE_EMBEDDER", "").strip()
