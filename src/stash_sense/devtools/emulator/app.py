"""The Stash emulator: Stash's real GraphQL schema and media routes over a sample library.

It stands in for Stash in tests and in the demo; production code talks to it exactly as it
talks to Stash (``POST /graphql`` with ``ApiKey``, absolute media URLs from ``paths``).
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from stash_sense.devtools.emulator.auth import AccessLog, ApiKeyAuth
from stash_sense.devtools.emulator.catalog import StashCatalog
from stash_sense.devtools.emulator.gql import GraphQLEndpoint, attach_resolvers, load_schema
from stash_sense.devtools.emulator.media import image_mime, default_portrait
from stash_sense.devtools.emulator.ranges import UnsatisfiableRange, parse_range
from stash_sense.devtools.emulator.plugin_files import PluginFiles
from stash_sense.devtools.emulator.stash_api import DEFAULT_STASH_BOXES, RESOLVERS, StashContext, StashSettings
from stash_sense.devtools.emulator.subscriptions import GraphQLWebSocket, attach_subscriptions
from stash_sense.devtools.emulator.web_ui import BasePath, StashWebUI, proxy_prefix


def create_app(
    library_dir: Path,
    *,
    api_key: str | None = None,
    schema_dir: Path | None = None,
    state_db: Path | None = None,
    external_url: str | None = None,
    performers_without_image: Collection[int | str] = (),
    stash_boxes: Sequence[Mapping[str, Any]] | None = None,
    session_cookie: str | None = None,
    plugins_dir: Path | None = None,
    stash_ui: Path | None = None,
    base_path: str | None = None,
) -> Starlette:
    """An ASGI app emulating Stash over the sample library in ``library_dir``.

    ``state_db``: where mutations are kept; by default a fresh database per app, removed at
    shutdown (a given path is kept and reused). ``external_url``: the base of the absolute
    media URLs (default: the request's own host). ``performers_without_image``: library
    performer ids served as having no image (Stash's ``&default=true`` placeholder).
    ``stash_boxes``: the configured stash-box endpoints (default: StashDB, no key).
    ``session_cookie``: a ``session`` cookie value accepted instead of the key, as Stash
    accepts the cookie it hands to plugins. ``plugins_dir``: Stash's plugins folder; its raw
    plugins run through ``runPluginOperation``/``runPluginTask`` (see ``plugins.py``), their UI
    files are served at ``/plugin/<id>/javascript`` and ``/css``, and plugin packages install into
    it (``packages.py``). ``stash_ui``: a production build of Stash's web UI, served at ``/`` as
    Stash serves it (``web_ui.py``), with GraphQL subscriptions over WebSocket at ``/graphql``.
    ``base_path``: also serve everything under this prefix (e.g. ``/stash``), as a reverse proxy
    in front of Stash does (``X-Forwarded-Prefix``); Stash's own paths keep working.
    """
    from stash_sense.config import stash_schema_dir

    schema = load_schema(Path(schema_dir or stash_schema_dir()).resolve())
    attach_resolvers(schema, RESOLVERS, "Stash")
    attach_subscriptions(schema)
    catalog = StashCatalog(
        Path(library_dir),
        state_db=state_db,
        performers_without_image=[int(i) for i in performers_without_image],
    )
    settings = StashSettings(
        api_key=api_key or None,
        external_url=external_url.rstrip("/") if external_url else None,
        stash_boxes=tuple(stash_boxes) if stash_boxes is not None else DEFAULT_STASH_BOXES,
    )

    def base_url(request: HTTPConnection) -> str:
        # Stash's BaseURLMiddleware: scheme://host (or the external host) plus the proxy prefix.
        return (settings.external_url or str(request.base_url).rstrip("/")) + proxy_prefix(request)

    plugins = None
    if plugins_dir is not None or stash_ui is not None:
        # Stash hands each plugin run a session cookie it accepts in place of the API key, and
        # its login hands a browser one.
        session_cookie = session_cookie or secrets.token_urlsafe(24)
    if plugins_dir is not None:
        from stash_sense.devtools.emulator.plugins import PluginHost

        plugins = PluginHost(
            Path(plugins_dir), config_dir=catalog.state_dir, session_cookie=session_cookie,
            disabled=catalog.store.get_config("disabledPlugins", []),
        )

    def context(request: HTTPConnection) -> StashContext:
        return StashContext(catalog, settings, base_url(request), plugins=plugins)

    graphql_endpoint = GraphQLEndpoint(schema, context)
    media = _MediaRoutes(catalog)
    plugin_files = PluginFiles(lambda: plugins)
    ui = StashWebUI(Path(stash_ui), api_key=api_key, session_cookie=session_cookie) if stash_ui is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if plugins is not None:
                await plugins.close()
            catalog.close()

    routes: list[BaseRoute] = [
        Route("/graphql", graphql_endpoint.handle, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", GraphQLWebSocket(schema, context).handle),
        Route("/scene/{scene_id:int}/stream", _StreamEndpoint(catalog), methods=["GET", "HEAD"]),
        Route("/scene/{scene_id:int}/screenshot", media.screenshot, methods=["GET", "HEAD"]),
        Route("/scene/{oshash}_sprite.jpg", media.sprite_image, methods=["GET", "HEAD"]),
        Route("/scene/{oshash}_thumbs.vtt", media.sprite_vtt, methods=["GET", "HEAD"]),
        Route("/performer/{performer_id:int}/image", media.performer_image, methods=["GET", "HEAD"]),
        Route("/tag/{tag_id:int}/image", media.tag_image, methods=["GET", "HEAD"]),
        Route("/scene/{scene_id:int}/interactive_heatmap", media.interactive_heatmap, methods=["GET", "HEAD"]),
        # Stash mounts /plugin for the plugins' files: any other path under it is a 404.
        Route("/plugin/{plugin_id}/javascript", plugin_files.javascript, methods=["GET", "HEAD"]),
        Route("/plugin/{plugin_id}/css", plugin_files.css, methods=["GET", "HEAD"]),
        Route("/plugin/{plugin_id}/assets/{path:path}", plugin_files.asset, methods=["GET", "HEAD"]),
        Route("/plugin/{rest:path}", plugin_files.not_found, methods=["GET", "HEAD"]),
    ]
    # Everything else under the prefixes Stash mounts for its own routes is a 404 there (a
    # scene's preview, heatmap, captions: files the emulator never generates), never the SPA.
    routes += [
        Route(f"/{mount}/{{rest:path}}", plugin_files.not_found, methods=["GET", "HEAD"])
        for mount in ("scene", "performer", "gallery", "image", "studio", "group", "tag", "downloads", "custom")
    ]
    if ui is not None:
        routes += [
            Route("/css", ui.custom_css, methods=["GET", "HEAD"]),
            Route("/javascript", ui.custom_javascript, methods=["GET", "HEAD"]),
            Route("/customlocales", ui.custom_locales, methods=["GET", "HEAD"]),
            Route("/login", ui.login, methods=["GET", "POST"]),
            Route("/{path:path}", ui.page, methods=["GET", "HEAD"]),
        ]
    app = Starlette(
        routes=routes,
        middleware=[
            *([Middleware(BasePath, prefix=base_path)] if base_path else []),
            Middleware(AccessLog, name="stash-emulator"),
            Middleware(
                ApiKeyAuth, api_key=api_key, allow_query_param=True, session_cookie=session_cookie,
                public_paths=("/login",) if ui is not None else (), login_path="/login" if ui is not None else None,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.catalog = catalog
    app.state.plugins = plugins
    app.state.base_path = ("/" + base_path.strip("/")) if base_path else ""
    return app


# A 1x1 transparent PNG.
_TRANSPARENT_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)


class _MediaRoutes:
    def __init__(self, catalog: StashCatalog):
        self.catalog = catalog

    async def screenshot(self, request: Request) -> Response:
        scene_file = self.catalog.files.get(request.path_params["scene_id"])
        if scene_file is None:
            return PlainTextResponse("scene not found", status_code=404)
        seconds: float | None = None
        if "t" in request.query_params:
            try:
                seconds = float(request.query_params["t"])
            except ValueError:
                return PlainTextResponse("t must be a number of seconds", status_code=400)
            # Stash's own screenshot URLs carry ?t=<updated_at> as a cache buster; a value that
            # is not a time inside the video selects the default cover frame.
            if not math.isfinite(seconds) or not 0 <= seconds <= scene_file.info.duration:
                seconds = None
        data = await run_in_threadpool(self.catalog.screenshot, request.path_params["scene_id"], seconds)
        return Response(data, media_type="image/jpeg")

    async def sprite_image(self, request: Request) -> Response:
        paths = await self._sprite(request)
        return paths if isinstance(paths, Response) else FileResponse(paths[0], media_type="image/jpeg")

    async def sprite_vtt(self, request: Request) -> Response:
        paths = await self._sprite(request)
        return paths if isinstance(paths, Response) else FileResponse(paths[1], media_type="text/vtt; charset=utf-8")

    async def _sprite(self, request: Request) -> tuple[Path, Path] | Response:
        oshash = request.path_params["oshash"]
        if oshash not in self.catalog.scene_by_oshash:
            return PlainTextResponse("no scene has that hash", status_code=404)
        return await run_in_threadpool(self.catalog.sprite, oshash)

    async def performer_image(self, request: Request) -> Response:
        performer_id = request.path_params["performer_id"]
        if self.catalog.store.performer(performer_id) is None:
            return PlainTextResponse("performer not found", status_code=404)
        image = self.catalog.store.performer_image(performer_id)
        if image is None or request.query_params.get("default") == "true":
            return Response(default_portrait(), media_type="image/png")
        data = image.data if image.data is not None else await run_in_threadpool(image.file.read_bytes)  # type: ignore[union-attr]
        return Response(data, media_type=image_mime(data))

    async def interactive_heatmap(self, request: Request) -> Response:
        # Stash answers 404 for a scene without a generated heatmap, which the scene page's
        # scrubber asks for on every scene (a console error in the browser): the emulator's
        # scenes are not interactive, so it answers an empty (transparent) heatmap instead.
        if self.catalog.store.scene(request.path_params["scene_id"]) is None:
            return PlainTextResponse("404 page not found", status_code=404)
        return Response(_TRANSPARENT_PNG, media_type="image/png")

    async def tag_image(self, request: Request) -> Response:
        # Tags never have images in the emulator: Stash's default image stands in.
        if self.catalog.store.tag(request.path_params["tag_id"]) is None:
            return PlainTextResponse("tag not found", status_code=404)
        return Response(default_portrait(), media_type="image/png")


class _StreamEndpoint:
    """``/scene/{id}/stream``: the file itself, with Range requests (an ASGI app, because it
    rewrites the request's Range header before Starlette's file response reads it)."""

    def __init__(self, catalog: StashCatalog):
        self.catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scene_file = self.catalog.files.get(scope["path_params"]["scene_id"])
        if scene_file is None:
            await PlainTextResponse("scene not found", status_code=404)(scope, receive, send)
            return
        path = scene_file.info.path
        header = Headers(scope=scope).get("range")
        if header is not None:
            size = path.stat().st_size
            try:
                ranges = parse_range(header, size)
            except UnsatisfiableRange as exc:
                response = PlainTextResponse(
                    f"range not satisfiable: {exc}",
                    status_code=416,
                    headers={"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
                )
                await response(scope, receive, send)
                return
            # Hand Starlette the normalised ranges so it serves exactly what was validated.
            normalised = "bytes=" + ",".join(f"{first}-{last}" for first, last in ranges)
            headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
            scope = {**scope, "headers": [*headers, (b"range", normalised.encode("latin-1"))]}
        await FileResponse(path, media_type="video/mp4")(scope, receive, send)
