"""API-key authentication: when ``STASH_SENSE_API_KEY`` is set, every request except
``GET /health`` (and what holds no data: the API description at ``/docs`` and
``/openapi.json``, the dashboard's static files, and the Stash plugin source at
``/plugin/index.yml`` and ``/plugin/stash-sense.zip``, which Stash fetches with no custom
headers) must carry it as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

Enforced by a middleware, so it covers every route and is checked before any request body is
read; the FastAPI security dependencies only document the schemes in OpenAPI.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from stash_sense.api.middleware import send_json_error

API_KEY_HEADER = "X-API-Key"
PUBLIC_PATHS = frozenset({
    "/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/", "/dashboard",
    # The Stash plugin source (routes/plugin_source.py): the plugin's own files, no data.
    "/plugin/index.yml", "/plugin/stash-sense.zip",
})
# The dashboard's static files hold no data; the page itself asks for the key.
PUBLIC_PREFIXES = ("/dashboard/",)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

_api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The sidecar's API key.")
_bearer_scheme = HTTPBearer(auto_error=False, description="The sidecar's API key as a bearer token.")


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a request carries, from ``X-API-Key`` or ``Authorization: Bearer``."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


def key_matches(given: str | None, expected: str) -> bool:
    # Constant-time comparison: response timing must not reveal how much of a guess was right.
    return given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


class ApiKeyAuth:
    """Rejects requests without the right key (401) before they reach a route."""

    def __init__(self, app: ASGIApp, *, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.api_key is None or is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        given = presented_key(scope.get("headers", []))
        if not key_matches(given, self.api_key):
            detail = (
                f"missing API key: send it as {API_KEY_HEADER} or Authorization: Bearer"
                if given is None
                else "wrong API key"
            )
            await send_json_error(send, 401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="stash-sense"'})
            return
        await self.app(scope, receive, send)


async def _document_schemes(
    _key: str | None = Security(_api_key_scheme), _bearer: HTTPAuthorizationCredentials | None = Security(_bearer_scheme)
) -> None:
    """Declares the two accepted schemes in OpenAPI; :class:`ApiKeyAuth` does the checking."""


def auth_dependencies(api_key_set: bool) -> list[Any]:
    """Router dependencies: the security schemes when a key is configured, nothing otherwise
    (so the published API description says exactly what the server enforces)."""
    return [Depends(_document_schemes)] if api_key_set else []
