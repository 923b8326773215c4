"""The stash-box emulator's test API under ``/_emulator/``: edit the catalogue while the server
runs (the way stash-box's editors change it between two syncs) and read the traffic counters.

    POST   /_emulator/performers        {name, images: [absolute paths], aliases?, disambiguation?,
                                          gender?, country?, urls?}           -> 201 the performer
    GET    /_emulator/performers/{id}                                       -> the performer
    PATCH  /_emulator/performers/{id}   {name?, aliases?, disambiguation?, gender?, country?,
                                          urls?, add_images?: [paths], remove_images?: [image ids]}
    DELETE /_emulator/performers/{id}                                       -> the performer, deleted
    POST   /_emulator/merge             {source_ids: [...], target_id}      -> the target
    GET    /_emulator/stats                                                 -> the counters
    POST   /_emulator/stats/reset                                           -> the counters, zeroed

Performers come back as JSON shaped like the GraphQL ``Performer`` (``urls`` as plain strings).
Bad input is a 400 and an unknown id a 404, both ``{"error": message}``. The routes need the
``ApiKey`` header when the emulator has a key, like GraphQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stash_sense.devtools.emulator.stashbox_catalog import BoxPerformer, CatalogError, PerformerNotFound, StashBoxCatalog
from stash_sense.devtools.emulator.stashbox_graphql import performer_json
from stash_sense.devtools.emulator.stashbox_ratelimit import RequestStats

_FIELDS = ("name", "aliases", "disambiguation", "gender", "country", "urls")
_CREATE_KEYS = frozenset({*_FIELDS, "images"})
_UPDATE_KEYS = frozenset({*_FIELDS, "add_images", "remove_images"})
_MERGE_KEYS = frozenset({"source_ids", "target_id"})


class _BadRequest(Exception):
    """The request body is not what the route takes."""


def admin_routes(catalog: StashBoxCatalog, stats: RequestStats, base_url: Callable[[Request], str]) -> list[Route]:
    """The ``/_emulator/`` routes over ``catalog`` and ``stats``; ``base_url`` gives the base of
    the image URLs in the answers."""

    async def apply(request: Request, edit: Callable[[dict[str, Any]], BoxPerformer], keys: Collection[str], status: int = 200) -> Response:
        try:
            body = await _body(request, keys) if keys else {}
            # Off the event loop: an edit checks its image files (a header read each).
            performer = await run_in_threadpool(edit, body)
        except (_BadRequest, CatalogError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except PerformerNotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        data = await run_in_threadpool(performer_json, performer, catalog, base_url(request))
        return JSONResponse(data, status_code=status)

    async def create(request: Request) -> Response:
        def edit(body: dict[str, Any]) -> BoxPerformer:
            if "name" not in body:
                raise _BadRequest("name is required")
            return catalog.create_performer(**{k: v for k, v in body.items() if k in _FIELDS}, images=body.get("images", []))

        return await apply(request, edit, _CREATE_KEYS, status=201)

    async def show(request: Request) -> Response:
        return await apply(request, lambda _body: catalog.require(request.path_params["performer_id"]), ())

    async def update(request: Request) -> Response:
        return await apply(
            request, lambda body: catalog.update_performer(request.path_params["performer_id"], **body), _UPDATE_KEYS
        )

    async def delete(request: Request) -> Response:
        return await apply(request, lambda _body: catalog.delete_performer(request.path_params["performer_id"]), ())

    async def merge(request: Request) -> Response:
        def edit(body: dict[str, Any]) -> BoxPerformer:
            if set(body) != _MERGE_KEYS:
                raise _BadRequest("merge takes source_ids (a list of performer ids) and target_id")
            return catalog.merge_performers(body["source_ids"], body["target_id"])

        return await apply(request, edit, _MERGE_KEYS)

    async def read_stats(_request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    async def reset_stats(_request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.snapshot())

    return [
        Route("/_emulator/performers", create, methods=["POST"]),
        Route("/_emulator/performers/{performer_id}", show, methods=["GET"]),
        Route("/_emulator/performers/{performer_id}", update, methods=["PATCH"]),
        Route("/_emulator/performers/{performer_id}", delete, methods=["DELETE"]),
        Route("/_emulator/merge", merge, methods=["POST"]),
        Route("/_emulator/stats", read_stats, methods=["GET"]),
        Route("/_emulator/stats/reset", reset_stats, methods=["POST"]),
    ]


async def _body(request: Request, allowed: Collection[str]) -> dict[str, Any]:
    """The JSON object body, refusing keys the route does not take (a typo must not pass silently)."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _BadRequest(f"unknown field(s) {', '.join(unknown)}; this route takes {', '.join(sorted(allowed))}")
    return body
