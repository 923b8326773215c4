"""Shared by the face-DB release tests: a static file server in a child process (with an external
deadline) that can break a download off half-way, and small tree helpers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from api_helpers import stop_process

TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS.parent / "test-artifacts"
PACK_SIDE_FILES = (".sha256", ".manifest.json")


@contextlib.contextmanager
def static_server(root: Path, *, deadline_s: int = 900) -> Iterator[str]:
    """``root`` served on a free loopback port by ``tests/static_child.py``; yields the base URL.

    coreutils' ``timeout`` ends the server even if this test's cleanup never runs."""
    from stash_sense.benchmark.api_load import free_port

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    env = {**os.environ, "STASH_SENSE_TEST_STATIC": json.dumps({"port": port, "root": str(root)})}
    with (ARTIFACTS / "static-server.log").open("w") as log:
        proc = subprocess.Popen(
            ["timeout", "--kill-after=5", str(deadline_s), sys.executable, str(TESTS / "static_child.py")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the static server exited early (exit {proc.returncode})")
                try:
                    httpx.get(f"{url}/", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
                if time.monotonic() > deadline:
                    raise RuntimeError("the static server did not start within 30 s")
            yield url
        finally:
            stop_process(proc)


def copy_pack(pack: Path, dest_dir: Path, name: str | None = None) -> Path:
    """A pack and the files beside it, copied (optionally renamed) into ``dest_dir``."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / (name or pack.name)
    shutil.copyfile(pack, target)
    for suffix in PACK_SIDE_FILES:
        shutil.copyfile(f"{pack}{suffix}", f"{target}{suffix}")
    return target


def tree_state(path: Path) -> dict[str, object]:
    """What a test compares to say "nothing changed": P's link target (or plain-dir status), and
    every file under P's real directory and P.versions with its bytes' hash."""
    import hashlib

    versions_root = path.parent / f"{path.name}.versions"
    files = {}
    for base in (path.resolve(), versions_root):
        if base.is_dir():
            for item in sorted(base.rglob("*")):
                if item.is_file() and item.name != ".lock":
                    files[str(item)] = hashlib.sha256(item.read_bytes()).hexdigest()
    return {"link": os.readlink(path) if path.is_symlink() else ("dir" if path.is_dir() else None), "files": files}
