"""Stash's ``/plugin/{id}/...`` routes (``internal/api/routes_plugin.go``): a plugin's UI files
and assets, read from the plugins folder on every request.

``/plugin/{id}/javascript`` is every local file of the manifest's ``ui.javascript``, in order,
each followed by a newline, as one response (``/css`` likewise); a disabled plugin answers
400, an unknown id 404. Stash mounts ``/plugin`` for these routes alone, so any other path
under it (a plugin page's own route such as ``/plugin/stash-sense``, opened directly or
reloaded) is a 404 too, as in Stash (stashapp/stash#5124): the page is reached from inside the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

log = logging.getLogger("stash_sense.devtools.emulator")


class PluginFiles:
    def __init__(self, host: Callable[[], Any]):
        self._host = host  # the PluginHost, or None when the emulator has no plugins folder

    def _plugin(self, request: Request) -> Any:
        host = self._host()
        plugin = host.plugins.get(request.path_params["plugin_id"]) if host is not None else None
        if plugin is None:
            return PlainTextResponse("Not Found", status_code=404)
        if not host.enabled(plugin.id):
            return PlainTextResponse("plugin disabled", status_code=400)
        return plugin

    async def javascript(self, request: Request) -> Response:
        return self._concatenated(request, "javascript", "text/javascript")

    async def css(self, request: Request) -> Response:
        return self._concatenated(request, "css", "text/css")

    def _concatenated(self, request: Request, kind: str, media_type: str) -> Response:
        plugin = self._plugin(request)
        if isinstance(plugin, Response):
            return plugin
        parts: list[bytes] = []
        for path in plugin.files(kind):
            try:
                parts.append(path.read_bytes())
            except OSError as exc:
                log.error("error serving file %s: %s", path, exc)  # Stash logs and goes on
            parts.append(b"\n")
        return Response(b"".join(parts), media_type=media_type)

    async def asset(self, request: Request) -> Response:
        plugin = self._plugin(request)
        if isinstance(plugin, Response):
            return plugin
        url = "/" + request.path_params["path"]
        folder: str | None = plugin.assets.get("/")
        for prefix, location in plugin.assets.items():
            if prefix != "/" and url.startswith(prefix):
                url, folder = url[len(prefix):], location
                break
        if not folder:
            return PlainTextResponse("404 page not found", status_code=404)
        root = (plugin.directory / folder).resolve()
        relative = PurePosixPath(url.lstrip("/"))
        target = root.joinpath(*relative.parts) if relative.parts else root
        if ".." in relative.parts or not root.is_relative_to(plugin.directory.resolve()) or not target.is_file():
            return PlainTextResponse("404 page not found", status_code=404)
        return FileResponse(Path(target))

    async def not_found(self, _request: Request) -> Response:
        return PlainTextResponse("404 page not found", status_code=404)
