"""The sidecar's own state: ``stash_sense.db`` (SQLite, WAL, versioned migrations).

It lives in the data directory, apart from the face DB, so that installing or swapping a face
DB never touches what the user has accumulated (scene fingerprints, bulk-job progress).
"""

from stash_sense.userdb.db import USER_DB_FILE, UserDB, UserDBError
from stash_sense.userdb.fingerprints import (
    FingerprintCoverage,
    FingerprintFace,
    FingerprintStore,
    NewFingerprint,
    SceneFingerprint,
    fingerprint_from_result,
)
from stash_sense.userdb.jobs import JobRecord, JobStatus, JobStore
from stash_sense.userdb.library_index import IndexedFile, IndexedScene, LibraryIndex
from stash_sense.userdb.migrations import LATEST_VERSION, MIGRATIONS, Migration
from stash_sense.userdb.recommendations import (
    ActionRecord,
    AnalysisRun,
    NewRecommendation,
    Recommendation,
    RecommendationStore,
    RunCounts,
    Watermark,
)

__all__ = [
    "LATEST_VERSION",
    "ActionRecord",
    "AnalysisRun",
    "IndexedFile",
    "IndexedScene",
    "LibraryIndex",
    "NewRecommendation",
    "Recommendation",
    "RecommendationStore",
    "RunCounts",
    "Watermark",
    "MIGRATIONS",
    "USER_DB_FILE",
    "FingerprintCoverage",
    "FingerprintFace",
    "FingerprintStore",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "Migration",
    "NewFingerprint",
    "SceneFingerprint",
    "UserDB",
    "UserDBError",
    "fingerprint_from_result",
]
