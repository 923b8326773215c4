"""``stash-sense recommend run|list`` against the Stash emulator (real processes, real HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from api_helpers import STASH_KEY, running_emulator
from duplicates_helpers import planted_library


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory, facedata: Path, stash_schema: Path) -> Path:
    return planted_library(tmp_path_factory, facedata)


def cli(*args: str, env_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(env_dir), "STASH_SENSE_FACE_DB": str(env_dir / "no-facedb")}
    return subprocess.run([sys.executable, "-m", "stash_sense.cli", "recommend", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_run_then_incremental_then_list(planted: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_emulator(planted) as stash_url:
        common = ("--stash", stash_url, "--api-key", STASH_KEY, "--data-dir", str(data), "--json")
        first = cli("run", "scenes", *common, env_dir=tmp_path)
        assert first.returncode == 0, first.stderr
        record = json.loads(first.stdout)
        assert record["mode"] == "full" and record["status"] == "completed" and record["raised"] >= 3
        again = json.loads(cli("run", "duplicate_scenes", *common, env_dir=tmp_path).stdout)
        assert again["mode"] == "incremental" and again["examined"] == 0 and again["examined_ids"] == []
    listed = cli("list", "--type", "scenes", "--data-dir", str(data), "--json", env_dir=tmp_path)
    body = json.loads(listed.stdout)
    assert body["total"] == record["raised"] and body["items"][0]["confidence"] == 1.0
    bad = cli("run", "everything", "--stash", "http://127.0.0.1:9", "--data-dir", str(data), env_dir=tmp_path)
    assert bad.returncode != 0 and "unknown analysis type" in bad.stderr
    no_stash = cli("run", "files", "--data-dir", str(data), env_dir=tmp_path)
    assert no_stash.returncode != 0 and "STASH_URL" in no_stash.stderr
