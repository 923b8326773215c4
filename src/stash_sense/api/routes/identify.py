"""``POST /identify``: who is in this image (multipart upload, ``image_url`` or base64)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from stash_sense.api.deps import Sidecar, get_sidecar
from stash_sense.api.errors import COMMON_ERRORS, ApiError, FieldError, bad_request, error_responses, too_large
from stash_sense.api.identification import identify_image_bytes
from stash_sense.api.media import decode_base64_image, fetch_image_url
from stash_sense.api.schemas import IdentifyJSONRequest, IdentifyOptions, IdentifyResponse
from stash_sense.api.url_guard import UrlGuard
from stash_sense.stash import Priority

router = APIRouter(tags=["identify"], responses=error_responses(*COMMON_ERRORS))


def _request_body_doc() -> dict[str, Any]:
    """The two accepted bodies, written out because the route parses its body itself (to
    stream-limit uploads and give precise errors)."""
    options = IdentifyOptions.model_json_schema()
    json_schema = IdentifyJSONRequest.model_json_schema()
    json_schema["oneOf"] = [{"required": ["image_url"]}, {"required": ["image_base64"]}]
    form_schema = {
        "type": "object",
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "The image file."}, **options["properties"]},
    }
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": form_schema}, "application/json": {"schema": json_schema}},
        }
    }


def _validation_error(exc: ValidationError, where: str) -> ApiError:
    fields = [FieldError(loc=[where, *e["loc"]], msg=e["msg"]) for e in exc.errors()]
    summary = "; ".join(f"{'.'.join(str(p) for p in f.loc)}: {f.msg}" for f in fields[:5])
    return ApiError(422, "validation_error", f"invalid request: {summary}", fields=fields)


async def _from_multipart(request: Request, max_bytes: int) -> tuple[bytes, IdentifyOptions]:
    try:
        form = await request.form(max_files=1, max_fields=16, max_part_size=64 * 1024)
    except MultiPartException as exc:
        raise bad_request(f"malformed multipart body: {exc.message}", error="invalid_multipart") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "validation_error", "multipart body needs a 'file' field holding the image")
        fields = {k: v for k, v in form.multi_items() if k != "file"}
        if any(not isinstance(v, str) for v in fields.values()):
            raise ApiError(422, "validation_error", "only the 'file' field may be a file")
        try:
            options = IdentifyOptions.model_validate(fields)
        except ValidationError as exc:
            raise _validation_error(exc, "body") from None
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise too_large(f"image larger than {max_bytes / 1024 / 1024:.1f} MB")
        return data, options
    finally:
        await form.close()


async def _from_json(request: Request, sidecar: Sidecar) -> tuple[bytes, IdentifyOptions]:
    settings = sidecar.settings
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("the request body is not valid JSON", error="invalid_json") from None
    try:
        body = IdentifyJSONRequest.model_validate(payload)
    except ValidationError as exc:
        raise _validation_error(exc, "body") from None
    options = IdentifyOptions.model_validate(body.model_dump(include=set(IdentifyOptions.model_fields)))
    if body.image_base64 is not None:
        return decode_base64_image(body.image_base64, settings.max_upload_bytes), options
    url = body.image_url or ""
    headers = sidecar.stash.media_headers(url) if sidecar.stash.configured else {}
    data = await fetch_image_url(
        url, headers=headers, max_bytes=settings.max_upload_bytes, timeout=settings.fetch_timeout_s,
        guard=UrlGuard.from_settings(settings),
    )
    return data, options


@router.post(
    "/identify", response_model=IdentifyResponse, summary="Identify the performers in one image",
    openapi_extra=_request_body_doc(), responses=error_responses(400, 413, 415, 422, 503, 504),
)
async def identify(request: Request, sidecar: Sidecar = Depends(get_sidecar)) -> IdentifyResponse:
    """Send the image as ``multipart/form-data`` (field ``file``, options as form fields) or as
    JSON with ``image_url`` or ``image_base64``. Faces come back with accepted matches and every
    candidate considered."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        data, options = await _from_multipart(request, sidecar.settings.max_upload_bytes)
    elif content_type == "application/json":
        data, options = await _from_json(request, sidecar)
    else:
        raise ApiError(
            415, "unsupported_media_type",
            "send multipart/form-data with a 'file' field, or application/json with image_url or image_base64",
        )
    if not data:
        raise ApiError(422, "unreadable_image", "image: empty file (0 bytes)")
    async with sidecar.face_db.lease() as recognizer:
        return await sidecar.work.run(
            identify_image_bytes, recognizer, data, options, sidecar.settings.max_image_pixels,
            priority=Priority.HIGH, what="identification",
        )
