"""``stash-sense db optimize``: export a filtered copy of a face DB.

Filtering happens at export: the source DB is only ever read, so the same full DB can be
exported again with other thresholds. Performer and face ids are kept, so records of the
optimized DB can be traced back to the source.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from stash_sense.facedb.errors import FaceDBExistsError
from stash_sense.facedb.index import DEFAULT_HNSW_THRESHOLD
from stash_sense.facedb.layout import DB_FILE, MANIFEST_FILE
from stash_sense.facedb.manifest import Manifest
from stash_sense.facedb.store import FaceDB
from stash_sense.facedb.writer import FaceDBWriter

log = logging.getLogger(__name__)

_COPY_STATEMENTS = (
    # Faces to keep: the best `cap` faces (by quality, then age) of every performer that has at
    # least `min_faces` faces in the source.
    """CREATE TEMP TABLE keep_faces AS
       SELECT id, performer_id FROM (
           SELECT f.id, f.performer_id,
                  ROW_NUMBER() OVER (PARTITION BY f.performer_id ORDER BY f.quality DESC, f.id) AS face_rank
           FROM src.faces f
           WHERE f.performer_id IN (SELECT id FROM src.performers WHERE face_count >= :min_faces)
       ) WHERE :cap IS NULL OR face_rank <= :cap""",
    """CREATE TEMP TABLE keep_performers AS
       SELECT id FROM src.performers WHERE face_count >= :min_faces""",
    """INSERT INTO main.performers(id, name, disambiguation, gender, country, image_url, face_count,
                                   created_at, updated_at)
       SELECT id, name, disambiguation, gender, country, image_url, 0, created_at, updated_at
       FROM src.performers WHERE id IN (SELECT id FROM temp.keep_performers) ORDER BY id""",
    """INSERT INTO main.performer_ids(performer_id, endpoint, stash_id)
       SELECT performer_id, endpoint, stash_id FROM src.performer_ids
       WHERE performer_id IN (SELECT id FROM temp.keep_performers) ORDER BY rowid""",
    """INSERT INTO main.aliases(performer_id, alias)
       SELECT performer_id, alias FROM src.aliases
       WHERE performer_id IN (SELECT id FROM temp.keep_performers) ORDER BY rowid""",
    """INSERT INTO main.body(performer_id, data)
       SELECT performer_id, data FROM src.body WHERE performer_id IN (SELECT id FROM temp.keep_performers)""",
    """INSERT INTO main.tattoos(performer_id, data)
       SELECT performer_id, data FROM src.tattoos WHERE performer_id IN (SELECT id FROM temp.keep_performers)""",
    # vector_row is renumbered densely by finalize().
    """INSERT INTO main.faces(id, performer_id, vector_row, embedding, source, quality, detector, box, extra,
                              created_at)
       SELECT id, performer_id, NULL, embedding, source, quality, detector, box, extra, created_at
       FROM src.faces WHERE id IN (SELECT id FROM temp.keep_faces) ORDER BY id""",
    """UPDATE main.performers
       SET face_count = (SELECT COUNT(*) FROM main.faces f WHERE f.performer_id = performers.id)""",
)


def _check_paths(source: Path, out: Path, overwrite: bool) -> None:
    src, dst = source.resolve(), out.resolve()
    if dst == src:
        raise FaceDBExistsError(
            f"refusing to optimize {source} into itself: the source DB must stay intact; choose another --out"
        )
    if src in dst.parents:
        raise FaceDBExistsError(f"refusing to write the optimized DB inside the source DB directory {source}")
    if dst.exists() and not dst.is_dir():
        raise FaceDBExistsError(f"output {out} exists and is not a directory")
    if dst.is_dir() and any(dst.iterdir()):
        if not overwrite:
            raise FaceDBExistsError(f"output directory {out} is not empty; choose another --out or pass --force")
        if not ((dst / MANIFEST_FILE).exists() or (dst / DB_FILE).exists()):
            raise FaceDBExistsError(
                f"output directory {out} holds files that are not a face DB; refusing to replace it"
            )


def optimize_db(
    source: Path,
    out: Path,
    *,
    min_faces: int,
    max_faces_per_performer: int | None = None,
    overwrite: bool = False,
    hnsw_threshold: int = DEFAULT_HNSW_THRESHOLD,
) -> Manifest:
    """Write to ``out`` a new DB holding only performers with at least ``min_faces`` faces.

    ``max_faces_per_performer`` additionally keeps only each performer's best faces (by quality).
    The source must be a finished DB that passes verification; it is opened read-only. The new
    DB is assembled in a sibling staging directory and moved into place at the end, so an
    interrupted export never leaves a half-written ``out``. With ``overwrite`` an existing face
    DB at ``out`` is replaced.
    """
    source, out = Path(source), Path(out)
    if min_faces < 0:
        raise ValueError(f"min_faces must be >= 0, got {min_faces}")
    if max_faces_per_performer is not None and max_faces_per_performer < 1:
        raise ValueError(f"max_faces_per_performer must be >= 1, got {max_faces_per_performer}")
    _check_paths(source, out, overwrite)
    with FaceDB.open(source, verify=True) as src_db:
        src_manifest = src_db.manifest
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.optimizing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        writer = FaceDBWriter(staging, src_manifest.embedding.to_model(), src_manifest.detector, resume=False)
        with writer:
            conn = writer.connection
            conn.execute("ATTACH DATABASE ? AS src", (f"{(source / DB_FILE).resolve().as_uri()}?mode=ro",))
            conn.execute("BEGIN IMMEDIATE")
            params = {"min_faces": min_faces, "cap": max_faces_per_performer}
            for statement in _COPY_STATEMENTS:
                conn.execute(statement, params)
            conn.execute("COMMIT")
            conn.execute("DROP TABLE temp.keep_faces")
            conn.execute("DROP TABLE temp.keep_performers")
            conn.execute("DETACH DATABASE src")
            manifest = writer.finalize(
                sources=list(src_manifest.sources),
                calibration=dict(src_manifest.calibration),
                hnsw_threshold=hnsw_threshold,
                optimized_from={
                    "db_version": src_manifest.db_version,
                    "min_faces": min_faces,
                    "max_faces_per_performer": max_faces_per_performer,
                    "performers_before": src_manifest.counts.performers,
                    "faces_before": src_manifest.counts.faces,
                },
            )
        _replace_dir(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info(
        "optimized %s -> %s: %d/%d performers, %d/%d faces",
        source,
        out,
        manifest.counts.performers,
        src_manifest.counts.performers,
        manifest.counts.faces,
        src_manifest.counts.faces,
    )
    return manifest


def _replace_dir(staging: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.replaced-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)
