"""What a 100,000-performer face DB costs: index build and query time, disk and memory.

Synthetic faces stand in for real ones (their speed is what is measured, not their accuracy):
each performer is a random direction in the embedder's space and its faces that direction plus
noise, so that faces of one performer lie ~0.8 apart on the unit sphere and strangers ~1.4, as
EdgeFace's do. Queries are new faces of random performers. Three faiss indexes are measured at the
full size: exact search (``faiss-flat``), the HNSW graph that :func:`stash_sense.facedb.index.build_index`
builds above its threshold, and an inverted-file index (``faiss-ivf``, not built by the face DB
today) for comparison. Query time is per face with one face per call (how an image is served)
and in batches of 64 (how scenes are served), with the search depth the matcher asks for.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from .index_disk import DiskCost, measure_disk_cost

K_FACES = 50  # the matcher's face search depth (PerformerMatcher: max(50, 4 * depth))
BATCH = 64
TARGET_MS = 5.0
IVF_NPROBES = (8, 16, 32, 64, 128)
MIN_RECALL = 0.99


class KindResult(BaseModel):
    kind: str
    params: dict[str, Any]
    build_seconds: float
    file_bytes: int
    load_rss_bytes: int  # RSS growth of a fresh process loading the saved index
    query_ms_single_median: float
    query_ms_single_p95: float
    query_ms_batched: float  # per face, batches of BATCH
    recall_at_1: float  # queries whose exact nearest face comes first: what the matcher's top performer needs
    recall_at_10: float  # share of the exact 10 nearest faces found (beyond the query's own performer these are
    # strangers at nearly equal distances, hard for any approximate index and of little consequence)
    meets_target: bool  # single-face median <= TARGET_MS and recall_at_1 >= MIN_RECALL


class IndexBenchReport(BaseModel):
    faces: int
    performers: int
    dim: int
    threads: int
    queries: int
    k: int
    data: str
    built_by_face_db: str  # the kind build_index chooses at this size
    kinds: list[KindResult]
    target_query_ms: float
    disk: DiskCost
    ram_bytes_when_loaded: dict[str, int]
    seconds: float


def synthetic_faces(faces: int, performers: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, performer of each vector, performer directions); unit vectors, float32."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((performers, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    owner = np.arange(faces) % performers
    vectors = np.empty((faces, dim), dtype=np.float32)
    for lo in range(0, faces, 50_000):  # in blocks: the noise matrix would double the peak memory
        hi = min(faces, lo + 50_000)
        block = centres[owner[lo:hi]] + rng.standard_normal((hi - lo, dim), dtype=np.float32) * np.float32(0.6 / np.sqrt(dim))
        vectors[lo:hi] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors, owner, centres


def _queries(centres: np.ndarray, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    picked = centres[rng.integers(0, len(centres), count)]
    q = picked + rng.standard_normal(picked.shape, dtype=np.float32) * np.float32(0.6 / np.sqrt(centres.shape[1]))
    out: np.ndarray = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    return out


def _time_queries(search: Any, queries: np.ndarray) -> tuple[float, float, float]:
    """(median and p95 ms per single-face call, ms per face in batches)."""
    single = []
    for q in queries[: min(200, len(queries))]:
        t = time.perf_counter()
        search(q[None, :], K_FACES)
        single.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    for lo in range(0, len(queries), BATCH):
        search(queries[lo : lo + BATCH], K_FACES)
    batched = (time.perf_counter() - t) * 1000 / len(queries)
    return float(np.median(single)), float(np.percentile(single, 95)), batched


def _recall(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    if k == 1:
        return float(np.mean(found[:, 0] == exact[:, 0]))
    hits = sum(len(set(f[:k].tolist()) & set(e[:k].tolist())) for f, e in zip(found, exact))
    return hits / exact[:, :k].size


def _child(function: str, *args: str) -> dict[str, int]:
    """Run ``function(*args)`` of this module in a fresh Python process: its RSS growth is the
    memory that loading takes, unpolluted by this process's own allocations."""
    code = f"import json,sys; from stash_sense.benchmark.index_scale import {function} as f; print(json.dumps(f(*sys.argv[1:])))"
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=1800, check=True)
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _child_load_rss(path: str, kind: str) -> dict[str, int]:
    import faiss

    from ..facedb.index import load_index

    before = _rss_bytes()
    index = faiss.read_index(path) if kind == "faiss-ivf" else load_index(Path(path))
    grown = _rss_bytes() - before
    del index
    return {"index": grown}


def _child_recognizer_rss(vectors_path: str, owner_path: str) -> dict[str, int]:
    """What the recognizer holds beside the index: every face vector and each performer's centroid."""
    from ..matching.gallery import performer_centroids

    before = _rss_bytes()
    vectors = np.load(vectors_path)
    owner = np.load(owner_path)
    loaded = _rss_bytes()
    centroids = performer_centroids(vectors, owner)
    done = _rss_bytes()
    del centroids
    return {"face_vectors": loaded - before, "performer_centroids": done - loaded}


def _measure_kind(kind: str, vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray, workdir: Path) -> KindResult:
    from ..facedb.index import FaissIndex, build_index

    started = time.perf_counter()
    params: dict[str, Any] = {}
    if kind == "faiss-ivf":
        index, search, params = _build_ivf(vectors, queries, exact)
    else:
        built = FaissIndex.flat(vectors.shape[1]) if kind == "faiss-flat" else build_index(vectors, hnsw_threshold=0)
        if kind == "faiss-flat":
            built.add(vectors)
        index, search, params = built, built.search, built.params
    build_seconds = time.perf_counter() - started
    path = workdir / f"{kind}.index"
    _save(index, kind, path)
    median, p95, batched = _time_queries(search, queries)
    found = search(queries, K_FACES)[1]
    return KindResult(
        kind=kind, params=params, build_seconds=round(build_seconds, 1), file_bytes=path.stat().st_size,
        load_rss_bytes=_child("_child_load_rss", str(path), kind)["index"], query_ms_single_median=round(median, 3), query_ms_single_p95=round(p95, 3),
        query_ms_batched=round(batched, 3), recall_at_1=round(_recall(found, exact, 1), 4), recall_at_10=round(_recall(found, exact), 4),
        meets_target=median <= TARGET_MS and _recall(found, exact, 1) >= MIN_RECALL,
    )


def _save(index: Any, kind: str, path: Path) -> None:
    import faiss

    if kind == "faiss-ivf":
        faiss.write_index(index, str(path))
    else:
        index.save(path)


def _build_ivf(vectors: np.ndarray, queries: np.ndarray, exact: np.ndarray) -> tuple[Any, Any, dict[str, Any]]:
    """IVF-Flat with ~4 sqrt(n) lists, trained on a sample; nprobe: the smallest whose recall@1
    reaches MIN_RECALL (chosen on the measured queries themselves: an optimistic choice)."""
    import faiss

    n, dim = vectors.shape
    nlist = int(2 ** round(np.log2(4 * np.sqrt(n))))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    sample = np.random.default_rng(3).choice(n, size=min(n, 64 * nlist), replace=False)
    index.train(vectors[np.sort(sample)])
    index.add(vectors)

    def search_with(nprobe: int) -> Any:
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        return lambda q, k: index.search(np.ascontiguousarray(q, dtype=np.float32), k, params=params)

    chosen = IVF_NPROBES[-1]
    for nprobe in IVF_NPROBES:
        if _recall(search_with(nprobe)(queries, K_FACES)[1], exact, 1) >= MIN_RECALL:
            chosen = nprobe
            break
    return index, search_with(chosen), {"nlist": nlist, "nprobe": chosen, "trained_on": int(len(sample))}


def measure_index_scale(
    *, faces: int = 500_000, performers: int = 100_000, dim: int = 512, queries: int = 1000,
    kinds: tuple[str, ...] = ("faiss-flat", "faiss-hnsw", "faiss-ivf"), seed: int = 0, threads: int | None = None,
) -> IndexBenchReport:
    import faiss

    if threads:
        faiss.omp_set_num_threads(threads)
    from ..facedb.index import DEFAULT_HNSW_THRESHOLD

    started = time.monotonic()
    vectors, owner, centres = synthetic_faces(faces, performers, dim, seed)
    q = _queries(centres, queries, seed)
    exact_index = faiss.IndexFlatL2(dim)
    exact_index.add(vectors)
    exact = exact_index.search(q, 10)[1]
    del exact_index
    with tempfile.TemporaryDirectory(prefix="stash-sense-bench-index-") as tmp:
        results = [_measure_kind(kind, vectors, q, exact, Path(tmp)) for kind in kinds]
        np.save(Path(tmp) / "vectors.npy", vectors)
        np.save(Path(tmp) / "owner.npy", owner)
        del vectors
        held = _child("_child_recognizer_rss", str(Path(tmp) / "vectors.npy"), str(Path(tmp) / "owner.npy"))
        disk = measure_disk_cost(Path(tmp), faces=faces, performers=performers, dim=dim)
    built = "faiss-hnsw" if faces >= DEFAULT_HNSW_THRESHOLD else "faiss-flat"
    by_kind = {r.kind: r for r in results}
    # Loaded for serving: the index, plus every face vector and one centroid per performer (the
    # recognizer's performer centroids).
    ram = {"index": by_kind[built].load_rss_bytes if built in by_kind else 0, **held}
    ram["total"] = sum(ram.values())
    return IndexBenchReport(
        faces=faces, performers=performers, dim=dim, threads=int(faiss.omp_get_max_threads()), queries=queries, k=K_FACES,
        data="synthetic: per performer a random unit direction, faces = direction + Gaussian noise (norm 0.6), re-normalised; "
        "queries: new faces of random performers",
        built_by_face_db=built, kinds=results, target_query_ms=TARGET_MS, disk=disk.model_copy(update={
            "index_bytes": by_kind[built].file_bytes if built in by_kind else 0,
            "total_bytes": disk.sqlite_bytes + (by_kind[built].file_bytes if built in by_kind else 0),
        }),
        ram_bytes_when_loaded=ram, seconds=round(time.monotonic() - started, 1),
    )

