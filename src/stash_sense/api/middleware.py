"""ASGI middleware for the limits every request is held to.

Pure ASGI (not ``BaseHTTPMiddleware``) so that request bodies stream through untouched and an
oversized upload is refused as it arrives, not after it has been buffered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("stash_sense.api")


async def send_json_error(send: Send, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class _Tracked:
    """Wraps ``send`` to know whether the response has started (then no error page can be sent)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class CatchAllErrors:
    """Last line of defence: an unexpected exception becomes a plain 500 JSON body.

    It is not re-raised, so the server never prints a traceback for it; the details go to the
    debug log only (tracebacks can carry paths and values we do not want in a shared log).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - that is the point of this middleware
            log.error("unexpected %s while serving %s %s", type(exc).__name__, scope.get("method"), scope.get("path"))
            log.debug("details of the unexpected error", exc_info=exc)
            if not tracked.started:
                await send_json_error(send, 500, "internal_error", "the sidecar hit an unexpected error; see its log")


class RequestLimits:
    """Body size (413), body arrival time (408) and total handling time (504) per request."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float, request_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.request_timeout_s = request_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit_mb = self.max_body_bytes / 1024 / 1024
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json_error(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if declared > self.max_body_bytes:
                    await send_json_error(send, 413, "payload_too_large", f"request body larger than {limit_mb:.1f} MB")
                    return
        tracked = _Tracked(send)
        received = 0
        body_done = False
        deadline = time.monotonic() + self.body_timeout_s

        async def limited_receive() -> Message:
            nonlocal received, body_done
            if body_done:
                return await receive()  # e.g. waiting for http.disconnect: not a body read
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                raise HTTPException(408, f"the request body did not arrive within {self.body_timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, f"request body larger than {limit_mb:.1f} MB")
                if not message.get("more_body", False):
                    body_done = True
            else:
                body_done = True
            return message

        try:
            async with asyncio.timeout(self.request_timeout_s):
                await self.app(scope, limited_receive, tracked)
        except TimeoutError:
            if not tracked.started:
                await send_json_error(
                    send,
                    504,
                    "timeout",
                    f"the request took longer than {self.request_timeout_s:g} s",
                )
        except HTTPException as exc:
            # Raised from limited_receive where no route caught it (e.g. during form parsing).
            if not tracked.started:
                await send_json_error(
                    send, exc.status_code, "payload_too_large" if exc.status_code == 413 else "request_timeout", str(exc.detail)
                )


def security_headers() -> list[tuple[str, str]]:
    """Headers that cost nothing and stop browsers from sniffing or framing API answers."""
    return [("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer")]


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in security_headers()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + self.headers
            await send(message)

        await self.app(scope, receive, with_headers)
