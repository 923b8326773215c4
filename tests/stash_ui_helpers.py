"""The Stash Sense plugin in Stash's own web UI: the emulator serving a production build of
Stash's UI (``../shared/stash-ui/build``, ``STASH_SENSE_STASH_UI``) under a base path, as behind
a reverse proxy, with an empty plugins folder, and a real sidecar process whose own plugin
source the browser installs the plugin from.

* :func:`require_stash_ui`: the build folder, or a skip saying what is missing.
* :func:`stash_ui_stack`: the emulator (a child process: ``app_process``) with every library
  performer but Hugh Jackman in Stash, Brad Pitt on scene 1, and the sidecar (``sidecar_process``).
* :func:`planted_stack`: the same over a library with planted duplicates, for the
  recommendations review, with a sidecar that has no face DB (the review needs none).

The browser is a logged-in user: its ``session`` cookie (the one the emulator accepts in place
of the API key) is scoped to the base path, so a request the plugin sent outside ``/stash/``
would reach Stash unauthenticated, as it would reach something else entirely behind a proxy.
The sidecar and the plugin backend reach Stash directly at its own root, as they do in a
proxied deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_helpers import app_process
from browser_helpers import SIDECAR_KEY, STASH_KEY, DashboardAssets, sidecar_process, stash_boxes
from plugin_helpers import _populate

from stash_sense.config import stash_ui_dir

BASE_PATH = "/stash"
SESSION = "stash-ui-browser-session"


def require_stash_ui() -> Path:
    """The build of Stash's web UI; skips the test when it is not there."""
    root = stash_ui_dir()
    if not (root / "index.html").is_file():
        pytest.skip(f"Stash's web UI build not found at {root} (../shared/stash-ui/build, or set STASH_SENSE_STASH_UI)")
    return root


@dataclass
class StashUIStack:
    stash_url: str  # Stash's own root (the sidecar's STASH_URL)
    sidecar_url: str
    plugins_dir: Path
    ids: dict[int, str] = field(default_factory=dict)  # library performer id -> Stash performer id
    assets: DashboardAssets | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ui_url(self) -> str:
        """Stash's UI behind the proxy prefix, with its trailing slash."""
        return f"{self.stash_url}{BASE_PATH}/"

    def browser_env(self, **extra: str) -> dict[str, str]:
        return {
            "STASH_ROOT": self.stash_url, "BASE_PATH": BASE_PATH, "SESSION": SESSION, "SIDECAR_URL": self.sidecar_url,
            "SIDECAR_KEY": SIDECAR_KEY, **extra,
        }

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Ask the emulator directly (with Stash's key): what changed in Stash."""
        response = httpx.post(
            f"{self.stash_url}/graphql", json={"query": query, "variables": variables or {}}, headers={"ApiKey": STASH_KEY}, timeout=60,
        )
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]

    def drop_in_plugin(self) -> list[str]:
        """What a user may do instead of installing from a source: unpack the zip the sidecar
        serves into the plugins folder (then Settings > Plugins > Reload plugins)."""
        data = httpx.get(f"{self.sidecar_url}/plugin/stash-sense.zip", timeout=30).content
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.extractall(self.plugins_dir / "stash-sense")
            return archive.namelist()

    def scene_performers(self, scene_id: str) -> list[dict[str, Any]]:
        query = "query($id: ID!) { findScene(id: $id) { performers { id name stash_ids { endpoint stash_id } } } }"
        return self.gql(query, {"id": scene_id})["findScene"]["performers"]

    def sidecar(self) -> httpx.Client:
        return httpx.Client(base_url=self.sidecar_url, headers={"X-API-Key": SIDECAR_KEY}, timeout=60)


@contextlib.contextmanager
def stash_ui_stack(assets: DashboardAssets, root: Path, ui_dir: Path) -> Iterator[StashUIStack]:
    plugins = root / "plugins"
    plugins.mkdir(parents=True)
    with app_process(
        "stash", assets.stash_library, name="stash-ui-stash", api_key=STASH_KEY, stash_boxes=stash_boxes(assets.box_endpoint),
        state_db=root / "stash-state.db", plugins_dir=plugins, stash_ui=str(ui_dir), base_path=BASE_PATH, session_cookie=SESSION,
    ) as stash_url:
        ids = asyncio.run(_populate(stash_url, assets, STASH_KEY))
        env = {
            "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
            "STASH_SENSE_DATA_DIR": str(root / "sidecar-data"), "STASH_SENSE_FACE_DB": str(assets.face_db),
            "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_FINGERPRINT_FRAMES": "4", "STASH_SENSE_LOG_LEVEL": "WARNING",
        }
        with sidecar_process(env, name="stash-ui-sidecar") as sidecar_url:
            yield StashUIStack(stash_url, sidecar_url, plugins, ids, assets)


@contextlib.contextmanager
def planted_stack(library: Path, root: Path, ui_dir: Path) -> Iterator[StashUIStack]:
    plugins = root / "plugins"
    plugins.mkdir(parents=True)
    with app_process(
        "stash", library, name="stash-ui-planted-stash", api_key=STASH_KEY, state_db=root / "stash-state.db", plugins_dir=plugins,
        stash_ui=str(ui_dir), base_path=BASE_PATH, session_cookie=SESSION,
    ) as stash_url:
        env = {
            "STASH_URL": stash_url, "STASH_API_KEY": STASH_KEY, "STASH_SENSE_API_KEY": SIDECAR_KEY,
            "STASH_SENSE_DATA_DIR": str(root / "sidecar-data"), "STASH_SENSE_FACE_DB": str(root / "no-face-db"),
            "STASH_SENSE_DB_WATCH_INTERVAL": "0", "STASH_SENSE_LOG_LEVEL": "WARNING",
        }
        with sidecar_process(env, name="stash-ui-planted-sidecar") as sidecar_url:
            yield StashUIStack(stash_url, sidecar_url, plugins)
