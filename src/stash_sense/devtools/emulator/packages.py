"""Stash's plugin package manager (``pkg/pkg``), as Settings > Plugins drives it.

A package source is an ``index.yml`` URL (kept in ``configuration.general.pluginPackageSources``
with a name and a local path). ``availablePackages`` reads the index (a YAML list of ``id``,
``name``, ``version``, ``date``, ``path`` of the zip relative to the index, ``sha256``,
``requires``, ``metadata``); ``installPackages`` queues a job that downloads each zip, checks
its sha256, unpacks it into ``<plugins folder>/<local path>/<id>/`` beside a ``manifest`` file
(what was installed, from where) and reloads the plugins, as Stash's ``InstallPackagesJob``
does; ``installedPackages`` lists those manifests (with the source's current version as
``source_package`` when asked), ``updatePackages`` reinstalls the ones the source has a newer
date for and ``uninstallPackages`` removes the manifest's files. Plugin packages only: the
emulator has no scrapers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin

import httpx
import yaml
from graphql import GraphQLError, GraphQLResolveInfo

from stash_sense.devtools.emulator.gql import Resolver
from stash_sense.devtools.emulator.stash_objects import context_of

log = logging.getLogger("stash_sense.devtools.emulator")

MANIFEST = "manifest"  # pkg.ManifestFile
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S %z")  # pkg.TimeFormat and its legacy form
_MAX_ZIP = 64 * 1024 * 1024


class PackageError(ValueError):
    pass


def _parse_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise PackageError(f"invalid package date {value!r} (expected YYYY-MM-DD HH:MM:SS)")


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _time_text(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _type(type: str) -> None:  # noqa: A002 - the schema's argument name
    if type != "Plugin":
        raise GraphQLError("the Stash emulator manages plugin packages only (it has no scrapers)")


def _host(info: GraphQLResolveInfo) -> Any:
    host = context_of(info).plugins
    if host is None:
        raise GraphQLError("Plugin package manager not initialized (the emulator was started without a plugins folder)")
    return host


def _sources(info: GraphQLResolveInfo) -> list[Mapping[str, Any]]:
    general = context_of(info).catalog.store.get_config("general", {})
    return list(general.get("pluginPackageSources") or ())


def _local_store(info: GraphQLResolveInfo, source_url: str) -> Path:
    """``<plugins folder>/<local path of the source with this URL>`` (the folder itself when the
    source has no local path or is not configured), never outside the plugins folder."""
    root = Path(_host(info).plugins_dir).resolve()
    local = next((str(s.get("local_path") or "") for s in _sources(info) if s.get("url") == source_url), "")
    target = (root / local).resolve() if local else root
    if not target.is_relative_to(root):
        raise GraphQLError(f"package source local path {local!r} leaves the plugins folder")
    return target


# -- remote sources ------------------------------------------------------------------------------


async def _remote_index(info: GraphQLResolveInfo, source: str) -> dict[str, dict[str, Any]]:
    """The source's packages by id (memoised for the request)."""
    cache = context_of(info)._cache.setdefault("package_indexes", {})
    if source not in cache:
        cache[source] = await fetch_index(source)
    return cache[source]


async def fetch_index(source: str) -> dict[str, dict[str, Any]]:
    if not source.startswith(("http://", "https://")):
        raise GraphQLError(f"listing remote packages: {source!r} is not an http(s) URL")
    try:
        async with httpx.AsyncClient(timeout=30, follow_redirects=True) as client:
            response = await client.get(source)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise GraphQLError(f"listing remote packages: {source}: {exc.__class__.__name__}: {exc}") from None
    try:
        entries = yaml.safe_load(response.text) or []
        if not isinstance(entries, list):
            raise PackageError("the index is not a list of packages")
        index: dict[str, dict[str, Any]] = {}
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id"):
                raise PackageError(f"a package entry without an id: {entry!r}")
            package: dict[str, Any] = {
                "id": str(entry["id"]), "name": str(entry.get("name") or entry["id"]),
                "version": None if entry.get("version") is None else str(entry["version"]),
                "date": _parse_time(entry.get("date")), "path": str(entry.get("path") or ""),
                "sha256": str(entry.get("sha256") or "").lower(), "requires": [str(r) for r in entry.get("requires") or ()],
                "metadata": dict(entry.get("metadata") or {}), "source": source,
            }
            previous = index.get(package["id"])
            if previous is None or _sort_date(package) >= _sort_date(previous):
                index[package["id"]] = package  # the newest entry of an id wins, as in Stash
    except (yaml.YAMLError, PackageError) as exc:
        raise GraphQLError(f"listing remote packages: {source}: {exc}") from None
    return index


def _sort_date(package: Mapping[str, Any]) -> datetime:
    return package["date"] or datetime.min.replace(tzinfo=UTC)


def _remote_object(package: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "package_id": package["id"], "name": package["name"], "version": package["version"],
        "date": _timestamp(package["date"]), "metadata": dict(package["metadata"]), "sourceURL": package["source"],
        "requires": [_remote_object(index[r], index) for r in package["requires"] if r in index],
        "source_package": None,
    }


async def _available(_root: Any, info: GraphQLResolveInfo, type: str, source: str) -> list[dict[str, Any]]:  # noqa: A002
    _type(type)
    _host(info)
    index = await _remote_index(info, source)
    return [_remote_object(index[key], index) for key in sorted(index, key=lambda k: (k.lower(), k))]


# -- installed packages ----------------------------------------------------------------------------


def _manifests(info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """Every installed package's manifest under the configured sources' local paths."""
    stores = sorted({_local_store(info, str(s.get("url") or "")) for s in _sources(info)})
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for store in stores:
        if not store.is_dir():
            continue
        for folder in sorted(p for p in store.iterdir() if p.is_dir()):
            path = folder / MANIFEST
            if not path.is_file():
                continue
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                data["_date"] = _parse_time(data.get("date"))
            except (OSError, yaml.YAMLError, PackageError) as exc:
                raise GraphQLError(f"reading manifest file {path}: {exc}") from None
            data["_dir"] = folder
            found[(str(data.get("id")), str(data.get("source_repository") or ""))] = data
    return [found[k] for k in sorted(found, key=lambda k: (k[0].lower(), k[0], k[1]))]


def _installed_object(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "package_id": str(manifest.get("id")), "name": str(manifest.get("name") or manifest.get("id")),
        "version": None if manifest.get("version") is None else str(manifest["version"]),
        "date": _timestamp(manifest["_date"]), "metadata": dict(manifest.get("metadata") or {}),
        "sourceURL": str(manifest.get("source_repository") or ""), "requires": [],
    }


def _installed(_root: Any, info: GraphQLResolveInfo, type: str) -> list[dict[str, Any]]:  # noqa: A002
    _type(type)
    _host(info)
    return [_installed_object(m) for m in _manifests(info)]


async def _source_package(package: Mapping[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    """The source's current entry for an installed package (None when the source is gone)."""
    if "source_package" in package:
        return package["source_package"]
    try:
        index = await _remote_index(info, package["sourceURL"])
    except GraphQLError as exc:
        log.warning("error listing remote package %s: %s", package["sourceURL"], exc.message)
        return None
    remote = index.get(package["package_id"])
    return None if remote is None else _remote_object(remote, index)


# -- the jobs --------------------------------------------------------------------------------------


def _specs(packages: Sequence[Mapping[str, Any]] | None) -> list[tuple[str, str]]:
    return [(str(p["id"]), str(p["sourceURL"])) for p in packages or ()]


async def _install_one(info: GraphQLResolveInfo, package_id: str, source: str) -> None:
    index = await fetch_index(source)
    package = index.get(package_id)
    if package is None:
        raise PackageError(f"package {package_id} not found in {source}")
    url = package["path"] if package["path"].startswith(("http://", "https://")) else urljoin(source, package["path"])
    try:
        async with httpx.AsyncClient(timeout=120, follow_redirects=True) as client:
            response = await client.get(url)
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise PackageError(f"getting remote package: {url}: {exc.__class__.__name__}") from None
    data = response.content
    if len(data) > _MAX_ZIP:
        raise PackageError(f"package {package_id} is larger than {_MAX_ZIP // 2**20} MiB")
    digest = hashlib.sha256(data).hexdigest()
    if digest != package["sha256"]:
        raise PackageError(f"package data ({digest}) does not match expected SHA256 ({package['sha256']})")
    store = _local_store(info, source)
    folder = store / package_id
    if (folder / MANIFEST).is_file():
        _delete_files(folder)
    files = _unpack(data, folder)
    manifest = {
        "id": package["id"], "name": package["name"], "metadata": package["metadata"], "version": package["version"] or "",
        "date": _time_text(package["date"]), "requires": package["requires"], "source_repository": source, "files": files,
    }
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")


def _unpack(data: bytes, folder: Path) -> list[str]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PackageError(f"reading zip data: {exc}") from None
    written: list[str] = []
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            name = PurePosixPath(member.filename)
            if name.is_absolute() or ".." in name.parts or not name.parts:
                raise PackageError(f"the package holds a file outside its folder: {member.filename!r}")
            target = folder.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
            mode = (member.external_attr >> 16) & 0o777
            target.chmod(mode or 0o644)
            written.append(str(name))
    return written


def _delete_files(folder: Path) -> None:
    manifest = yaml.safe_load((folder / MANIFEST).read_text(encoding="utf-8")) or {}
    for name in manifest.get("files") or ():
        target = (folder / name).resolve()
        if target.is_relative_to(folder.resolve()) and target.is_file():
            target.unlink()
    (folder / MANIFEST).unlink()


def _queue(info: GraphQLResolveInfo, description: str, specs: list[tuple[str, str]], action: Any) -> str:
    host = _host(info)

    async def work(job: Any) -> None:
        for number, (package_id, source) in enumerate(specs, start=1):
            try:
                await action(package_id, source)
            except (PackageError, GraphQLError, OSError) as exc:
                # Stash logs the failure and goes on with the other packages.
                log.error("error processing package %s from %s: %s", package_id, source, exc)
            job.progress = number / len(specs)
        host.reload()  # PackagesJob.OnComplete: refresh the plugin cache

    return str(host.add_work(description, work).id)


def _install(_root: Any, info: GraphQLResolveInfo, type: str, packages: Sequence[Mapping[str, Any]]) -> str:  # noqa: A002
    _type(type)

    async def install(package_id: str, source: str) -> None:
        await _install_one(info, package_id, source)
        log.info("installed package %s from %s", package_id, source)

    return _queue(info, "Installing packages...", _specs(packages), install)


def _update(_root: Any, info: GraphQLResolveInfo, type: str, packages: Sequence[Mapping[str, Any]] | None = None) -> str:  # noqa: A002
    _type(type)
    installed = {(str(m.get("id")), str(m.get("source_repository") or "")): m for m in _manifests(info)}
    specs = _specs(packages) if packages else list(installed)

    async def update(package_id: str, source: str) -> None:
        local = installed.get((package_id, source))
        if local is None:
            return  # not installed: not installed by an update
        remote = (await fetch_index(source)).get(package_id)
        if remote is None or not (remote["date"] and (local["_date"] is None or remote["date"] > local["_date"])):
            return  # nothing newer
        await _install_one(info, package_id, source)

    return _queue(info, "Updating packages...", specs, update)


def _uninstall(_root: Any, info: GraphQLResolveInfo, type: str, packages: Sequence[Mapping[str, Any]]) -> str:  # noqa: A002
    _type(type)

    async def uninstall(package_id: str, source: str) -> None:
        folder = _local_store(info, source) / package_id
        if not (folder / MANIFEST).is_file():
            raise PackageError(f"package {package_id} is not installed")
        _delete_files(folder)
        with contextlib.suppress(OSError):
            folder.rmdir()  # as Stash: the folder goes only when nothing else is left in it

    return _queue(info, "Updating packages...", _specs(packages), uninstall)


PACKAGE_RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "installedPackages"): _installed,
    ("Query", "availablePackages"): _available,
    ("Package", "source_package"): _source_package,
    ("Mutation", "installPackages"): _install,
    ("Mutation", "updatePackages"): _update,
    ("Mutation", "uninstallPackages"): _uninstall,
}
