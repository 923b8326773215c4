"""Face-DB releases: the versioned directory, full and delta packs, install with rollback.

The bars are measured on real DBs built from real photos (300 LFW people, one photo each, with the
real detector and embedder): a delta after changing ~1% of the performers is at most 5% of the
full pack; installed on its base it reproduces the new version's files byte for byte; on any
other version it is refused and nothing changes; a corrupted or truncated pack (local or over
HTTP) changes nothing; rollback flips back.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import link_gallery
from facedb_helpers import DETECTOR, MODEL, STASHDB, build_synthetic_db, sha256_tree
from release_helpers import copy_pack, static_server, tree_state
from stash_sense.cli import app
from stash_sense.facedb import FaceDB, FaceDBWriter, Identity, load_manifest, versions
from stash_sense.facedb.errors import FaceDBCorruptError, FaceDBError
from stash_sense.facedb.release_fetch import DownloadError
from stash_sense.facedb.release_install import BaseMismatchError, install
from stash_sense.facedb.release_pack import pack_delta, pack_full

DB_FILES = ("performers.db", "faces.index", "manifest.json")
BASE_PEOPLE = 300


@dataclass(frozen=True)
class Releases:
    v1: Path  # 300 performers, one real face each
    v2: Path  # v1 + 1 newcomer (2 photos), 1 performer deleted, 1 renamed: 3 of 300 changed
    v3: Path  # v2 + 1 more rename
    packs: Path  # full-v1, full-v2, delta-v1-v2, delta-v2-v3 (.tar.gz, each with its side files)

    def pack(self, name: str) -> Path:
        return self.packs / f"{name}.tar.gz"


def _files_sha(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest() for name in DB_FILES}


def _edit(directory: Path, *, delete_first: bool, rename: str) -> None:
    """Change a finished DB the way an update does (no ML): delete the first performer with its
    faces (every later face's index row shifts) and rename another, then finalize."""
    manifest = load_manifest(directory)
    with FaceDBWriter(directory, manifest.embedding.to_model(), manifest.detector) as writer:
        conn = writer.connection
        first = conn.execute("SELECT MIN(id) FROM performers").fetchone()[0]
        if delete_first:
            for table, key in (("faces", "performer_id"), ("aliases", "performer_id"), ("performer_ids", "performer_id"), ("performers", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {key} = ?", (first,))
        renamed = conn.execute("SELECT endpoint, stash_id FROM performer_ids ORDER BY performer_id LIMIT 1 OFFSET 9").fetchone()
        writer.upsert_performer(Identity(*renamed), rename)
        writer.finalize(sources=list(manifest.sources), calibration=dict(manifest.calibration))


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Releases:
    from stash_sense.facedb.build import build_from_folder

    root = tmp_path_factory.mktemp("releases")
    people = facedata / "lfw" / "people"
    names = sorted(p.name for p in people.iterdir() if p.is_dir())
    newcomer = next(n for n in names[BASE_PEOPLE:] if len(list((people / n).iterdir())) >= 2)
    gallery = link_gallery(people, root / "gallery", {name: 1 for name in names[:BASE_PEOPLE]})
    v1, v2, v3 = root / "v1", root / "v2", root / "v3"
    build_from_folder(gallery, v1, progress=False, workers=1)
    link_gallery(people, gallery, {newcomer: 2})
    shutil.copytree(v1, v2)
    build_from_folder(gallery, v2, progress=False, workers=1)  # resumes: only the newcomer's photos
    _edit(v2, delete_first=True, rename="Renamed Performer")
    shutil.copytree(v2, v3)
    _edit(v3, delete_first=False, rename="Renamed Again")
    packs = root / "packs"
    pack_full(v1, packs / "full-v1.tar.gz")
    pack_full(v2, packs / "full-v2.tar.gz")
    pack_delta(v1, v2, packs / "delta-v1-v2.tar.gz")
    pack_delta(v2, v3, packs / "delta-v2-v3.tar.gz")
    return Releases(v1, v2, v3, packs)


def _installed(tmp_path: Path, releases: Releases, version: str = "full-v1") -> Path:
    target = tmp_path / "data" / "facedb"
    install(str(releases.pack(version)), target)
    return target


# -- reproducible files ------------------------------------------------------------------------------


def test_same_content_gives_the_same_bytes_whatever_the_history(tmp_path: Path) -> None:
    """A delta applied on a client must reproduce the release's files: finalize writes a canonical
    performers.db, so the history behind the rows does not show in the bytes."""
    counts = [3, 2, 4, 1, 5, 2, 3, 4, 2, 6]
    plain = build_synthetic_db(tmp_path / "plain", counts)
    detour = build_synthetic_db(tmp_path / "detour", counts)
    rng = np.random.default_rng(11)
    with FaceDBWriter(detour.directory, MODEL, DETECTOR) as writer:
        # Rows that come and go leave free pages and a longer history behind; the content ends equal.
        for i in range(40):
            pid = writer.upsert_performer(Identity(STASHDB, f"temp-{i}"), f"Temp {i}", aliases=["x"])
            vec = rng.standard_normal(MODEL.dim).astype(np.float32)
            writer.add_face(pid, vec / np.linalg.norm(vec), source=f"/tmp/{i}.jpg", quality=0.5, detector=DETECTOR)
        writer.commit()
        conn = writer.connection
        conn.execute("BEGIN")
        for table, key in (("faces", "performer_id"), ("aliases", "performer_id"), ("performer_ids", "performer_id"), ("performers", "id")):
            conn.execute(f"DELETE FROM {table} WHERE {key} > ?", (len(counts),))
        conn.execute("COMMIT")
        # Re-running an upsert that changes nothing leaves the row alone (updated_at included).
        writer.upsert_performer(Identity(STASHDB, "uuid-0000"), "Performer 0", gender="FEMALE")
        again = writer.finalize(sources=["synthetic"], calibration={"kind": "test", "scale": 2.0})
    assert again.files == plain.manifest.files
    for name in ("performers.db", "faces.index"):
        assert (plain.directory / name).read_bytes() == (detour.directory / name).read_bytes(), name
    assert not [p.name for p in detour.directory.iterdir() if p.name not in DB_FILES]  # no WAL, no temp file left


def test_hnsw_index_builds_are_reproducible(tmp_path: Path) -> None:
    from stash_sense.facedb.index import build_index, build_index_like

    vectors = np.random.default_rng(5).standard_normal((3000, 64)).astype(np.float32)
    first, second = build_index(vectors, hnsw_threshold=1000), build_index(vectors, hnsw_threshold=1000)
    assert first.kind == "faiss-hnsw"
    first.save(tmp_path / "a")
    second.save(tmp_path / "b")
    build_index_like(vectors, dim=64, kind=first.kind, params=first.params).save(tmp_path / "c")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes() == (tmp_path / "c").read_bytes()


# -- the bars ---------------------------------------------------------------------------------------


def test_delta_is_small_and_reproduces_the_new_version_exactly(releases: Releases, tmp_path: Path) -> None:
    full = releases.pack("full-v2").stat().st_size
    delta = releases.pack("delta-v1-v2").stat().st_size
    sizes = {"full_v1": releases.pack("full-v1").stat().st_size, "full_v2": full, "delta_v1_v2": delta,
             "delta_pct": round(100 * delta / full, 2), "performers": load_manifest(releases.v2).counts.performers}
    print("release pack sizes:", json.dumps(sizes))
    assert delta <= 0.05 * full, sizes

    target = _installed(tmp_path, releases)
    report = install(str(releases.pack("delta-v1-v2")), target)
    assert report.kind == "delta" and report.sha256_verified
    assert report.previous_version == load_manifest(releases.v1).db_version
    assert report.db_version == load_manifest(releases.v2).db_version
    assert target.is_symlink() and not os.path.isabs(os.readlink(target))
    assert _files_sha(target) == _files_sha(releases.v2)  # byte-identical to the release, manifest included
    with FaceDB.open(target, verify=True) as db:
        assert len(db.performers([1])) == 0  # the deleted performer is gone
        assert any(r.name == "Renamed Performer" for r in db.performers(range(1, 400)).values())
    # Its own manifest's version, reached by a second delta on top.
    install(str(releases.pack("delta-v2-v3")), target)
    assert _files_sha(target) == _files_sha(releases.v3)


def test_a_delta_for_another_version_is_refused_and_nothing_changes(releases: Releases, tmp_path: Path) -> None:
    target = _installed(tmp_path, releases)  # v1
    before = tree_state(target)
    with pytest.raises(BaseMismatchError) as info:
        install(str(releases.pack("delta-v2-v3")), target)
    message = str(info.value)
    assert load_manifest(releases.v2).db_version in message and load_manifest(releases.v1).db_version in message
    assert "nothing was changed" in message
    assert tree_state(target) == before
    # The same holds when only pack.json can tell (no .manifest.json beside the pack).
    bare = tmp_path / "bare" / "delta.tar.gz"
    bare.parent.mkdir()
    shutil.copyfile(releases.pack("delta-v2-v3"), bare)
    with pytest.raises(BaseMismatchError):
        install(str(bare), target)
    assert tree_state(target) == before
    assert not [p for p in versions.versions_root(target).iterdir() if p.name.startswith(".staging-")]


@pytest.mark.parametrize("damage", ["truncated", "flipped-byte", "flipped-byte-no-sha256"])
def test_a_damaged_pack_leaves_the_installed_db_untouched(releases: Releases, tmp_path: Path, damage: str) -> None:
    target = _installed(tmp_path, releases)
    before = tree_state(target)
    for name in ("delta-v1-v2", "full-v2"):
        broken = copy_pack(releases.pack(name), tmp_path / "broken" / damage)
        data = bytearray(broken.read_bytes())
        if damage == "truncated":
            del data[len(data) // 2 :]
        else:
            data[len(data) // 2] ^= 0xFF
        broken.write_bytes(bytes(data))
        if damage.endswith("no-sha256"):
            # Without the side files only the archive itself can tell: gzip's CRC and pack.json's sums.
            for suffix in (".sha256", ".manifest.json"):
                Path(f"{broken}{suffix}").unlink()
        with pytest.raises(FaceDBCorruptError, match="damaged|truncated|corrupted"):
            install(str(broken), target)
        assert tree_state(target) == before, name
    with FaceDB.open(target, verify=True) as db:
        assert db.version == load_manifest(releases.v1).db_version


def test_rollback_flips_back_and_versions_are_pruned(releases: Releases, tmp_path: Path) -> None:
    target = _installed(tmp_path, releases)
    v1, v2, v3 = (load_manifest(d).db_version for d in (releases.v1, releases.v2, releases.v3))
    install(str(releases.pack("delta-v1-v2")), target)
    assert versions.previous_dir(target) == versions.versions_root(target) / v1
    # A reader that opened v2 keeps reading it through the next publishes.
    reader = FaceDB.open(versions.current_dir(target))
    install(str(releases.pack("delta-v2-v3")), target)
    # Two versions made in the same second sort by their content hash: compare as a set.
    assert {(e.version, e.current, e.previous) for e in versions.list_versions(target)} == {(v2, False, True), (v3, True, False)}
    install(str(releases.pack("full-v1")), target)  # v2 is pruned now
    assert {e.version for e in versions.list_versions(target)} == {v3, v1}
    assert len(reader.performers([2, 3])) == 2 and reader.version == v2
    reader.close()

    assert versions.rollback(target).name == v3
    assert _files_sha(target) == _files_sha(releases.v3)
    assert versions.rollback(target).name == v1  # a second rollback undoes the first
    assert _files_sha(target) == _files_sha(releases.v1)


def test_a_plain_db_folder_is_adopted_into_the_versioned_layout(releases: Releases, tmp_path: Path) -> None:
    target = tmp_path / "facedb"
    shutil.copytree(releases.v1, target)  # what `db build --out` leaves
    assert versions.current_dir(target) == target.resolve()
    install(str(releases.pack("delta-v1-v2")), target)
    v1, v2 = load_manifest(releases.v1).db_version, load_manifest(releases.v2).db_version
    assert os.readlink(target) == f"facedb.versions/{v2}"
    assert _files_sha(versions.versions_root(target) / v1) == _files_sha(releases.v1)
    assert versions.rollback(target).name == v1


def test_install_from_a_folder_and_reinstall_is_a_no_op(releases: Releases, tmp_path: Path) -> None:
    target = tmp_path / "facedb"
    first = install(str(releases.v2), target)
    assert first.kind == "folder" and _files_sha(target) == _files_sha(releases.v2)
    before = tree_state(target)
    again = install(str(releases.pack("full-v2")), target)
    assert again.up_to_date and tree_state(target) == before


# -- over HTTP ---------------------------------------------------------------------------------------


def test_install_from_a_url_with_progress_and_a_broken_download(releases: Releases, tmp_path: Path) -> None:
    served = tmp_path / "served"
    delta = copy_pack(releases.pack("delta-v1-v2"), served)
    full = copy_pack(releases.pack("full-v2"), served, "cut-short.tar.gz")
    (served / "cut-short.tar.gz.truncate").write_text(str(full.stat().st_size // 3))
    target = _installed(tmp_path, releases)
    before = tree_state(target)
    with static_server(served) as url:
        with pytest.raises(DownloadError, match="ended after|broke off"):
            install(f"{url}/cut-short.tar.gz", target)
        assert tree_state(target) == before
        with pytest.raises(FaceDBError, match="not found|404"):
            install(f"{url}/missing.tar.gz", target)
        seen: list[tuple[int, int | None]] = []
        report = install(f"{url}/{delta.name}.manifest.json", target, progress=lambda done, total: seen.append((done, total)))
    assert report.sha256_verified and report.db_version == load_manifest(releases.v2).db_version
    assert seen and seen[-1] == (delta.stat().st_size, delta.stat().st_size)
    assert _files_sha(target) == _files_sha(releases.v2)


# -- staging -----------------------------------------------------------------------------------------

_CRASH_WHILE_STAGING = textwrap.dedent(
    """
    import os, sys
    from stash_sense.facedb import versions
    staged = versions.stage(sys.argv[1])
    (staged / "half-written").write_bytes(b"x" * 100)
    print(staged, flush=True)
    os._exit(3)
    """
)


def test_stage_copies_the_current_version_and_removes_only_stale_staging_dirs(releases: Releases, tmp_path: Path) -> None:
    target = _installed(tmp_path, releases)
    crashed = subprocess.run([sys.executable, "-c", _CRASH_WHILE_STAGING, str(target)], capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 3, crashed.stderr
    stale = Path(crashed.stdout.strip())
    assert stale.is_dir()
    live = versions.stage(target)  # held by this process while it is filled
    try:
        assert not stale.exists()
        assert sha256_tree(live) == {n: h for n, h in _files_sha(target).items()} | {".lock": hashlib.sha256(b"").hexdigest()}
        other = versions.stage(target, copy=False)
        assert live.is_dir() and not [p for p in other.iterdir() if p.name != ".lock"]
        versions.discard(other)
    finally:
        versions.discard(live)
    assert not [p for p in versions.versions_root(target).iterdir() if p.name.startswith(".staging-")]


# -- the command line --------------------------------------------------------------------------------


def _cli(args: list[str], exit_code: int = 0) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_cli_pack_install_rollback(releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    full = _cli(["db", "pack", str(releases.v1), "--out", str(out / "v1.tar.gz"), "--json"])
    delta = _cli(["db", "pack", str(releases.v2), "--since", str(out / "v1.tar.gz.manifest.json"), "--out", str(out / "d.tar.gz"), "--json"])
    assert full["kind"] == "full" and delta["kind"] == "delta" and delta["base_version"] == full["db_version"]
    # Packs are reproducible too: the same release written twice is the same file.
    assert (out / "d.tar.gz").read_bytes() == releases.pack("delta-v1-v2").read_bytes()
    assert json.loads((out / "d.tar.gz.manifest.json").read_text())["pack"]["size"] == delta["size"]
    assert (out / "d.tar.gz.sha256").read_text().split()[0] == delta["sha256"]

    monkeypatch.setenv("STASH_SENSE_FACE_DB", str(tmp_path / "data" / "facedb"))  # --into defaults to it
    assert _cli(["db", "install", str(out / "v1.tar.gz"), "--no-progress", "--json"])["db_version"] == full["db_version"]
    refused = _cli(["db", "install", str(releases.pack("delta-v2-v3")), "--no-progress", "--json"], exit_code=1)
    assert refused["error_type"] == "BaseMismatchError" and full["db_version"] in refused["error"]
    assert _cli(["db", "install", str(out / "d.tar.gz"), "--json"])["kind"] == "delta"
    listed = _cli(["db", "versions", "--json"])
    assert {(v["version"], v["current"]) for v in listed["versions"]} == {(full["db_version"], False), (delta["db_version"], True)}
    back = _cli(["db", "rollback", "--json"])
    assert back["db_version"] == full["db_version"] and back["previous_version"] == delta["db_version"]


_HOLD_THE_LOCK = textwrap.dedent(
    """
    import sys, time
    from stash_sense.facedb import versions
    with versions.locked(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_one_install_at_a_time_across_processes(releases: Releases, tmp_path: Path) -> None:
    target = _installed(tmp_path, releases)
    with versions.locked(target), versions.locked(target):  # re-entrant within a thread
        pass
    # The child ends by itself after 30 s (its own deadline) if the kill below never comes.
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_THE_LOCK, str(target), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(versions.VersionError, match="another install"), versions.locked(target, wait_s=0.5):
            pass
    finally:
        holder.kill()
        holder.wait(30)
    with versions.locked(target, wait_s=5):  # free again once its holder is gone
        pass
