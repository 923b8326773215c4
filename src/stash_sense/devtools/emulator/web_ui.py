"""Stash's own web UI served by the emulator, as Stash serves it (``internal/api/server.go``),
and the reverse-proxy base path in front of it.

* :class:`StashWebUI`: a production build of Stash's UI (``ui/v2.5``, built by Vite) read from
  a folder given at start-up, never copied anywhere. ``/``, ``/index.html`` and every path
  without an extension (the SPA's routes) get ``index.html`` with ``%COLOR%`` and
  ``<base href="/"`` filled in; a request for ``NAME`` is answered from ``NAME.gz`` with
  ``Content-Encoding: gzip`` (the build keeps only the compressed file); ``/css``,
  ``/javascript`` (the user's custom CSS and JavaScript: empty) and ``/customlocales`` (``{}``)
  are answered as by a Stash with none configured. ``/login``, where the UI sends a browser
  that got a 401, asks for the emulator's API key (it has no users) and hands out the
  ``session`` cookie the emulator accepts, as Stash's login does.
* :class:`BasePath`: what a reverse proxy at ``/stash`` does in front of Stash: it strips the
  prefix and sends ``X-Forwarded-Prefix: /stash``, from which Stash writes ``<base href>`` and
  the absolute URLs it hands out (``getProxyPrefix``). Requests outside the prefix reach Stash
  directly, as the sidecar and plugin backends reach Stash's own port behind such a proxy.
"""

from __future__ import annotations

import gzip
import hmac
import html
import mimetypes
from pathlib import Path, PurePosixPath

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

THEME_COLOR = "#202b33"  # Stash's default theme colour (config.GetThemeColor)
_TYPES = {
    ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".svg": "image/svg+xml", ".md": "text/markdown; charset=utf-8",
    ".html": "text/html; charset=utf-8", ".png": "image/png", ".ico": "image/x-icon", ".gif": "image/gif",
    ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".webmanifest": "application/manifest+json",
}


def proxy_prefix(connection: HTTPConnection) -> str:
    """Stash's ``getProxyPrefix``: ``X-Forwarded-Prefix`` without its trailing slash."""
    return connection.headers.get("x-forwarded-prefix", "").rstrip("/")


def check_ui_dir(ui_dir: Path) -> Path:
    """The build folder (holding ``index.html``), or a clear error."""
    root = Path(ui_dir).expanduser().resolve()
    if (root / "build" / "index.html").is_file() and not (root / "index.html").is_file():
        root = root / "build"
    if not (root / "index.html").is_file():
        raise FileNotFoundError(f"no index.html in {ui_dir}: expected a production build of Stash's web UI (stash-ui/build)")
    return root


class StashWebUI:
    """The SPA and its assets, plus the custom CSS/JavaScript/locales and login routes."""

    def __init__(self, ui_dir: Path, *, api_key: str | None = None, session_cookie: str | None = None):
        self.root = check_ui_dir(ui_dir)
        self._index = (self.root / "index.html").read_text(encoding="utf-8")
        self.api_key = api_key or None
        self.session_cookie = session_cookie

    def _return_to(self, request: Request, value: str | None) -> str:
        """Where a login goes next: the page the UI came from, on this server only."""
        prefix = proxy_prefix(request)
        if value:
            target = value
            own = str(request.base_url).rstrip("/")
            if target.startswith(own + "/"):
                target = target[len(own):]
            if target.startswith("/") and not target.startswith("//"):
                return target
        return prefix + "/"

    async def login(self, request: Request) -> Response:
        back = request.query_params.get("returnURL")
        if self.api_key is None or self.session_cookie is None:
            return RedirectResponse(self._return_to(request, back), status_code=302)
        error = ""
        if request.method == "POST":
            form = await request.form()
            given = str(form.get("apikey") or "")
            back = str(form.get("returnURL") or "") or back
            if hmac.compare_digest(given.encode(), self.api_key.encode()):
                response = RedirectResponse(self._return_to(request, back), status_code=302)
                response.set_cookie("session", self.session_cookie, path=proxy_prefix(request) or "/", httponly=True, samesite="lax")
                return response
            error = '<p role="alert">That is not the API key of this emulator.</p>'
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Stash emulator: log in</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
            '<body style="font-family: sans-serif; background: #202b33; color: #f5f8fa; padding: 2rem">'
            "<h1>Stash emulator</h1><p>The emulator has no users: log in with its API key.</p>"
            f'{error}<form method="post"><label for="apikey">API key</label> '
            '<input id="apikey" name="apikey" type="password" autocomplete="current-password" autofocus> '
            f'<input type="hidden" name="returnURL" value="{html.escape(back or "", quote=True)}">'
            '<button type="submit">Log in</button></form></body></html>'
        )
        return HTMLResponse(page, status_code=401 if error else 200)

    def index_html(self, prefix: str) -> str:
        html = self._index.replace("%COLOR%", THEME_COLOR)
        return html.replace('<base href="/"', f'<base href="{prefix}/"', 1)

    async def custom_css(self, _request: Request) -> Response:
        return Response(b"\n", media_type="text/css")

    async def custom_javascript(self, _request: Request) -> Response:
        return Response(b"\n", media_type="text/javascript")

    async def custom_locales(self, _request: Request) -> Response:
        return JSONResponse({})

    async def page(self, request: Request) -> Response:
        path = request.url.path
        if PurePosixPath(path).suffix == "" or path == "/index.html":
            html = self.index_html(proxy_prefix(request))
            return Response(html, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})
        return self._static(request, path)

    def _static(self, request: Request, path: str) -> Response:
        relative = PurePosixPath(path.lstrip("/"))
        if ".." in relative.parts or not relative.parts:
            return PlainTextResponse("404 page not found", status_code=404)
        target = self.root.joinpath(*relative.parts)
        media_type = _TYPES.get(relative.suffix) or mimetypes.guess_type(relative.name)[0] or "application/octet-stream"
        cache = "public, max-age=31536000, immutable" if relative.parts[0] == "assets" else "no-cache"
        headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
        compressed = target.with_name(target.name + ".gz")
        if compressed.is_file() and self._inside(compressed):
            data = compressed.read_bytes()
            if "gzip" in Headers(scope=request.scope).get("accept-encoding", ""):
                return Response(data, media_type=media_type, headers={**headers, "Content-Encoding": "gzip"})
            return Response(gzip.decompress(data), media_type=media_type, headers=headers)
        if target.is_file() and self._inside(target):
            return Response(target.read_bytes(), media_type=media_type, headers=headers)
        return PlainTextResponse("404 page not found", status_code=404)

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)


class BasePath:
    """ASGI middleware standing in for a reverse proxy that serves Stash under ``prefix``."""

    def __init__(self, app: ASGIApp, *, prefix: str):
        self.app = app
        self.prefix = "/" + prefix.strip("/")
        if self.prefix == "/":
            raise ValueError("the base path must not be empty or '/'")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.prefix and scope["type"] == "http":
            # As a proxy would: the bare prefix redirects to the prefix with its slash.
            await Response(status_code=308, headers={"Location": self.prefix + "/"})(scope, receive, send)
            return
        if not path.startswith(self.prefix + "/"):
            await self.app(scope, receive, send)  # Stash's own port, reached directly
            return
        stripped = path[len(self.prefix):]
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"x-forwarded-prefix"]
        headers.append((b"x-forwarded-prefix", self.prefix.encode("latin-1")))
        raw = scope.get("raw_path")
        new_scope = {
            **scope, "path": stripped, "headers": headers,
            "raw_path": raw[len(self.prefix):] if isinstance(raw, bytes) and raw.startswith(self.prefix.encode()) else stripped.encode(),
        }
        await self.app(new_scope, receive, send)
