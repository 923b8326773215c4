"""stash-box's image host: ``GET /images/{id}?size=full|<width>``, public (no key).

Files are served as they are; a width smaller than the image's gives a JPEG resized to it
(stash-box's image resizer). Reading and resizing run in a worker thread, never on the event
loop, so one large photo does not stall every other request.
"""

from __future__ import annotations

import io
import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from stash_sense.devtools.emulator.media import image_mime
from stash_sense.devtools.emulator.stashbox_catalog import BoxImage, StashBoxCatalog

_SIZE = re.compile(r"^(full|\d{1,5})$")


def image_route(catalog: StashBoxCatalog) -> Route:
    async def image(request: Request) -> Response:
        entry = catalog.image(request.path_params["image_id"])
        if entry is None:
            return PlainTextResponse("image not found", status_code=404)
        size = request.query_params.get("size", "full")
        if not _SIZE.match(size):
            return PlainTextResponse("size must be 'full' or a width in pixels", status_code=400)
        data, mime = await run_in_threadpool(image_bytes, entry, None if size == "full" else int(size))
        return Response(data, media_type=mime)

    return Route("/images/{image_id}", image, methods=["GET", "HEAD"])


def image_bytes(entry: BoxImage, width: int | None) -> tuple[bytes, str]:
    """The file's bytes and MIME type, or a JPEG ``width`` pixels wide when that is smaller.
    A format browsers do not all show (BMP) is sent as JPEG too."""
    data = entry.path.read_bytes()
    try:
        mime = image_mime(data)
    except ValueError:
        mime = None
    if mime is not None and (width is None or width >= entry.width):
        return data, mime
    from PIL import Image

    with Image.open(io.BytesIO(data)) as source:
        picture = source.convert("RGB")
    if width is not None and width < picture.width:
        height = max(1, round(picture.height * width / picture.width))
        picture = picture.resize((max(1, width), height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    return out.getvalue(), "image/jpeg"
