"""``stash-sense db ...`` commands, run through the real Typer app on real DB directories."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from facedb_helpers import build_synthetic_db, sha256_tree
from stash_sense.cli import app

FACE_COUNTS = [0, 1, 2, 3, 5, 7, 12]


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture()
def db_dir(tmp_path: Path) -> Path:
    return build_synthetic_db(tmp_path / "db", FACE_COUNTS).directory


def run_json(runner: CliRunner, args: list[str], exit_code: int = 0) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout
    assert isinstance(data, dict)
    return data


def test_stats_json_has_buckets_and_coverage(runner: CliRunner, db_dir: Path) -> None:
    data = run_json(runner, ["db", "stats", "--db", str(db_dir), "--json"])
    assert data["performers"] == 7 and data["faces"] == 30
    assert list(data["buckets"]) == ["0", "1", "2-3", "4-5", "6-10", "11+"]
    assert {k: v["count"] for k, v in data["buckets"].items()} == {
        "0": 1,
        "1": 1,
        "2-3": 2,
        "4-5": 1,
        "6-10": 1,
        "11+": 1,
    }
    assert data["buckets"]["2-3"]["percent"] == 28.57
    assert data["body"] == {"count": 0, "percent": 0.0} and data["tattoos"] == {"count": 0, "percent": 0.0}


def test_stats_human_output_is_a_table(runner: CliRunner, db_dir: Path) -> None:
    result = runner.invoke(app, ["db", "stats", "--db", str(db_dir)])
    assert result.exit_code == 0, result.stderr
    for text in ("2-3", "6-10", "11+", "28.57", "7 performers, 30 faces", "tattoo data: 0"):
        assert text in result.stdout


def test_info_json_summarises_the_manifest(runner: CliRunner, db_dir: Path) -> None:
    data = run_json(runner, ["db", "info", "--db", str(db_dir), "--json"])
    manifest = json.loads((db_dir / "manifest.json").read_text())
    assert data["db_version"] == manifest["db_version"]
    assert data["created_at"] == manifest["created_at"]
    assert data["counts"] == {"performers": 7, "faces": 30, "performers_with_faces": 6}
    assert data["embedding"]["model"] == "test-embedder-v1" and data["embedding"]["dim"] == 64
    assert data["detector"] == "test-detector" and data["sources"] == ["synthetic"]
    assert set(data["files"]) == {"performers.db", "faces.index"}
    for name, entry in data["files"].items():
        assert entry["present"] and entry["size"] == (db_dir / name).stat().st_size
        assert entry["sha256"] == manifest["files"][name]
    human = runner.invoke(app, ["db", "info", "--db", str(db_dir)])
    assert human.exit_code == 0 and manifest["db_version"] in human.stdout and "test-embedder-v1" in human.stdout


def test_verify_ok_then_tampered(runner: CliRunner, db_dir: Path) -> None:
    data = run_json(runner, ["db", "verify", "--db", str(db_dir), "--json"])
    assert data["ok"] is True and data["problems"] == []
    human = runner.invoke(app, ["db", "verify", "--db", str(db_dir)])
    assert human.exit_code == 0 and "verified OK" in human.stdout
    index = db_dir / "faces.index"
    index.write_bytes(index.read_bytes() + b"\0")
    data = run_json(runner, ["db", "verify", "--db", str(db_dir), "--json"], exit_code=1)
    assert data["ok"] is False
    assert any("faces.index: sha256 mismatch" in p for p in data["problems"])
    human = runner.invoke(app, ["db", "verify", "--db", str(db_dir)])
    assert human.exit_code == 1
    assert "faces.index: FAILED" in human.stdout and "sha256 mismatch" in human.stderr


def test_optimize_json_and_source_untouched(runner: CliRunner, db_dir: Path, tmp_path: Path) -> None:
    before = sha256_tree(db_dir)
    out = tmp_path / "opt"
    data = run_json(runner, ["db", "optimize", "--db", str(db_dir), "--min-faces", "3", "--out", str(out), "--json"])
    assert data["ok"] is True
    assert data["before"] == {"performers": 7, "faces": 30}
    assert data["after"] == {"performers": 4, "faces": 27, "performers_with_faces": 4}
    assert sha256_tree(db_dir) == before
    stats = run_json(runner, ["db", "stats", "--db", str(out), "--json"])
    assert stats["buckets"]["0"]["count"] == 0 and stats["performers"] == 4
    # Re-run with another threshold into the same place: needs --force.
    refused = run_json(
        runner, ["db", "optimize", "--db", str(db_dir), "--min-faces", "6", "--out", str(out), "--json"], 1
    )
    assert "--force" in refused["error"]
    again = run_json(
        runner, ["db", "optimize", "--db", str(db_dir), "--min-faces", "6", "--out", str(out), "--force", "--json"]
    )
    assert again["after"]["performers"] == 2 and again["db_version"] != data["db_version"]
    same = runner.invoke(app, ["db", "optimize", "--db", str(db_dir), "--min-faces", "1", "--out", str(db_dir)])
    assert same.exit_code == 1 and "into itself" in same.stderr
    assert sha256_tree(db_dir) == before


@pytest.mark.parametrize("command", ["info", "stats", "verify"])
def test_missing_db_is_a_clear_error(runner: CliRunner, tmp_path: Path, command: str) -> None:
    missing = tmp_path / "nowhere"
    data = run_json(runner, ["db", command, "--db", str(missing), "--json"], exit_code=1)
    assert data["ok"] is False
    text = data.get("error") or " ".join(data["problems"])
    assert "not found" in text and str(missing) in text
    human = runner.invoke(app, ["db", command, "--db", str(missing)])
    assert human.exit_code == 1 and "not found" in human.stderr and "Traceback" not in human.stderr


def test_broken_manifest_is_a_clear_error(runner: CliRunner, db_dir: Path) -> None:
    (db_dir / "manifest.json").write_text("{oops")
    data = run_json(runner, ["db", "info", "--db", str(db_dir), "--json"], exit_code=1)
    assert "not valid JSON" in data["error"] and data["error_type"] == "FaceDBCorruptError"


class _FakeReport(BaseModel):
    performers: int
    faces: int
    skipped: dict[str, int]


def test_build_wraps_build_from_folder(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple] = []

    def build_from_folder(folder: Path, out: Path, *, max_faces_per_performer: int | None, progress: bool = True, embedder: str | None = None):
        assert embedder == "dlib-resnet-v1"  # the configured default, resolved and printed by the CLI
        calls.append((folder, out, max_faces_per_performer, progress))
        print("building face DB ... 3/3")  # progress output must not reach stdout with --json
        return _FakeReport(performers=3, faces=11, skipped={"no face found": 2})

    fake = types.ModuleType("stash_sense.facedb.build")
    fake.build_from_folder = build_from_folder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stash_sense.facedb.build", fake)
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    data = run_json(
        runner,
        ["db", "build", "--from-folder", str(photos), "--out", str(out), "--max-faces-per-performer", "20", "--json"],
    )
    assert data == {"ok": True, "performers": 3, "faces": 11, "skipped": {"no face found": 2}}
    assert calls == [(photos, out, 20, True)]
    assert (
        "building face DB"
        in runner.invoke(app, ["db", "build", "--from-folder", str(photos), "--out", str(out), "--json"]).stderr
    )
    human = runner.invoke(app, ["db", "build", "--from-folder", str(photos), "--out", str(out), "--no-progress"])
    assert human.exit_code == 0 and "faces: 11" in human.stdout and "no face found=2" in human.stdout
    assert calls[-1] == (photos, out, None, False)


def test_build_requires_a_source(runner: CliRunner, tmp_path: Path) -> None:
    data = run_json(runner, ["db", "build", "--out", str(tmp_path / "out"), "--json"], exit_code=1)
    assert "--from-folder" in data["error"]
    data = run_json(
        runner, ["db", "build", "--from-folder", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--json"], 1
    )
    assert "not a directory" in data["error"]


def test_build_failure_is_reported_without_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def build_from_folder(folder: Path, out: Path, *, max_faces_per_performer: int | None, progress: bool = True, embedder: str | None = None):
        raise RuntimeError("worker pool died")

    fake = types.ModuleType("stash_sense.facedb.build")
    fake.build_from_folder = build_from_folder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stash_sense.facedb.build", fake)
    (tmp_path / "photos").mkdir()
    args = ["db", "build", "--from-folder", str(tmp_path / "photos"), "--out", str(tmp_path / "out"), "--json"]
    data = run_json(runner, args, exit_code=1)
    assert data["error_type"] == "RuntimeError" and "worker pool died" in data["error"]
