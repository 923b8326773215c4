"""``bench crawl``'s release section: the ``db update`` just made, shipped as a delta pack.

Packs the updated DB whole and as a delta from the version before the update, installs the old
version and then the delta into a fresh DB path (all through the CLI in child processes), and
checks what the issue asks: the delta is at most 5% of the full pack, the delta on the old
version gives every file of the new one (sha256), the delta on any other version is refused
with nothing changed, and a truncated pack leaves the installed DB untouched.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stash_sense.facedb.layout import CHECKSUMMED_FILES, MANIFEST_FILE
from stash_sense.facedb.versions import current_dir, previous_dir

# The bar: a delta of one update at most this share of the full pack.
DELTA_SHARE_BAR = 0.05


def _cli(args: list[str], timeout_s: float) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "stash_sense.cli", "db", *args, "--json"], capture_output=True, text=True, timeout=timeout_s,
    )
    try:
        return done.returncode, json.loads(done.stdout)
    except ValueError:
        return done.returncode, {"ok": False, "error": f"no JSON: {done.stdout[-300:]!r} {done.stderr[-300:]!r}"}


def _files(directory: Path) -> dict[str, str]:
    return {name: hashlib.sha256((directory / name).read_bytes()).hexdigest()
            for name in (*CHECKSUMMED_FILES, MANIFEST_FILE) if (directory / name).is_file()}


# Below this catalogue size an update's edits are a large share of the DB, and so is its delta.
SHARE_BAR_FROM = 1000


def release_section(db: Path, other: Path, workdir: Path, identities: int, timeout_s: float = 900) -> dict[str, Any]:
    """``db`` was just updated (its previous version is the delta's base); ``other`` is a DB of
    another version (the fresh crawl), on which the delta must be refused."""
    new, old = current_dir(db), previous_dir(db)
    if old is None:
        return {"error": f"{db} has no previous version to diff against", "checks": {"has_previous_version": False}}
    out = workdir / "release"
    out.mkdir(parents=True, exist_ok=True)
    _, full = _cli(["pack", str(new), "--out", str(out / "full.tar.gz")], timeout_s)
    _, base = _cli(["pack", str(old), "--out", str(out / "old.tar.gz")], timeout_s)
    _, delta = _cli(["pack", str(new), "--since", str(old), "--out", str(out / "delta.tar.gz")], timeout_s)
    full_size, delta_size = (out / "full.tar.gz").stat().st_size, (out / "delta.tar.gz").stat().st_size
    target = workdir / "release-install" / "facedb"
    target.parent.mkdir(parents=True, exist_ok=True)
    _cli(["install", str(out / "old.tar.gz"), "--into", str(target), "--no-progress"], timeout_s)
    rc_delta, applied = _cli(["install", str(out / "delta.tar.gz"), "--into", str(target), "--no-progress"], timeout_s)
    same_files = _files(current_dir(target)) == _files(new)
    elsewhere = workdir / "release-other" / "facedb"
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    _cli(["install", str(other), "--into", str(elsewhere), "--no-progress"], timeout_s)
    before_refusal = _files(current_dir(elsewhere))
    rc_again, refused = _cli(["install", str(out / "delta.tar.gz"), "--into", str(elsewhere), "--no-progress"], timeout_s)
    refused_cleanly = rc_again != 0 and _files(current_dir(elsewhere)) == before_refusal
    before_cut = _files(current_dir(target))
    truncated = out / "truncated.tar.gz"
    truncated.write_bytes((out / "old.tar.gz").read_bytes()[: (out / "old.tar.gz").stat().st_size // 2])
    rc_cut, cut = _cli(["install", str(truncated), "--into", str(target), "--no-progress"], timeout_s)
    cut_cleanly = rc_cut != 0 and _files(current_dir(target)) == before_cut
    return {
        "full_pack_bytes": full_size, "delta_pack_bytes": delta_size, "delta_share": round(delta_size / full_size, 4),
        "full": full, "delta": delta, "delta_install": applied,
        "refused_on_other_version": {"exit": rc_again, "error": refused.get("error"), "error_type": refused.get("error_type")},
        "truncated_pack": {"exit": rc_cut, "error": cut.get("error"), "error_type": cut.get("error_type")},
        "checks": {
            **({"delta_at_most_5_percent": delta_size <= DELTA_SHARE_BAR * full_size} if identities >= SHARE_BAR_FROM else {}),
            "delta_install_equals_new_version": rc_delta == 0 and same_files,
            "delta_refused_on_other_version": refused_cleanly,
            "truncated_pack_changes_nothing": cut_cleanly,
        },
    }
