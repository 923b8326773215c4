"""Disk cost of a face DB's SQLite file, per performer and per face, extrapolated to any size.

Three small DBs are written with the real writer (performers with a stash-box identity, a name,
two aliases, gender, country and an image URL; faces with their 512-d blob, source URL, quality,
box and pose), and ``bytes = fixed + per_performer * P + per_face * F`` is solved from them. The
index file is measured at full size by the caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel

# (performers, faces) of the three DBs: two ratios of faces per performer, two sizes.
_SIZES = ((400, 2_000), (1_200, 2_000), (1_200, 6_000))


class DiskCost(BaseModel):
    measured_on: list[dict[str, int]]  # performers, faces, bytes of each small DB
    sqlite_fixed_bytes: int
    sqlite_bytes_per_performer: float
    sqlite_bytes_per_face: float
    performers: int
    faces: int
    sqlite_bytes: int  # extrapolated to performers x faces
    index_bytes: int = 0  # the index the face DB builds at this size (measured)
    total_bytes: int = 0


def _write_db(directory: Path, performers: int, faces: int, dim: int) -> int:
    from ..facedb import EmbeddingModelInfo, FaceDBWriter, Identity
    from ..facedb.layout import DB_FILE

    model = EmbeddingModelInfo(model="bench-synthetic", dim=dim, preprocessing="synthetic", normalized=True)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((faces, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with FaceDBWriter(directory, model, "bench-detector", resume=False) as writer:
        ids = [
            writer.upsert_performer(
                Identity("https://stashdb.org/graphql", f"{i:08x}-0000-4000-8000-{i:012x}"), f"Performer Name {i}",
                aliases=[f"Alias {i}", f"Other Alias {i}"], gender="FEMALE", country="US",
                image_url=f"https://cdn.stashdb.org/images/{i:08x}/{i:04x}.jpg",
            )
            for i in range(performers)
        ]
        for j, vector in enumerate(vectors):
            writer.add_face(
                ids[j % performers], vector, source=f"https://cdn.stashdb.org/images/{j:08x}/{j:08x}-face.jpg",
                quality=0.5 + (j % 50) / 100, detector="bench-detector", box=[120, 80, 180, 180], extra={"yaw": 3.5, "pitch": -2.0},
            )
        writer.finalize(sources=["bench"], calibration={})
    return (directory / DB_FILE).stat().st_size


def measure_disk_cost(workdir: Path, *, faces: int, performers: int, dim: int) -> DiskCost:
    measured = [{"performers": p, "faces": f, "bytes": _write_db(workdir / f"db-{p}-{f}", p, f, dim)} for p, f in _SIZES]
    design = np.array([[1.0, m["performers"], m["faces"]] for m in measured])
    fixed, per_performer, per_face = np.linalg.solve(design, np.array([float(m["bytes"]) for m in measured]))
    return DiskCost(
        measured_on=measured, sqlite_fixed_bytes=int(fixed), sqlite_bytes_per_performer=round(float(per_performer), 1),
        sqlite_bytes_per_face=round(float(per_face), 1), performers=performers, faces=faces,
        sqlite_bytes=int(fixed + per_performer * performers + per_face * faces),
    )
