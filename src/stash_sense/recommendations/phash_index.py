"""Near-duplicate search over 64-bit perceptual hashes by multi-index hashing, never all pairs.

The hash is cut into four 16-bit chunks. Two hashes within Hamming distance ``r`` agree, by the
pigeonhole principle, on at least one chunk to within ``r // 4`` bits. So for every chunk we
bucket all hashes by that chunk's value and, for each query, probe the buckets of the query's
chunk with every flip of up to ``r // 4`` bits (137 probes for r = 10). Bucketing is a counting
sort, probing is array gathers (numpy), and only the probed candidates have their full distance
computed: the work grows with the number of hashes, not with its square.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
_CHUNK_MASK = (1 << CHUNK_BITS) - 1
_POPCOUNT16 = np.array([bin(i).count("1") for i in range(1 << CHUNK_BITS)], dtype=np.uint8)
# Hashes with almost every bit equal come from near-blank frames (black intros, test cards):
# they say nothing about content and would pair every blank video with every other.
MIN_SET_BITS = 6
# A hash value shared by more files than this is a degenerate hash, not a duplicate group.
MAX_SAME_HASH = 32


def popcount64(values: np.ndarray) -> np.ndarray:
    v = values.astype(np.uint64, copy=False)
    total = np.zeros(v.shape, dtype=np.int32)
    for shift in range(0, 64, CHUNK_BITS):
        total += _POPCOUNT16[((v >> np.uint64(shift)) & np.uint64(_CHUNK_MASK)).astype(np.intp)]
    return total


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def _flip_masks(radius: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        for bits in combinations(range(CHUNK_BITS), k):
            m = 0
            for b in bits:
                m |= 1 << b
            masks.append(m)
    return np.array(masks, dtype=np.uint32)


def informative(hashes: np.ndarray) -> np.ndarray:
    """Which hashes can take part: not near-blank, and not shared by a crowd of files."""
    bits = popcount64(hashes)
    ok = (bits >= MIN_SET_BITS) & (bits <= 64 - MIN_SET_BITS)
    if len(hashes):
        values, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        ok &= counts[inverse] <= MAX_SAME_HASH
    return ok


@dataclass(frozen=True)
class NearPairs:
    """Index pairs ``(left[k], right[k])`` with ``left < right`` and their distances."""

    left: np.ndarray
    right: np.ndarray
    distance: np.ndarray
    probed: int  # candidate checks made (the cost, for benchmarks)

    def __len__(self) -> int:
        return int(len(self.left))


def near_pairs(hashes: np.ndarray, max_distance: int, queries: np.ndarray | None = None) -> NearPairs:
    """Pairs of entries of ``hashes`` (uint64) within ``max_distance`` bits.

    With ``queries`` (indices), only pairs with at least one queried entry: what an incremental
    run needs. Uninformative hashes (see :func:`informative`) never pair.
    """
    if not 0 <= max_distance <= 15:
        raise ValueError("max_distance must be between 0 and 15 bits")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(h)
    usable = informative(h)
    q = np.arange(n, dtype=np.int64) if queries is None else np.unique(np.asarray(queries, dtype=np.int64))
    q = q[usable[q]] if len(q) else q
    empty = NearPairs(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int32), 0)
    if n < 2 or len(q) == 0:
        return empty
    masks = _flip_masks(max_distance // CHUNKS)
    keys_out: list[np.ndarray] = []
    probed = 0
    for c in range(CHUNKS):
        chunk = ((h >> np.uint64(c * CHUNK_BITS)) & np.uint64(_CHUNK_MASK)).astype(np.int64)
        chunk_usable = np.where(usable, chunk, -1)
        order = np.argsort(chunk_usable, kind="stable")
        counts = np.bincount(chunk[usable], minlength=1 << CHUNK_BITS)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1])) + int((~usable).sum())  # unusable sort first (-1)
        q_chunk = chunk[q]
        for mask in masks:
            probe = q_chunk ^ int(mask)
            lo, cnt = starts[probe], counts[probe]
            hit = cnt > 0
            if not hit.any():
                continue
            cnt_hit = cnt[hit]
            total = int(cnt_hit.sum())
            probed += total
            qi = np.repeat(q[hit], cnt_hit)
            offsets = np.arange(total) - np.repeat(np.cumsum(cnt_hit) - cnt_hit, cnt_hit)
            cj = order[np.repeat(lo[hit], cnt_hit) + offsets]
            keep = qi != cj
            qi, cj = qi[keep], cj[keep]
            dist = popcount64(h[qi] ^ h[cj])
            close = dist <= max_distance
            if close.any():
                a, b = np.minimum(qi[close], cj[close]), np.maximum(qi[close], cj[close])
                keys_out.append(a * n + b)
    if not keys_out:
        return NearPairs(empty.left, empty.right, empty.distance, probed)
    keys = np.unique(np.concatenate(keys_out))
    left, right = keys // n, keys % n
    return NearPairs(left, right, popcount64(h[left] ^ h[right]), probed)
