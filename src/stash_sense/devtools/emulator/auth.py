"""API-key authentication and key-free access logging for the emulators.

Stash accepts the key in the ``ApiKey`` header or the ``apikey`` query parameter (and a
``session`` cookie); stash-box accepts only the header. A missing or wrong key is a 401 (a
WebSocket handshake without one is refused). Keys
are compared in constant time and never logged: the access log writes paths without their
query strings, because media URLs carry ``?apikey=``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Collection
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlencode

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stash_sense.devtools.emulator")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class ApiKeyAuth:
    """ASGI middleware: every HTTP request needs the key when one is configured."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: str | None,
        allow_query_param: bool,
        session_cookie: str | None = None,
        json_paths: Collection[str] = ("/graphql",),
        public_prefixes: Collection[str] = (),
        public_paths: Collection[str] = (),
        login_path: str | None = None,
    ):
        self.app = app
        self.api_key = api_key or None
        self.allow_query_param = allow_query_param
        self.session_cookie = session_cookie or None
        self.json_paths = set(json_paths)
        self.public_prefixes = tuple(public_prefixes)
        self.public_paths = frozenset(public_paths)
        self.login_path = login_path  # where Stash sends a browser without a session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.api_key is None or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Refused before the handshake completes: the client sees a 403.
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        message = "Unauthorized: a valid API key is required (header ApiKey"
        message += ", or query parameter apikey)" if self.allow_query_param else ")"
        if scope["path"] in self.json_paths:
            response = JSONResponse({"errors": [{"message": message}], "data": None}, status_code=401)
        elif self.login_path is not None and scope["method"] in ("GET", "HEAD"):
            # As Stash: a page asked for without a session goes to the login page, and back.
            prefix = Headers(scope=scope).get("x-forwarded-prefix", "").rstrip("/")
            query = scope.get("query_string", b"").decode("latin-1")
            back = prefix + scope["path"] + (f"?{query}" if query else "")
            response = RedirectResponse(f"{prefix}{self.login_path}?{urlencode({'returnURL': back})}", status_code=302)
        else:
            response = PlainTextResponse(message, status_code=401)
        await response(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        assert self.api_key is not None
        if self.public_prefixes and scope["path"].startswith(self.public_prefixes):
            return True
        if scope["path"] in self.public_paths:
            return True
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if "apikey" in headers:
            # A wrong header is a 401 even if a query parameter is also present, as in Stash.
            return _same(headers["apikey"], self.api_key)
        if self.allow_query_param:
            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("apikey")
            if values:
                return _same(values[0], self.api_key)
        if self.session_cookie is not None and "cookie" in headers:
            try:
                cookie = SimpleCookie(headers["cookie"])
            except CookieError:
                return False
            morsel = cookie.get("session")
            return morsel is not None and _same(morsel.value, self.session_cookie)
        return False


class AccessLog:
    """Logs method, path (no query string), status and time at DEBUG."""

    def __init__(self, app: ASGIApp, name: str):
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            log.debug(
                "%s %s %s %s %.1f ms", self.name, scope["method"], scope["path"], status,
                (time.perf_counter() - started) * 1000,
            )
