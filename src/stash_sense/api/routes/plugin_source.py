"""The sidecar as a Stash plugin source: ``GET /plugin/index.yml`` and the zip it names.

In Stash, Settings > Plugins > Available Plugins > Add Source with
``http://<sidecar>:6960/plugin/index.yml`` lists the Stash Sense plugin of this very sidecar
(same version), installs it and offers its updates. Stash's package manager sends no custom
headers, so both routes are public (see ``api/auth.py``); they serve only the plugin's own
files, which ship in the package and hold no settings or secrets.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from stash_sense.api.errors import ApiError
from stash_sense.plugin_bundle import PackedPlugin, PluginBundleError, packaged_plugin

log = logging.getLogger("stash_sense.api")

PLUGIN_ID = "stash-sense"
INDEX_PATH = "/plugin/index.yml"
ZIP_PATH = f"/plugin/{PLUGIN_ID}.zip"


class YamlResponse(Response):
    media_type = "application/x-yaml"


class ZipResponse(Response):
    media_type = "application/zip"


# The YAML document's shape (clients that parse YAML, schemathesis among them, check it).
INDEX_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "name", "version", "date", "path", "sha256"],
        "properties": {
            **{key: {"type": "string"} for key in ("id", "name", "version", "date", "path", "sha256")},
            "requires": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
        },
    },
}

router = APIRouter(tags=["plugin"])


def _plugin() -> PackedPlugin:
    try:
        plugin = packaged_plugin()  # packed once per process
    except (PluginBundleError, OSError):
        log.exception("cannot pack the Stash plugin shipped in this package")
        raise ApiError(
            500, "internal_error", "the Stash plugin shipped with this sidecar cannot be packed (see the sidecar's log)"
        ) from None
    if plugin.zip_name != ZIP_PATH.rsplit("/", 1)[1]:  # the zip route below must serve the path the index names
        raise ApiError(500, "internal_error", f"the shipped plugin's id is {plugin.id!r}, not {PLUGIN_ID!r}")
    return plugin


@router.get(
    INDEX_PATH,
    response_class=YamlResponse,
    summary="Stash plugin source index (no API key needed)",
    responses={
        200: {
            "description": "A Stash plugin source listing this sidecar's plugin",
            "content": {"application/x-yaml": {"schema": INDEX_SCHEMA}},
        }
    },
)
def plugin_index() -> YamlResponse:
    """Add this URL in Stash (Settings > Plugins > Available Plugins > Add Source) to install the
    Stash Sense plugin of this sidecar: one entry, the sidecar's version, the zip's sha256."""
    return YamlResponse(_plugin().index_yaml(), headers={"Cache-Control": "no-cache"})


@router.get(
    ZIP_PATH,
    response_class=ZipResponse,
    summary="The Stash plugin as a zip (no API key needed)",
    responses={
        200: {
            "description": "The plugin files, as Stash unpacks them into its plugins folder",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def plugin_zip() -> ZipResponse:
    plugin = _plugin()
    return ZipResponse(
        plugin.data,
        headers={
            "Cache-Control": "no-cache",
            "ETag": f'"{plugin.sha256}"',
            "Content-Disposition": f'attachment; filename="{plugin.zip_name}"',
        },
    )
