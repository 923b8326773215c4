"""Near-duplicate search over 64-bit perceptual hashes by multi-index hashing, never all pairs.

The hash is cut into four 16-bit chunks. Two hashes within Hamming distance ``r`` agree, by the
generalised pigeonhole principle, on at least one chunk to within that chunk's budget (2, 2, 2
and 1 bits for r = 10). So for every chunk we bucket all hashes by that chunk's value and, for
each query, probe the buckets of the query's chunk with every flip within the budget (428
probes for r = 10). Bucketing is a counting sort, probing is array gathers (numpy), and only the
probed candidates have their full distance computed. The probes grow linearly with the number
of hashes; random candidates grow with its square but at 1/65536 of all pairs per probe: about
170 per hash at 50,000 random hashes in a full pass, where each pair is met from one end only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

# Four 16-bit chunks. Fewer, wider chunks leave fewer random candidates per probe but need
# thousands of probes per hash (3 chunks of 21-22 bits: 3588 probes, 4x slower at 50k scenes);
# four chunks need 428 probes, and random candidates only cost a popcount each.
CHUNK_WIDTHS = (16, 16, 16, 16)
CHUNKS = len(CHUNK_WIDTHS)
CHUNK_BITS = 16  # popcount table width
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


def _flip_masks(radius: int, width: int) -> np.ndarray:
    masks = [0]
    for k in range(1, radius + 1):
        for bits in combinations(range(width), k):
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


def chunk_radii(max_distance: int) -> list[int]:
    """Per-chunk flip budgets by the generalised pigeonhole principle: if every chunk differed
    by more than its budget, the hashes would differ by at least ``sum(budgets) + CHUNKS`` bits,
    so budgets summing to ``max_distance - CHUNKS + 1`` are enough (2, 2, 2, 1 for 10 bits).
    A negative budget means the chunk need not be probed at all."""
    need = max_distance - CHUNKS + 1
    base, extra = divmod(need, CHUNKS)
    return [base + (1 if c < extra else 0) for c in range(CHUNKS)]


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
    keys_out: list[np.ndarray] = []
    probed = 0
    hq = h[q]
    self_join = queries is None
    shift = 0
    for width, radius in zip(CHUNK_WIDTHS, chunk_radii(max_distance), strict=True):
        chunk = ((h >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)
        shift += width
        if radius < 0:
            continue
        # Counting sort of the usable entries by this chunk: bucket v is sorted_ids[start[v]:start[v] + count[v]].
        ids = np.flatnonzero(usable)
        sorted_ids = ids[np.argsort(chunk[ids], kind="stable")]
        sorted_h = h[sorted_ids]
        counts = np.bincount(chunk[ids], minlength=1 << width)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        q_chunk = chunk[q]
        for mask in _flip_masks(radius, width):
            probe = q_chunk ^ int(mask)
            lo, cnt = starts[probe], counts[probe]
            if self_join and mask:
                # A pair whose chunks differ by this mask is met from both ends: keep the end
                # with the smaller chunk value, halving the work of a full pass.
                cnt = np.where(probe > q_chunk, cnt, 0)
            # Walk the buckets level by level (nearly all hold 0 or 1 entries), so no
            # per-candidate index arrays are built.
            live = np.flatnonzero(cnt)
            depth = 0
            while len(live):
                probed += len(live)
                pos = lo[live] + depth
                dist = popcount64(hq[live] ^ sorted_h[pos])
                close = dist <= max_distance
                if close.any():
                    qi, cj = q[live[close]], sorted_ids[pos[close]]
                    keep = qi != cj
                    if keep.any():
                        a, b = np.minimum(qi[keep], cj[keep]), np.maximum(qi[keep], cj[keep])
                        keys_out.append(a * n + b)
                depth += 1
                live = live[cnt[live] > depth]
    if not keys_out:
        return NearPairs(empty.left, empty.right, empty.distance, probed)
    keys = np.unique(np.concatenate(keys_out))
    left, right = keys // n, keys % n
    return NearPairs(left, right, popcount64(h[left] ^ h[right]), probed)
