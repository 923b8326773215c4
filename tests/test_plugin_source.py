"""The sidecar as a Stash plugin source, over real HTTP: ``GET /plugin/index.yml`` lists this
sidecar's plugin (its version, the zip's sha256) and ``GET /plugin/stash-sense.zip`` serves
that zip, both without the API key (Stash's package manager sends none) and revealing nothing."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
import yaml

import stash_sense
from api_helpers import SIDECAR_KEY, running_sidecar, sidecar_settings
from plugin_helpers import PLUGIN_DIR, PLUGIN_ID

PLUGIN_FILES = {"stash-sense.yml", "stash-sense.js", "stash-sense-recommendations.js", "stash-sense.css", "stash_sense_backend.py"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory):
    """A sidecar with an API key (none is sent below), no face DB and no Stash."""
    data_dir = tmp_path_factory.mktemp("plugin-source")
    with running_sidecar(sidecar_settings(data_dir, None)) as (url, _app):
        yield url, data_dir


def _index(url: str) -> tuple[httpx.Response, list[dict]]:
    response = httpx.get(f"{url}/plugin/index.yml", timeout=30)
    assert response.status_code == 200, response.text
    return response, yaml.safe_load(response.text)


def test_index_names_the_zip_it_serves_with_the_sidecars_version(sidecar: tuple[str, Path]) -> None:
    url, data_dir = sidecar
    response, index = _index(url)
    assert response.headers["content-type"].startswith("application/x-yaml")
    assert isinstance(index, list) and len(index) == 1
    entry = index[0]
    assert {"id", "name", "version", "date", "path", "sha256", "requires"} <= set(entry)
    assert entry["id"] == PLUGIN_ID and entry["name"] == "Stash Sense"
    assert entry["version"] == stash_sense.__version__
    assert entry["path"] == f"{PLUGIN_ID}.zip" and entry["requires"] == []
    datetime.strptime(entry["date"], "%Y-%m-%d %H:%M:%S")  # Stash's package date layout

    # Stash resolves path against the index URL, with no headers of its own.
    zipped = httpx.get(urljoin(f"{url}/plugin/index.yml", entry["path"]), timeout=30)
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    assert hashlib.sha256(zipped.content).hexdigest() == entry["sha256"]
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        assert set(archive.namelist()) == PLUGIN_FILES  # at the root: Stash unpacks into <plugins>/<id>/
        assert archive.testzip() is None
        manifest = yaml.safe_load(archive.read("stash-sense.yml"))
        assert str(manifest["version"]) == stash_sense.__version__
        for name in [*manifest["ui"]["javascript"], *manifest["ui"]["css"], "stash_sense_backend.py"]:
            assert archive.read(name) == (PLUGIN_DIR / name).read_bytes(), name
        members = b"".join(archive.read(name) for name in archive.namelist())

    # Nothing of this sidecar's configuration leaks out.
    for secret in (SIDECAR_KEY, str(data_dir)):
        assert secret not in response.text and secret.encode() not in members and secret.encode() not in zipped.content


def test_the_zip_is_the_same_across_requests_restarts_and_plugin_build(sidecar: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = sidecar
    first = httpx.get(f"{url}/plugin/stash-sense.zip", timeout=30)
    second = httpx.get(f"{url}/plugin/stash-sense.zip", timeout=30)
    assert first.content == second.content
    _response, index = _index(url)
    # Another process (a restart) packs the same bytes: fixed member timestamps.
    other = subprocess.run(
        [sys.executable, "-c", "from stash_sense.plugin_bundle import packaged_plugin; print(packaged_plugin().sha256)"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert other.stdout.strip() == index[0]["sha256"]
    # `stash-sense plugin build` without --source writes this very zip and index.
    built = subprocess.run(
        [sys.executable, "-c", "from stash_sense.cli import main; main()", "plugin", "build", "--out", str(tmp_path / "site")],
        capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "site" / "stash-sense.zip").read_bytes() == first.content
    assert yaml.safe_load((tmp_path / "site" / "index.yml").read_text()) == index


def test_only_the_plugin_source_is_public(sidecar: tuple[str, Path]) -> None:
    url, _ = sidecar
    for path in ("/plugin/other.zip", "/plugin/index.yaml", "/plugin/stash-sense", "/capabilities"):
        response = httpx.get(f"{url}{path}", timeout=30)
        assert response.status_code == 401, (path, response.text)
    # With the key, the same answers (the key changes nothing here).
    keyed = httpx.get(f"{url}/plugin/index.yml", headers={"X-API-Key": SIDECAR_KEY}, timeout=30)
    assert keyed.status_code == 200 and keyed.text == _index(url)[0].text


def test_openapi_lists_the_plugin_source_without_security(sidecar: tuple[str, Path]) -> None:
    url, _ = sidecar
    spec = httpx.get(f"{url}/openapi.json", timeout=30).json()
    index = spec["paths"]["/plugin/index.yml"]["get"]
    zipped = spec["paths"]["/plugin/stash-sense.zip"]["get"]
    assert "security" not in index and "security" not in zipped
    assert set(index["responses"]["200"]["content"]) == {"application/x-yaml"}
    assert set(zipped["responses"]["200"]["content"]) == {"application/zip"}


def test_without_a_key_the_plugin_source_is_served_too(tmp_path: Path) -> None:
    with running_sidecar(sidecar_settings(tmp_path, None, api_key=None)) as (url, _):
        _response, index = _index(url)
        assert httpx.get(f"{url}/plugin/{index[0]['path']}", timeout=30).status_code == 200
