"""The performer face database: a versioned, distributable directory.

Layout: ``performers.db`` (SQLite: performers, endpoint-qualified identities, aliases, face
embeddings, build progress, optional body/tattoo data), ``faces.index`` (nearest-neighbour index,
row ``i`` = ``faces.vector_row`` ``i``) and ``manifest.json`` (version, counts, embedding model,
checksums). Build with :class:`FaceDBWriter`, serve with :class:`FaceDB`.
"""

from stash_sense.facedb.errors import (
    EmbedderUnavailableError,
    FaceDBCorruptError,
    FaceDBError,
    FaceDBExistsError,
    FaceDBNotFoundError,
    IdentityConflictError,
    ModelMismatchError,
    UnsupportedFormatError,
)
from stash_sense.facedb.index import (
    FaissIndex,
    NumpyIndex,
    VectorIndex,
    build_index,
    load_index,
)
from stash_sense.facedb.manifest import Manifest, load_manifest
from stash_sense.facedb.optimize import optimize_db
from stash_sense.facedb.stats import (
    BUCKETS,
    DBStats,
    Share,
    bucket_for,
    stats_for_directory,
)
from stash_sense.facedb.store import FaceDB
from stash_sense.facedb.types import (
    EmbeddingModelInfo,
    FaceHit,
    Identity,
    PerformerRecord,
    local_endpoint,
)
from stash_sense.facedb.verify import VerifyReport, verify_db
from stash_sense.facedb.writer import FaceDBWriter

__all__ = [
    "BUCKETS",
    "DBStats",
    "EmbedderUnavailableError",
    "EmbeddingModelInfo",
    "FaceDB",
    "FaceDBCorruptError",
    "FaceDBError",
    "FaceDBExistsError",
    "FaceDBNotFoundError",
    "FaceDBWriter",
    "FaceHit",
    "FaissIndex",
    "Identity",
    "IdentityConflictError",
    "Manifest",
    "ModelMismatchError",
    "NumpyIndex",
    "PerformerRecord",
    "Share",
    "UnsupportedFormatError",
    "VectorIndex",
    "VerifyReport",
    "bucket_for",
    "build_index",
    "load_index",
    "load_manifest",
    "local_endpoint",
    "optimize_db",
    "stats_for_directory",
    "verify_db",
]
