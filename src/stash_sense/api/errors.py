"""Structured JSON errors: every failure is ``{"error": code, "detail": message}`` with the right
HTTP status, and nothing internal (stack traces, paths of our code, secrets) ever leaks out.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("stash_sense.api")


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, e.g. ['body', 'params', 'num_frames'].")
    msg: str


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code, e.g. 'validation_error', 'not_found'.")
    detail: str = Field(description="What went wrong and what to do about it.")
    fields: list[FieldError] | None = Field(None, description="Per-field problems of a 422.")


class ApiError(Exception):
    """An error with its HTTP status; raised anywhere below a route, rendered by the handler."""

    def __init__(
        self, status: int, error: str, detail: str, *, headers: dict[str, str] | None = None, fields: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}
        self.fields = fields


def bad_request(detail: str, error: str = "bad_request") -> ApiError:
    return ApiError(400, error, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def unprocessable(detail: str, error: str = "unprocessable") -> ApiError:
    return ApiError(422, error, detail)


def unavailable(detail: str, *, retry_after: int | None = None, error: str = "unavailable") -> ApiError:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return ApiError(503, error, detail, headers=headers)


def too_large(detail: str) -> ApiError:
    return ApiError(413, "payload_too_large", detail)


def upstream(detail: str, error: str = "stash_error") -> ApiError:
    return ApiError(502, error, detail)


# Every documented status, for the OpenAPI ``responses`` of the routes.
_DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing or wrong API key",
    404: "Not found",
    408: "The request body took too long to arrive",
    409: "Conflicts with the current state",
    413: "Upload too large",
    415: "Unsupported content type",
    422: "Invalid parameters",
    502: "Stash failed or is unreachable",
    503: "Temporarily unavailable (see Retry-After)",
    504: "Took longer than the request timeout",
}


#: What any protected route may answer besides its own errors: malformed or oversized bodies,
#: slow uploads, a missing key, invalid parameters, and the request timeout.
COMMON_ERRORS = (400, 401, 408, 413, 422, 504)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": _DESCRIPTIONS[s]} for s in statuses}


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, fields: list[FieldError] | None = None
) -> JSONResponse:
    body = ErrorBody(error=error, detail=detail, fields=fields).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    out = []
    for err in exc.errors():
        # The offending input is left out on purpose: it may be large, binary or a secret.
        loc = [p if isinstance(p, (str, int)) else str(p) for p in err.get("loc", ())]
        out.append(FieldError(loc=loc, msg=str(err.get("msg", "invalid"))))
    return out


# How a use case's refusal reads over HTTP (see stash_sense.app.errors.Kind).
USE_CASE_STATUS = {"invalid": 400, "not_found": 404, "unprocessable": 422}


def install_error_handlers(app: FastAPI) -> None:
    from stash_sense.app.errors import UseCaseError

    @app.exception_handler(UseCaseError)
    async def _use_case_error(_request: Request, exc: UseCaseError) -> JSONResponse:
        return error_response(USE_CASE_STATUS[exc.kind], exc.error, exc.message)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.detail, exc.headers, exc.fields)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        fields = _field_errors(exc)
        summary = "; ".join(f"{'.'.join(str(p) for p in f.loc)}: {f.msg}" for f in fields[:5])
        return error_response(422, "validation_error", f"invalid request: {summary}", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such endpoint (see /docs)"
        return error_response(exc.status_code, _HTTP_CODES.get(exc.status_code, "http_error"), detail, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the debug log only; the client learns nothing internal.
        log.error("unexpected %s while serving %s %s", type(exc).__name__, request.method, request.url.path)
        log.debug("details of the unexpected error", exc_info=exc)
        return error_response(500, "internal_error", "the sidecar hit an unexpected error; see its log")
