"""Packaging the Stash plugin as a Stash plugin source: a zip and the ``index.yml`` beside it.

Stash's package manager reads ``index.yml`` from the source URL, downloads each entry's
``path`` (relative to that URL), checks its ``sha256`` and unpacks the zip's files into
``<plugins>/<id>/``; a newer ``date`` or ``version`` offers an update. So the zip holds the
plugin's files at its root, and the plugin id is its YAML file's name.
"""

from __future__ import annotations

import hashlib
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


class PluginBundleError(Exception):
    pass


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
    """The ``plugin/`` folder of the source checkout this package runs from.

    The plugin is not part of the Python package (Stash, not Python, installs it), so an
    installed wheel has no copy: ``--source`` must name one then.
    """
    candidate = Path(__file__).resolve().parents[2] / "plugin"
    if not candidate.is_dir():
        raise PluginBundleError(
            "no plugin/ folder next to this installation (installed from a wheel?); "
            "run from a source checkout or pass --source PATH/TO/plugin"
        )
    return candidate


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


def build_plugin(source: Path, out: Path, *, now: datetime | None = None) -> PluginBundle:
    """Write ``<id>.zip`` and ``index.yml`` (a one-plugin source) into ``out``."""
    source = Path(source)
    manifest, data = plugin_manifest(source)
    plugin_id = manifest.stem
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    zip_path = out / f"{plugin_id}.zip"
    files = _plugin_files(source)
    temporary = zip_path.with_suffix(".zip.part")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    temporary.replace(zip_path)
    bundle = PluginBundle(
        id=plugin_id,
        name=str(data["name"]),
        version=str(data["version"]),
        date=(now or datetime.now(UTC)).astimezone(UTC).strftime(DATE_FORMAT),
        zip_path=zip_path,
        index_path=out / "index.yml",
        sha256=hashlib.sha256(zip_path.read_bytes()).hexdigest(),
        files=tuple(path.relative_to(source).as_posix() for path in files),
    )
    bundle.index_path.write_text(yaml.safe_dump([bundle.index_entry()], sort_keys=False), encoding="utf-8")
    return bundle
