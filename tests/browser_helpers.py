"""Browser-test infrastructure: a real sidecar process pointed at the Stash emulator, driven by
headless Chromium through Node's ``playwright-core``.

* :func:`chromium_executable` / :func:`require_browser`: find Debian's ``chromium`` and the
  npm packages, or skip with a message saying what is missing.
* :func:`run_node_script`: run ``tests/browser/<name>.mjs`` with environment variables; the
  script prints one JSON document on its last stdout line, which is returned.
* :class:`DashboardAssets` (built once per session by :func:`dashboard_assets`): a rendered
  sample library (4 celeb17 performers, 3 short scenes), a stash-box emulator serving those
  performers, and a face DB built *from Stash* with stash-box images, so its identities are
  real stash-box identities (``<box endpoint>#<uuid>``).
* :func:`dashboard_stack`: a fresh Stash emulator (every performer but one, linked to the
  stash-box, none on a scene yet) and a real ``stash-sense serve`` process with an
  API key, on free loopback ports.

Screenshots go to ``test-artifacts/`` (gitignored; CI keeps it as an artifact).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_helpers import app_process, stop_process
from emulator_helpers import IDENTITIES, make_library, performer_stash_id

REPO = Path(__file__).resolve().parent.parent
BROWSER_SCRIPTS = REPO / "tests" / "browser"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

STASH_KEY = "stash-key-for-browser-tests"
BOX_KEY = "stashbox-key-for-browser-tests"
SIDECAR_KEY = "sidecar-key-for-browser-tests"
# Performer 2 (Kate Winslet) is on stash-box and in the face DB but not in the dashboard's Stash.
MISSING_FROM_STASH = 2

_lock = threading.Lock()
_cache: dict[str, Any] = {}


# -- finding the browser ------------------------------------------------------------------------


def chromium_executable() -> str | None:
    """``STASH_SENSE_CHROMIUM``, else Debian's chromium, else None."""
    configured = os.environ.get("STASH_SENSE_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    return found


def require_browser() -> str:
    """The Chromium path; skips the test (with what to install) when anything is missing."""
    chromium = chromium_executable()
    if chromium is None:
        pytest.skip("chromium not found (apt-get install chromium, or set STASH_SENSE_CHROMIUM)")
    if shutil.which("node") is None:
        pytest.skip("node not found (apt-get install nodejs npm)")
    if not (REPO / "node_modules" / "playwright-core" / "package.json").is_file():
        pytest.skip("node_modules/playwright-core missing (run ./scripts/setup, which runs npm ci)")
    return chromium


def run_node_script(name: str, env: dict[str, str], *, timeout: float = 240.0) -> dict[str, Any]:
    """Run ``tests/browser/<name>.mjs`` and return the JSON document on its last stdout line.

    A script that fails prints ``{"error": ...}`` and exits non-zero: that fails the test with
    the script's own message and the tail of its stderr.
    """
    chromium = require_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    full_env = {**os.environ, "CHROMIUM_PATH": chromium, "ARTIFACTS_DIR": str(ARTIFACTS), **env}
    # The deadline is kept from outside the browser run: coreutils' timeout ends node and the
    # Chromium it started (its whole process group), and pytest's own timeout is a second line.
    command = ["timeout", "--kill-after=10", f"{timeout:.0f}", "node", str(BROWSER_SCRIPTS / f"{name}.mjs")]
    try:
        proc = subprocess.run(command, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{name}.mjs did not finish within {timeout:.0f} s; stderr: {(exc.stderr or '')[-2000:]}") from None
    if proc.returncode in (124, 137):  # timeout's own exit codes: the run was ended for time
        raise AssertionError(f"{name}.mjs did not finish within {timeout:.0f} s and was ended; stderr:\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    result: dict[str, Any] | None = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = None
    if proc.returncode != 0 or result is None:
        detail = result.get("error") if isinstance(result, dict) else proc.stdout[-2000:]
        raise AssertionError(f"{name}.mjs failed (exit {proc.returncode}): {detail}\nstderr:\n{proc.stderr[-3000:]}")
    return result


# -- the Stash side --------------------------------------------------------------------------------


def _stash_library(full: Path, target: Path) -> Path:
    """The rendered library with no performers: the tests create them through Stash's own
    mutations, linked to the stash-box emulator (whose URL is only known at run time)."""
    shutil.copytree(full, target)
    data = json.loads((target / "library.json").read_text())
    data["performers"] = []
    for scene in data["scenes"]:
        scene["performers"] = []
        scene["shots"] = []  # the library's ground truth must agree with its (empty) performer lists
    (target / "library.json").write_text(json.dumps(data, indent=2))
    return target


async def _populate(stash_url: str, library: Path, box_endpoint: str, *, performer_ids: list[int]) -> dict[int, str]:
    """Create the library's performers in Stash (name, portrait, stash-box link), on no scene
    yet; returns library id -> Stash id."""
    from stash_sense.stash import StashClient, StashID

    created: dict[int, str] = {}
    async with StashClient(stash_url, STASH_KEY) as stash:
        for pid in performer_ids:
            name = IDENTITIES[pid - 1]
            photo = sorted((library / "gallery" / name).glob("*.jpg"))[0].read_bytes()
            performer = await stash.create_performer(
                name, image=photo, stash_ids=[StashID(endpoint=box_endpoint, stash_id=performer_stash_id(pid))]
            )
            created[pid] = performer.id
    return created


def stash_boxes(box_endpoint: str) -> list[dict[str, Any]]:
    return [{"endpoint": box_endpoint, "api_key": BOX_KEY, "name": "StashDB (emulated)", "max_requests_per_minute": 240}]


@dataclass(frozen=True)
class DashboardAssets:
    library: Path  # the rendered library (performers, gallery, scenes)
    stash_library: Path  # the same scenes with no performers (the tests create them in Stash)
    face_db: Path  # built from Stash + stash-box: identities '<box endpoint>#<uuid>'
    box_url: str  # the stash-box emulator, running for the whole session

    @property
    def box_endpoint(self) -> str:
        return f"{self.box_url}/graphql"

    def heldout_photo(self, performer_id: int) -> Path:
        data = json.loads((self.library / "library.json").read_text())
        entry = next(p for p in data["performers"] if p["id"] == str(performer_id))
        # Index 1: the scenes are rendered from heldout photo 0; this one appears nowhere else.
        return self.library / entry["heldout_images"][-1]


def dashboard_assets(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> DashboardAssets:
    """Built once per session (~20 s): library, stash-box emulator, face DB."""
    with _lock:
        if "assets" in _cache:
            return _cache["assets"]
        from stash_sense.facedb.build_stash import build_from_stash

        root = tmp_path_factory.mktemp("dashboard-assets")
        library = make_library(root / "library", facedata)
        stash_library = _stash_library(library, root / "stash-library")
        # Servers run in child processes, never in the pytest process (see app_child.py).
        box = app_process("stashbox", library, name="stashbox", api_key=BOX_KEY)
        box_url = box.__enter__()  # the whole session shares it
        atexit.register(box.__exit__, None, None, None)
        _cache["box"] = box
        endpoint = f"{box_url}/graphql"
        face_db = root / "facedb"
        with app_process("stash", stash_library, name="seed-stash", api_key=STASH_KEY, stash_boxes=stash_boxes(endpoint)) as seed_url:
            asyncio.run(_populate(seed_url, library, endpoint, performer_ids=list(range(1, len(IDENTITIES) + 1))))
            build_from_stash(seed_url, face_db, api_key=STASH_KEY, stashbox_endpoint=endpoint, stashbox_api_key=BOX_KEY, progress=False, workers=1)
        _cache["assets"] = DashboardAssets(library, stash_library, face_db, box_url)
        return _cache["assets"]


# -- the sidecar process -----------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardStack:
    assets: DashboardAssets
    stash_url: str
    sidecar_url: str
    data_dir: Path
    stash_ids: dict[int, str]  # library performer id -> Stash performer id

    def browser_env(self, **extra: str) -> dict[str, str]:
        return {"BASE_URL": self.sidecar_url, "SIDECAR_KEY": SIDECAR_KEY, **extra}

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ask the emulator directly: what the user would now see in Stash."""
        response = httpx.post(
            f"{self.stash_url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": STASH_KEY}, timeout=30
        )
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    def scene_performers(self, scene_id: str) -> list[dict[str, Any]]:
        data = self.gql(
            "query($id: ID!) { findScene(id: $id) { performers { id name stash_ids { endpoint stash_id } } } }", {"id": scene_id}
        )
        return data["findScene"]["performers"]

    def sidecar(self) -> httpx.Client:
        return httpx.Client(base_url=self.sidecar_url, headers={"X-API-Key": SIDECAR_KEY}, timeout=60)


@contextlib.contextmanager
def sidecar_process(env: dict[str, str], *, name: str = "sidecar", startup_timeout: float = 60.0) -> Iterator[str]:
    """``stash-sense serve`` in a child process on a free port; yields its base URL. Its output
    goes to ``test-artifacts/<name>.log`` (kept for a failed run)."""
    from stash_sense.benchmark.api_load import free_port

    port = free_port()
    command = [sys.executable, "-c", "from stash_sense.cli import main; main()", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    log = ARTIFACTS / f"{name}.log"
    ARTIFACTS.mkdir(exist_ok=True)
    with log.open("w") as log_file:
        proc = subprocess.Popen(command, env={**os.environ, **env}, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the sidecar exited early (exit {proc.returncode}); see {log}")
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the sidecar did not start within {startup_timeout:.0f} s; see {log}")
                time.sleep(0.2)
            yield url
        finally:
            stop_process(proc)


@contextlib.contextmanager
def dashboard_stack(assets: DashboardAssets, tmp_path: Path, **env: str) -> Iterator[DashboardStack]:
    """A fresh Stash emulator and a sidecar process (its own data dir) for one test."""
    present = [pid for pid in range(1, len(IDENTITIES) + 1) if pid != MISSING_FROM_STASH]
    with app_process(
        "stash", assets.stash_library, name="dashboard-stash", api_key=STASH_KEY, stash_boxes=stash_boxes(assets.box_endpoint),
        state_db=tmp_path / "stash-state.db",
    ) as stash_url:
        ids = asyncio.run(_populate(stash_url, assets.library, assets.box_endpoint, performer_ids=present))
        data_dir = tmp_path / "sidecar-data"
        sidecar_env = {
            "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
            "STASH_SENSE_DATA_DIR": str(data_dir), "STASH_SENSE_FACE_DB": str(assets.face_db),
            "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_LOG_LEVEL": "WARNING",
            "STASH_SENSE_FINGERPRINT_FRAMES": "8",  # the bulk job only has to run long enough to be stopped
            **env,
        }
        with sidecar_process(sidecar_env, name="dashboard-sidecar") as sidecar_url:
            yield DashboardStack(assets, stash_url, sidecar_url, data_dir, ids)
