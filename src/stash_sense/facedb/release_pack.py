"""Release packs of a face DB: one ``.tar.gz`` per release, full or delta.

A pack holds ``pack.json`` first (what the pack is: full or delta, the version it makes, for a
delta the version it applies to, and the sha256 of every other member), then ``manifest.json``
(the new version's manifest, byte for byte) and either the DB files (``performers.db``,
``faces.index``: a full pack) or ``delta.db`` (a delta pack, see
:mod:`stash_sense.facedb.release_delta`). Beside the pack ``FILE`` go ``FILE.sha256`` (as
``sha256sum`` writes it) and ``FILE.manifest.json`` (the new manifest plus a ``pack`` section),
so a client learns the version, size and kind without downloading the pack.

Packs are reproducible: members are written with fixed metadata and gzip without a timestamp,
so the same DB gives the same pack bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBError, FaceDBNotFoundError
from stash_sense.facedb.layout import CHECKSUMMED_FILES, DB_FILE, MANIFEST_FILE, sha256_file
from stash_sense.facedb.manifest import Manifest, load_manifest
from stash_sense.facedb.release_delta import DeltaStats, apply_delta_dir, make_delta
from stash_sense.facedb.verify import verify_db

PACK_FORMAT = 1
PACK_INFO = "pack.json"
DELTA_FILE = "delta.db"
SHA256_SUFFIX = ".sha256"
MANIFEST_SUFFIX = ".manifest.json"
# The only names a pack may hold: extraction never writes anything else, anywhere else.
MEMBER_NAMES = frozenset({PACK_INFO, MANIFEST_FILE, *CHECKSUMMED_FILES, DELTA_FILE})
_CHUNK = 1 << 20


class PackInfo(BaseModel):
    """``pack.json``: what the pack is, inside the pack."""

    format: int = PACK_FORMAT
    kind: Literal["full", "delta"]
    db_version: str
    base_version: str | None = None
    base_files: dict[str, str] = Field(default_factory=dict, description="sha256 of the base version's files (delta)")
    files: dict[str, str] = Field(description="sha256 of every other member")


class PackSummary(BaseModel):
    """The ``pack`` section of ``FILE.manifest.json``: what a client needs to decide to download."""

    format: int = PACK_FORMAT
    kind: Literal["full", "delta"]
    file: str
    size: int
    sha256: str
    base_version: str | None = None


class ReleaseManifest(BaseModel):
    """``FILE.manifest.json``: the new version's manifest and the pack that carries it."""

    manifest: Manifest
    pack: PackSummary

    @classmethod
    def parse(cls, raw: Any, where: str) -> ReleaseManifest:
        if not isinstance(raw, dict) or not isinstance(raw.get("pack"), dict):
            raise FaceDBCorruptError(f"{where} is not a face-DB release manifest (no 'pack' section)")
        data = dict(raw)
        pack = data.pop("pack")
        try:
            return cls(manifest=Manifest.model_validate(data), pack=PackSummary.model_validate(pack))
        except ValidationError as exc:
            raise FaceDBCorruptError(f"{where} is not a valid face-DB release manifest: {exc.errors()[0]['msg']}") from exc

    def to_json(self) -> str:
        return json.dumps({**self.manifest.model_dump(mode="json"), "pack": self.pack.model_dump(mode="json")}, indent=2) + "\n"


class PackResult(BaseModel):
    path: str
    kind: Literal["full", "delta"]
    db_version: str
    base_version: str | None
    size: int
    sha256: str
    counts: dict[str, int]
    delta_rows: dict[str, dict[str, int]] | None = None


# -- writing ---------------------------------------------------------------------------------


def _tar_member(tar: tarfile.TarFile, name: str, source: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = size, 0, 0o644, 0, 0, "", ""
    tar.addfile(info, source)


def _write_archive(out: Path, info: PackInfo, members: dict[str, Path]) -> None:
    """``pack.json`` then ``members`` (name -> file), into ``out`` (replaced atomically)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
                header = info.model_dump_json(indent=2).encode("utf-8")
                _tar_member(tar, PACK_INFO, io.BytesIO(header), len(header))
                for name, path in members.items():
                    with path.open("rb") as handle:
                        _tar_member(tar, name, handle, path.stat().st_size)
        os.chmod(tmp_name, 0o644)  # a release is for publishing (mkstemp makes it private)
        os.replace(tmp_name, out)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _write_beside(out: Path, manifest: Manifest, info: PackInfo) -> tuple[str, int]:
    digest = sha256_file(out)
    size = out.stat().st_size
    Path(f"{out}{SHA256_SUFFIX}").write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    summary = PackSummary(kind=info.kind, file=out.name, size=size, sha256=digest, base_version=info.base_version)
    Path(f"{out}{MANIFEST_SUFFIX}").write_text(ReleaseManifest(manifest=manifest, pack=summary).to_json(), encoding="utf-8")
    return digest, size


def _checked_db(db_dir: Path, what: str) -> Manifest:
    report = verify_db(db_dir)
    if not report.ok:
        raise FaceDBCorruptError(f"{what} {db_dir} failed verification: " + "; ".join(report.problems[:3]))
    return load_manifest(db_dir)


def pack_full(db_dir: Path, out: Path) -> PackResult:
    """Write a full pack of the (verified) DB in ``db_dir`` to ``out``."""
    db_dir = Path(db_dir)
    manifest = _checked_db(db_dir, "face DB")
    members = {MANIFEST_FILE: db_dir / MANIFEST_FILE, **{name: db_dir / name for name in CHECKSUMMED_FILES}}
    info = PackInfo(kind="full", db_version=manifest.db_version, files={n: sha256_file(p) for n, p in members.items()})
    _write_archive(out, info, members)
    digest, size = _write_beside(out, manifest, info)
    return PackResult(
        path=str(out), kind="full", db_version=manifest.db_version, base_version=None, size=size, sha256=digest,
        counts=manifest.counts.model_dump(),
    )


def pack_delta(old_dir: Path, db_dir: Path, out: Path) -> PackResult:
    """Write a delta pack turning the DB in ``old_dir`` into the one in ``db_dir``.

    Before anything is written the delta is applied to a copy of the old DB here, and the pack is
    refused unless that reproduces the new files exactly: a client can then only fail on a
    damaged download or a different base, never on the delta itself.
    """
    db_dir, old_dir = Path(db_dir), Path(old_dir)
    manifest = _checked_db(db_dir, "face DB")
    old = _checked_db(old_dir, "base face DB")
    if old.db_version == manifest.db_version:
        raise FaceDBError(f"{old_dir} and {db_dir} are the same version ({old.db_version}): nothing to put in a delta")
    if old.embedding.to_model() != manifest.embedding.to_model():
        raise FaceDBError(
            f"{old_dir} holds {old.embedding.model} embeddings and {db_dir} {manifest.embedding.model}: "
            "a delta cannot change the model, publish a full pack"
        )
    with tempfile.TemporaryDirectory(prefix=".delta-", dir=out.parent if out.parent.is_dir() else None) as tmp:
        work = Path(tmp)
        delta = work / DELTA_FILE
        stats = make_delta(old_dir / DB_FILE, db_dir / DB_FILE, delta)
        trial = work / "trial"
        trial.mkdir()
        for name in (*CHECKSUMMED_FILES, MANIFEST_FILE):
            shutil.copyfile(old_dir / name, trial / name)
        shutil.copyfile(db_dir / MANIFEST_FILE, work / MANIFEST_FILE)
        apply_delta_dir(trial, delta, work / MANIFEST_FILE)
        members = {MANIFEST_FILE: db_dir / MANIFEST_FILE, DELTA_FILE: delta}
        info = PackInfo(
            kind="delta", db_version=manifest.db_version, base_version=old.db_version,
            base_files={name: old.files[name] for name in CHECKSUMMED_FILES},
            files={name: sha256_file(path) for name, path in members.items()},
        )
        _write_archive(out, info, members)
    digest, size = _write_beside(out, manifest, info)
    return PackResult(
        path=str(out), kind="delta", db_version=manifest.db_version, base_version=old.db_version, size=size, sha256=digest,
        counts=manifest.counts.model_dump(), delta_rows=_rows(stats),
    )


def _rows(stats: DeltaStats) -> dict[str, dict[str, int]]:
    return {table: {"deleted": stats.deleted[table], "put": stats.put[table]} for table in stats.put}


# -- reading ---------------------------------------------------------------------------------


def _copy_hashed(source: IO[bytes], dest: Path) -> str:
    digest = hashlib.sha256()
    with dest.open("wb") as handle:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest()


def _read_info(tar: tarfile.TarFile, pack: Path) -> PackInfo:
    first = tar.next()
    if first is None or first.name != PACK_INFO or not first.isfile():
        raise FaceDBCorruptError(f"{pack} is not a face-DB pack (it does not start with {PACK_INFO})")
    handle = tar.extractfile(first)
    assert handle is not None  # a regular file always has contents
    try:
        info = PackInfo.model_validate_json(handle.read())
    except ValidationError as exc:
        raise FaceDBCorruptError(f"{pack}: {PACK_INFO} is not valid ({exc.errors()[0]['msg']})") from exc
    if info.format > PACK_FORMAT:
        raise FaceDBCorruptError(f"{pack} uses pack format {info.format}; this Stash Sense reads up to {PACK_FORMAT}: upgrade it")
    return info


def read_pack_info(pack: Path) -> PackInfo:
    """``pack.json`` of a pack, reading no further than it."""
    with _open_tar(pack) as tar:
        return _read_info(tar, pack)


@contextmanager
def _open_tar(pack: Path) -> Iterator[tarfile.TarFile]:
    if not Path(pack).is_file():
        raise FaceDBNotFoundError(f"pack not found: {pack}")
    try:
        # Streaming mode: members are read in order, once; nothing is seeked or listed ahead.
        with tarfile.open(pack, mode="r|gz") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise FaceDBCorruptError(f"{pack} is truncated or corrupted ({type(exc).__name__}: {exc}); download it again") from exc


def extract_pack(pack: Path, dest: Path, *, check: Any = None) -> PackInfo:
    """Unpack ``pack`` into ``dest``, checking every member's sha256 against ``pack.json``.

    ``check(info)`` runs right after ``pack.json`` is read (before anything is written), e.g. to
    refuse a delta for another base. Only the known member names are written, as plain files.
    """
    with _open_tar(pack) as tar:
        info = _read_info(tar, pack)
        if check is not None:
            check(info)
        seen: dict[str, str] = {}
        while (member := tar.next()) is not None:
            if member.name not in MEMBER_NAMES or member.name == PACK_INFO or not member.isfile() or member.name in seen:
                raise FaceDBCorruptError(f"{pack} holds an unexpected member {member.name!r}; refusing to unpack it")
            handle = tar.extractfile(member)
            assert handle is not None
            seen[member.name] = _copy_hashed(handle, dest / member.name)
    if seen != info.files:
        wrong = sorted(name for name in set(seen) | set(info.files) if seen.get(name) != info.files.get(name))
        raise FaceDBCorruptError(f"{pack} is damaged: {', '.join(wrong)} missing or not what {PACK_INFO} says")
    return info
