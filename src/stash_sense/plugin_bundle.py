"""Packaging the Stash plugin as a Stash plugin source: a zip and the ``index.yml`` beside it.

Stash's package manager reads ``index.yml`` from the source URL, downloads each entry's
``path`` (relative to that URL), checks its ``sha256`` and unpacks the zip's files into
``<plugins>/<id>/``; a newer ``date`` or ``version`` offers an update. So the zip holds the
plugin's files at its root, and the plugin id is its YAML file's name.

The plugin ships inside this package (``stash_sense/plugin/``, package data: Stash, not
Python, runs it), so ``stash-sense plugin build`` and the sidecar's own plugin source
(``GET /plugin/index.yml``) work from any installation. Both give the same zip, stamped with
the sidecar's version; its members carry a fixed timestamp, so the same files always give the
same bytes and sha256.
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

# Stash parses the package date with Go's "2006-01-02 15:04:05" layout, in UTC.
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# A fixed member timestamp, so the same files always give the same zip (and sha256).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
# The top-level ``version:`` line of a plugin manifest.
_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)


class PluginBundleError(Exception):
    pass


@dataclass(frozen=True)
class PackedPlugin:
    """A plugin packed in memory: the zip's bytes and what its index entry says."""

    id: str
    name: str
    version: str
    date: str
    data: bytes
    sha256: str
    files: tuple[str, ...]

    @property
    def zip_name(self) -> str:
        return f"{self.id}.zip"

    def index_entry(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "version": self.version, "date": self.date,
            "path": self.zip_name, "sha256": self.sha256, "requires": [], "metadata": {},
        }

    def index_yaml(self) -> str:
        """``index.yml`` of a plugin source holding this plugin alone (its zip beside it)."""
        return yaml.safe_dump([self.index_entry()], sort_keys=False)


@dataclass(frozen=True)
class PluginBundle:
    id: str
    name: str
    version: str
    date: str
    zip_path: Path
    index_path: Path
    sha256: str
    files: tuple[str, ...]

    def index_entry(self) -> dict[str, object]:
        return {
            "id": self.id, "name": self.name, "version": self.version, "date": self.date,
            "path": self.zip_path.name, "sha256": self.sha256, "requires": [], "metadata": {},
        }


def default_source() -> Path:
    """The plugin shipped inside this package (``stash_sense/plugin/``)."""
    candidate = Path(__file__).resolve().parent / "plugin"
    if not candidate.is_dir() or not any(candidate.glob("*.yml")):
        raise PluginBundleError(
            f"this installation has no plugin folder at {candidate} (a broken install?); "
            "reinstall stash-sense or pass --source PATH/TO/plugin"
        )
    return candidate


def sidecar_version() -> str | None:
    """This package's version, or None for a source tree that was never installed."""
    from stash_sense import __version__

    return None if __version__.startswith("0+unknown") else __version__


def plugin_manifest(source: Path) -> tuple[Path, dict[str, object]]:
    """The single plugin YAML in ``source`` and its parsed content."""
    manifests = sorted(p for p in Path(source).glob("*.yml") if p.is_file())
    if len(manifests) != 1:
        found = ", ".join(p.name for p in manifests) or "none"
        raise PluginBundleError(f"{source} must hold exactly one plugin .yml file (found: {found})")
    try:
        data = yaml.safe_load(manifests[0].read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PluginBundleError(f"{manifests[0]} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
        raise PluginBundleError(f"{manifests[0]} needs a name and a version")
    return manifests[0], data


def _plugin_files(source: Path) -> list[Path]:
    files = []
    for path in sorted(Path(source).rglob("*")):
        relative = path.relative_to(source)
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix not in _SKIPPED_SUFFIXES:
            files.append(path)
    return files


def _stamp_version(manifest: Path, text: str, version: str) -> bytes:
    """The manifest with its top-level ``version`` replaced (the rest of the file untouched)."""
    stamped, count = _VERSION_LINE.subn(lambda _m: f"version: {yaml.safe_dump(version).splitlines()[0]}", text, count=1)
    if count != 1 or str(yaml.safe_load(stamped).get("version")) != version:
        raise PluginBundleError(f"cannot set the version of {manifest} to {version!r}: no top-level 'version:' line")
    return stamped.encode("utf-8")


def pack_plugin(source: Path, *, version: str | None = None, now: datetime | None = None) -> PackedPlugin:
    """The plugin in ``source`` as a zip in memory.

    ``version`` (when given) replaces the manifest's version in the packed copy. The index date
    is ``now`` or else the newest modification time of the packed files: it stays the same
    across rebuilds (and sidecar restarts) and moves when the plugin changes, which is what
    Stash compares to offer an update.
    """
    source = Path(source)
    manifest, data = plugin_manifest(source)
    plugin_id = manifest.stem
    files = _plugin_files(source)
    if version is not None and str(data["version"]) == version:
        version = None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            content = path.read_bytes()
            if path == manifest and version is not None:
                content = _stamp_version(manifest, content.decode("utf-8"), version)
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    zipped = buffer.getvalue()
    when = now or datetime.fromtimestamp(max(path.stat().st_mtime for path in files), UTC)
    return PackedPlugin(
        id=plugin_id,
        name=str(data["name"]),
        version=version or str(data["version"]),
        date=when.astimezone(UTC).strftime(DATE_FORMAT),
        data=zipped,
        sha256=hashlib.sha256(zipped).hexdigest(),
        files=tuple(path.relative_to(source).as_posix() for path in files),
    )


@functools.cache
def packaged_plugin() -> PackedPlugin:
    """The plugin shipped in this package, stamped with the sidecar's version; packed once per
    process (the sidecar's plugin source serves it)."""
    return pack_plugin(default_source(), version=sidecar_version())


def write_plugin(plugin: PackedPlugin, out: Path) -> PluginBundle:
    """Write ``<id>.zip`` and ``index.yml`` (a one-plugin source) into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / plugin.zip_name
    temporary = zip_path.with_suffix(".zip.part")
    temporary.write_bytes(plugin.data)
    temporary.replace(zip_path)
    index_path = out / "index.yml"
    index_path.write_text(plugin.index_yaml(), encoding="utf-8")
    return PluginBundle(
        id=plugin.id, name=plugin.name, version=plugin.version, date=plugin.date, zip_path=zip_path,
        index_path=index_path, sha256=plugin.sha256, files=plugin.files,
    )


def build_plugin(source: Path, out: Path, *, version: str | None = None, now: datetime | None = None) -> PluginBundle:
    """Write ``<id>.zip`` and ``index.yml`` (a one-plugin source) for the plugin in ``source``."""
    return write_plugin(pack_plugin(source, version=version, now=now), out)
