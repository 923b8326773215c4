"""``stash-sense plugin build``: the plugin YAML passes the community index's schema, and the
index.yml it writes is a Stash plugin source whose sha256 matches the zip."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest
import yaml

import stash_sense
from plugin_helpers import PLUGIN_DIR, PLUGIN_SCHEMA
from stash_sense.plugin_bundle import PluginBundleError, build_plugin, default_source, pack_plugin, packaged_plugin

INDEX_KEYS = {"id", "name", "version", "date", "path", "sha256"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from stash_sense.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def _schema() -> dict:
    if not PLUGIN_SCHEMA.is_file():
        pytest.skip(f"{PLUGIN_SCHEMA} is absent")
    return json.loads(PLUGIN_SCHEMA.read_text())


def test_plugin_yaml_passes_the_plugin_schema() -> None:
    manifest = yaml.safe_load((PLUGIN_DIR / "stash-sense.yml").read_text())
    jsonschema.validate(manifest, _schema())
    assert manifest["interface"] == "raw" and manifest["exec"] == ["python", "{pluginDir}/stash_sense_backend.py"]
    types = {key: value["type"] for key, value in manifest["settings"].items()}
    assert types["sidecarUrl"] == "STRING" and types["minConfidence"] == "NUMBER" and "BOOLEAN" in types.values()
    for name in [*manifest["ui"]["javascript"], *manifest["ui"]["css"], manifest["exec"][1].replace("{pluginDir}/", "")]:
        assert (PLUGIN_DIR / name).is_file(), name
    # The schema is strict enough to catch the mistakes that matter.
    for broken in ({**manifest, "version": "v1"}, {**manifest, "settings": {"x": {"displayName": "X", "type": "FLOAT"}}}, {**manifest, "typo": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, _schema())


def test_the_plugin_ships_in_the_package_with_the_sidecars_version() -> None:
    """One copy of the plugin, inside the package (``plugin build`` and the sidecar's plugin
    source pack it); its manifest carries the package's version."""
    assert default_source() == PLUGIN_DIR.resolve()
    assert not (PLUGIN_DIR / "__init__.py").exists()  # data for Stash, not a Python package
    manifest = yaml.safe_load((PLUGIN_DIR / "stash-sense.yml").read_text())
    assert str(manifest["version"]) == stash_sense.__version__
    assert packaged_plugin().version == stash_sense.__version__


def test_a_version_is_stamped_into_the_packed_manifest_only() -> None:
    plugin = pack_plugin(PLUGIN_DIR, version="9.8.7")
    assert plugin.version == "9.8.7"
    with zipfile.ZipFile(io.BytesIO(plugin.data)) as archive:
        packed = archive.read("stash-sense.yml").decode()
        assert archive.read("stash-sense.js") == (PLUGIN_DIR / "stash-sense.js").read_bytes()
    original = (PLUGIN_DIR / "stash-sense.yml").read_text()
    assert yaml.safe_load(packed) == {**yaml.safe_load(original), "version": "9.8.7"}
    assert len(packed.splitlines()) == len(original.splitlines())  # one line changed, comments kept
    assert pack_plugin(PLUGIN_DIR, version=str(yaml.safe_load(original)["version"])).data == pack_plugin(PLUGIN_DIR).data


def test_build_writes_zip_and_index(tmp_path: Path) -> None:
    done = _cli("plugin", "build", "--out", str(tmp_path / "site"), "--json")
    assert done.returncode == 0, done.stderr
    reported = json.loads(done.stdout)
    index = yaml.safe_load((tmp_path / "site" / "index.yml").read_text())
    assert isinstance(index, list) and len(index) == 1
    entry = index[0]
    assert INDEX_KEYS <= set(entry)
    zip_path = tmp_path / "site" / entry["path"]
    assert entry["sha256"] == hashlib.sha256(zip_path.read_bytes()).hexdigest() == reported["sha256"]
    manifest = yaml.safe_load((PLUGIN_DIR / "stash-sense.yml").read_text())
    assert (entry["id"], entry["name"], entry["version"]) == ("stash-sense", manifest["name"], manifest["version"])
    datetime.strptime(entry["date"], "%Y-%m-%d %H:%M:%S")  # Stash's package date layout
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        # Files at the root: Stash unpacks them into <plugins>/<id>/.
        assert {"stash-sense.yml", "stash_sense_backend.py", "stash-sense.js", "stash-sense-recommendations.js", "stash-sense.css"} <= names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        packed = yaml.safe_load(archive.read("stash-sense.yml"))
    jsonschema.validate(packed, _schema())
    # Without --source: the packaged plugin, the very zip the sidecar serves at /plugin/index.yml.
    assert reported["sha256"] == packaged_plugin().sha256 and entry == packaged_plugin().index_entry()


def test_build_is_reproducible_and_fails_clearly(tmp_path: Path) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5).astimezone()
    first = build_plugin(PLUGIN_DIR, tmp_path / "a", now=when)
    second = build_plugin(PLUGIN_DIR, tmp_path / "b", now=when)
    assert first.sha256 == second.sha256 and first.date == second.date
    (tmp_path / "empty").mkdir()
    with pytest.raises(PluginBundleError, match="exactly one plugin .yml"):
        build_plugin(tmp_path / "empty", tmp_path / "c")
    with pytest.raises(PluginBundleError, match="needs a name and a version"):
        build_plugin(tmp_path / "a", tmp_path / "c")  # index.yml is a list, not a plugin
    done = _cli("plugin", "build", "--out", str(tmp_path / "d"), "--source", str(tmp_path / "empty"))
    assert done.returncode == 1 and "exactly one plugin .yml" in done.stderr and "Traceback" not in done.stderr
