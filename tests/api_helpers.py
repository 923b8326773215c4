"""Shared assets for the sidecar API tests: a tiny sample library (real celeb17 photos, short
H.264 scenes), a face DB built from its gallery with the real pipeline, a second DB version
for hot swaps, and helpers that run the emulator and the sidecar on loopback.

Building the assets takes ~15 s, so they are made once per test session and shared by every
``test_api*`` module.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator_helpers import make_library, performer_stash_id

STASH_KEY = "stash-key-for-tests"
SIDECAR_KEY = "sidecar-key-for-tests"

_lock = threading.Lock()
_cache: dict[str, Any] = {}


@dataclass(frozen=True)
class ApiAssets:
    library: Path  # emulator library: 4 performers, 3 scenes
    face_db: Path  # built from library/gallery (identities local:gallery#<name>)
    face_db_v2: Path  # the same performers with fewer faces: another db_version
    big_library: Path  # the library with its scenes repeated (12 scenes) for bulk-job tests


def _extend_library(source: Path, target: Path, copies: int) -> Path:
    """``source`` with every scene repeated ``copies`` times (new ids, files and stash ids)."""
    shutil.copytree(source, target)
    data = json.loads((target / "library.json").read_text())
    scenes = list(data["scenes"])
    next_id = max(int(s["id"]) for s in scenes) + 1
    for copy in range(1, copies):
        for scene in data["scenes"][: len(scenes)]:
            new = json.loads(json.dumps(scene))
            new["id"] = str(next_id)
            new["title"] = f"{scene['title']} (copy {copy})"
            new["stash_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"stash-sense-api-test/scene/{next_id}"))
            new_file = f"scenes/scene_{next_id:04d}.mp4"
            shutil.copyfile(target / scene["file"], target / new_file)
            new["file"] = new_file
            scenes.append(new)
            next_id += 1
    data["scenes"] = scenes
    (target / "library.json").write_text(json.dumps(data, indent=2))
    return target


def api_assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> ApiAssets:
    """Build (once per session) and return the shared assets."""
    with _lock:
        if "assets" not in _cache:
            from stash_sense.facedb import optimize_db
            from stash_sense.facedb.build import build_from_folder

            root = tmp_path_factory.mktemp("api-assets")
            library = make_library(root / "library", facedata)
            face_db = root / "facedb"
            build_from_folder(library / "gallery", face_db, progress=False, workers=1)
            face_db_v2 = root / "facedb-v2"
            optimize_db(face_db, face_db_v2, min_faces=0, max_faces_per_performer=2)
            big = _extend_library(library, root / "big-library", copies=4)
            _cache["assets"] = ApiAssets(library, face_db, face_db_v2, big)
        return _cache["assets"]


def stashdb_identity(performer_id: int) -> str:
    return f"https://stashdb.org/graphql#{performer_stash_id(performer_id)}"


def sidecar_settings(data_dir: Path, face_db: Path | None, *, stash_url: str | None = None, api_key: str | None = SIDECAR_KEY, **extra: Any):
    from stash_sense.api.settings import load_settings

    env = {"STASH_SENSE_DATA_DIR": str(data_dir), "STASH_SENSE_DB_WATCH_INTERVAL": "0"}
    if face_db is not None:
        env["STASH_SENSE_FACE_DB"] = str(face_db)
    else:
        env["STASH_SENSE_FACE_DB"] = str(data_dir / "no-facedb-here")
    if stash_url:
        env["STASH_URL"] = stash_url
        env["STASH_API_KEY"] = STASH_KEY
    if api_key:
        env["STASH_SENSE_API_KEY"] = api_key
    return load_settings(env=env, overrides=extra)


@contextlib.contextmanager
def running_sidecar(settings: Any) -> Iterator[tuple[str, Any]]:
    """The sidecar app served by uvicorn on a free loopback port: yields (base URL, app)."""
    from stash_sense.api.app import create_app
    from stash_sense.devtools.emulator import run_in_thread

    app = create_app(settings)
    with run_in_thread(app) as url:
        yield url, app


@contextlib.contextmanager
def running_emulator(library: Path, state_db: Path | None = None) -> Iterator[str]:
    from stash_sense.devtools.emulator import create_app, run_in_thread

    with run_in_thread(create_app(library, api_key=STASH_KEY, state_db=state_db)) as url:
        yield url


def client(url: str, key: str | None = SIDECAR_KEY, timeout: float = 180.0) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": key} if key else {}, timeout=timeout)


def heldout_image(library: Path, performer_index: int = 0) -> bytes:
    data = json.loads((library / "library.json").read_text())
    return (library / data["performers"][performer_index]["heldout_images"][0]).read_bytes()


def stash_scene_performers(stash_url: str, scene_id: str) -> list[str]:
    response = httpx.post(
        f"{stash_url}/graphql", headers={"ApiKey": STASH_KEY}, timeout=30,
        json={"query": "query($id: ID!) { findScene(id: $id) { performers { id } } }", "variables": {"id": scene_id}},
    )
    response.raise_for_status()
    return sorted(p["id"] for p in response.json()["data"]["findScene"]["performers"])


@contextlib.contextmanager
def emulator_process(library: Path, state_db: Path) -> Iterator[str]:
    """``stash-sense emulator serve`` in a child process (the key travels in the environment)."""
    import os
    import sys
    import time

    from stash_sense.benchmark.api_load import free_port

    port = free_port()
    command = [sys.executable, "-c", "from stash_sense.cli import main; main()", "emulator", "serve", "--library", str(library),
               "--port", str(port), "--state-db", str(state_db)]
    proc = subprocess.Popen(
        command, env={**os.environ, "STASH_SENSE_EMULATOR_API_KEY": STASH_KEY}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the emulator process exited early"
            try:
                if httpx.post(f"{url}/graphql", json={"query": "{ version { version } }"}, headers={"ApiKey": STASH_KEY}, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the emulator process did not start"
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)


@contextlib.contextmanager
def app_process(kind: str, library: Path, *, name: str, startup_timeout: float = 60.0, **kwargs: Any) -> Iterator[str]:
    """An emulator app (``kind`` "stash" or "stashbox", ``kwargs`` for its factory) served by
    ``tests/app_child.py`` in a child process; yields its base URL and stops it on exit. Its
    output goes to ``test-artifacts/<name>.log``."""
    import json
    import os
    import sys
    import time

    from stash_sense.benchmark.api_load import free_port

    port = free_port()
    spec = {"kind": kind, "port": port, "library": str(library), "kwargs": {k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}}
    artifacts = Path(__file__).resolve().parent.parent / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    log = artifacts / f"{name}.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve().parent / "app_child.py")],
            env={**os.environ, "STASH_SENSE_TEST_APP": json.dumps(spec)}, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,  # stop_process ends the plugin backends it starts too
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the {kind} emulator exited early (exit {proc.returncode}); see {log}")
                try:
                    httpx.get(f"{url}/graphql", timeout=2)
                    break  # any answer: it is serving
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {kind} emulator did not start within {startup_timeout:.0f} s; see {log}")
                time.sleep(0.2)
            yield url
        finally:
            stop_process(proc)


def stop_process(proc: subprocess.Popen) -> None:
    """Ends a server child process: politely first, then for good after 20 s. When it leads a
    process group (``start_new_session``), the whole group: nothing it started outlives the test."""
    import os
    import signal

    try:
        leader = os.getpgid(proc.pid) == proc.pid
    except OSError:
        leader = False

    def send(sig: int) -> None:
        with contextlib.suppress(OSError):
            if leader:
                os.killpg(proc.pid, sig)  # a group outlives its reaped leader, and its id is not reused
            else:
                os.kill(proc.pid, sig)

    if proc.poll() is None:
        send(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        send(signal.SIGKILL)
        proc.wait(timeout=20)
    if leader:
        send(signal.SIGKILL)


def sidecar_env(data_dir: Path, face_db: Path, stash_url: str | None, **extra: str) -> dict[str, str]:
    """Environment for a sidecar child process."""
    env = {
        "STASH_SENSE_DATA_DIR": str(data_dir), "STASH_SENSE_FACE_DB": str(face_db), "STASH_SENSE_API_KEY": SIDECAR_KEY,
        "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_URL": stash_url or "", "STASH_API_KEY": STASH_KEY if stash_url else "",
    }
    env.update(extra)
    return env
