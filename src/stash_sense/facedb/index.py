"""Nearest-neighbour indexes over face embeddings.

All implementations speak Euclidean distance (not squared) and use row numbers as labels: row
``i`` of the index is the face whose ``faces.vector_row`` is ``i``. Missing results (``k`` larger
than the index) are reported as row ``-1`` with distance ``inf``.

Small DBs use exact search (faiss ``IndexFlatL2``); above :data:`DEFAULT_HNSW_THRESHOLD` vectors an
HNSW graph keeps queries sub-millisecond at recall ≥ 0.99. :class:`NumpyIndex` is an exact
implementation with no dependency beyond numpy, used as a reference in tests and as a fallback
when faiss is unavailable.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBNotFoundError
from stash_sense.facedb.layout import atomic_write_bytes

log = logging.getLogger(__name__)

DEFAULT_HNSW_THRESHOLD = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128

_NUMPY_MAGIC = b"\x93NUMPY"
# Bound on the (queries x vectors) distance matrix the exact numpy search materialises at once.
_NUMPY_BLOCK_ELEMENTS = 1 << 24


@runtime_checkable
class VectorIndex(Protocol):
    """What the face DB needs from a vector index."""

    @property
    def dim(self) -> int: ...

    @property
    def kind(self) -> str:
        """Short name recorded in the manifest ("faiss-flat", "faiss-hnsw", "numpy-flat")."""
        ...

    @property
    def params(self) -> dict[str, Any]: ...

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(distances (n, k) float32 Euclidean, rows (n, k) int64)``, nearest first."""
        ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> VectorIndex: ...

    def __len__(self) -> int: ...


def _as_matrix(vectors: np.ndarray, dim: int, what: str) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"{what} must have shape (n, {dim}), got {np.shape(vectors)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return np.ascontiguousarray(array)


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")


def _empty_result(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((n, k), np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


class NumpyIndex:
    """Exact brute-force search with numpy; saved as a plain ``.npy`` matrix."""

    kind = "numpy-flat"

    def __init__(self, dim: int) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = dim
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._sq_norms = np.empty((0,), dtype=np.float32)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def __len__(self) -> int:
        return int(self._vectors.shape[0])

    def add(self, vectors: np.ndarray) -> None:
        matrix = _as_matrix(vectors, self._dim, "vectors")
        self._vectors = np.concatenate([self._vectors, matrix])
        self._sq_norms = np.einsum("ij,ij->i", self._vectors, self._vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        _check_k(k)
        q = _as_matrix(queries, self._dim, "queries")
        n, total = q.shape[0], len(self)
        distances, rows = _empty_result(n, k)
        if total == 0 or n == 0:
            return distances, rows
        kk = min(k, total)
        block = max(1, _NUMPY_BLOCK_ELEMENTS // total)
        for start in range(0, n, block):
            qb = q[start : start + block]
            # |q - x|^2 = |q|^2 + |x|^2 - 2 q.x, computed in float64 to keep small distances exact.
            sq = (
                np.einsum("ij,ij->i", qb, qb)[:, None].astype(np.float64)
                + self._sq_norms[None, :]
                - 2.0 * (qb.astype(np.float64) @ self._vectors.T.astype(np.float64))
            )
            np.maximum(sq, 0.0, out=sq)
            if kk < total:
                part = np.argpartition(sq, kk - 1, axis=1)[:, :kk]
            else:
                part = np.broadcast_to(np.arange(total), (qb.shape[0], total))
            part_sq = np.take_along_axis(sq, part, axis=1)
            order = np.lexsort((part, part_sq), axis=1)  # by distance, ties by row
            best = np.take_along_axis(part, order, axis=1)
            rows[start : start + qb.shape[0], :kk] = best
            distances[start : start + qb.shape[0], :kk] = np.sqrt(np.take_along_axis(sq, best, axis=1))
        return distances, rows

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.save(buffer, self._vectors, allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> NumpyIndex:
        try:
            vectors = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FaceDBCorruptError(f"vector index {path} cannot be read: {exc}") from exc
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            raise FaceDBCorruptError(f"vector index {path} holds an array of shape {vectors.shape}")
        index = cls(int(vectors.shape[1]))
        index.add(vectors)
        return index


class FaissIndex:
    """A faiss ``IndexFlatL2`` or ``IndexHNSWFlat``, reporting Euclidean distances."""

    def __init__(self, index: Any, *, ef_search: int = HNSW_EF_SEARCH) -> None:
        import faiss

        self._faiss = faiss
        self._index = index
        self._hnsw = isinstance(index, faiss.IndexHNSW)
        self._ef_search = ef_search
        if self._hnsw:
            # Never search below the configured floor, whatever the saved file says.
            index.hnsw.efSearch = max(int(index.hnsw.efSearch), ef_search)
            self._ef_search = int(index.hnsw.efSearch)

    @classmethod
    def flat(cls, dim: int) -> FaissIndex:
        import faiss

        return cls(faiss.IndexFlatL2(dim))

    @classmethod
    def hnsw(
        cls,
        dim: int,
        *,
        m: int = HNSW_M,
        ef_construction: int = HNSW_EF_CONSTRUCTION,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> FaissIndex:
        import faiss

        index = faiss.IndexHNSWFlat(dim, m)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
        return cls(index, ef_search=ef_search)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def kind(self) -> str:
        return "faiss-hnsw" if self._hnsw else "faiss-flat"

    @property
    def params(self) -> dict[str, Any]:
        if not self._hnsw:
            return {}
        hnsw = self._index.hnsw
        return {
            "M": int(hnsw.nb_neighbors(1)),
            "efConstruction": int(hnsw.efConstruction),
            "efSearch": self._ef_search,
        }

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        matrix = _as_matrix(vectors, self.dim, "vectors")
        if not self._hnsw:
            self._index.add(matrix)
            return
        # HNSW insertion run by several OpenMP threads links the graph in a racy order, so two
        # builds from the same vectors differ. One thread makes the file reproducible (a delta
        # pack's index is rebuilt on the client and must match the manifest's sha256).
        # omp_set_num_threads changes this thread's setting only; restored right after.
        threads = self._faiss.omp_get_max_threads()
        self._faiss.omp_set_num_threads(1)
        try:
            self._index.add(matrix)
        finally:
            self._faiss.omp_set_num_threads(threads)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        _check_k(k)
        q = _as_matrix(queries, self.dim, "queries")
        if q.shape[0] == 0 or len(self) == 0:
            return _empty_result(q.shape[0], k)
        if self._hnsw:
            # Per-call parameters keep concurrent searches from racing on a shared efSearch; the
            # beam must be at least k wide to return k results.
            params = self._faiss.SearchParametersHNSW(efSearch=max(self._ef_search, k))  # type: ignore[attr-defined]
            squared, rows = self._index.search(q, k, params=params)
        else:
            squared, rows = self._index.search(q, k)
        rows = rows.astype(np.int64, copy=False)
        distances = np.sqrt(np.maximum(squared, 0.0)).astype(np.float32, copy=False)
        distances[rows < 0] = np.inf
        return distances, rows

    def save(self, path: Path) -> None:
        data = self._faiss.serialize_index(self._index)
        atomic_write_bytes(path, data.tobytes())

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            # faiss puts a C++ stack into the message; its first line says what went wrong.
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise FaceDBCorruptError(f"vector index {path} cannot be read: {reason}") from exc
        return cls(index)


def _faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def build_index(
    vectors: np.ndarray,
    *,
    dim: int | None = None,
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
) -> VectorIndex:
    """Build the right index for ``vectors``: exact below ``hnsw_threshold`` rows, HNSW above."""
    array = np.asarray(vectors, dtype=np.float32)
    if dim is None:
        if array.ndim != 2:
            raise ValueError(f"vectors must have shape (n, d), got {array.shape}")
        dim = int(array.shape[1])
    index: VectorIndex
    if not _faiss_available():
        log.warning("faiss is not installed; using exact numpy search (slow on large DBs)")
        index = NumpyIndex(dim)
    elif len(array) >= hnsw_threshold:
        index = FaissIndex.hnsw(dim)
    else:
        index = FaissIndex.flat(dim)
    if len(array):
        index.add(array)
    return index


def build_index_like(vectors: np.ndarray, *, dim: int, kind: str, params: dict[str, Any]) -> VectorIndex:
    """Build the same kind of index, with the same parameters, as a manifest's ``index`` names.

    Used where an index must come out byte-identical to one built elsewhere (applying a delta
    pack): :func:`build_index` would choose by size and by what is installed instead.
    """
    array = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
    index: VectorIndex
    if kind == NumpyIndex.kind:
        index = NumpyIndex(dim)
    elif kind in ("faiss-flat", "faiss-hnsw"):
        if not _faiss_available():
            raise FaceDBCorruptError(f"this face DB uses a {kind} index but faiss is not installed")
        if kind == "faiss-flat":
            index = FaissIndex.flat(dim)
        else:
            index = FaissIndex.hnsw(
                dim,
                m=int(params.get("M", HNSW_M)),
                ef_construction=int(params.get("efConstruction", HNSW_EF_CONSTRUCTION)),
                ef_search=int(params.get("efSearch", HNSW_EF_SEARCH)),
            )
    else:
        raise FaceDBCorruptError(f"unknown vector index type {kind!r}")
    if len(array):
        index.add(array)
    return index


def load_index(path: Path) -> VectorIndex:
    """Load an index saved by any implementation here (recognised by its file header)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_NUMPY_MAGIC))
    except FileNotFoundError as exc:
        raise FaceDBNotFoundError(f"vector index file not found: {path}") from exc
    if head == _NUMPY_MAGIC:
        return NumpyIndex.load(path)
    if not _faiss_available():
        raise FaceDBCorruptError(f"vector index {path} is a faiss index but faiss is not installed")
    return FaissIndex.load(path)
