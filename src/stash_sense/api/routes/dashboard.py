"""The dashboard: static files shipped inside the package, served at ``/`` and ``/dashboard/``.

They are public (they hold no data; the page asks for the API key and sends it with every API
call) and tightly fenced by a Content-Security-Policy: scripts and styles from this origin
only, nothing fetched from anywhere else.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Path
from fastapi.responses import RedirectResponse, Response

from stash_sense.api.errors import not_found

router = APIRouter(include_in_schema=False)

ASSET_PREFIX = "/dashboard/"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Inline styles are allowed for the benchmark report shown in a sandboxed frame (it carries its
# own <style>); scripts never run inline.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-src 'self' blob:; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _asset(name: str) -> bytes | None:
    if "/" in name or name.startswith(".") or not any(name.endswith(ext) for ext in _TYPES):
        return None
    path = resources.files("stash_sense.api") / "dashboard" / name
    return path.read_bytes() if path.is_file() else None


def _serve(name: str) -> Response:
    data = _asset(name)
    if data is None:
        raise not_found(f"no dashboard file {name!r}")
    suffix = name[name.rfind(".") :]
    return Response(data, media_type=_TYPES[suffix], headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})


@router.get("/")
async def index() -> Response:
    return _serve("index.html")


@router.get("/dashboard")
async def dashboard_root() -> Response:
    return RedirectResponse("/")


@router.get(ASSET_PREFIX + "{name}")
async def asset(name: str = Path(max_length=64)) -> Response:
    return _serve(name)
