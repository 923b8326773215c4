"""Test fixtures for the Stash client: real HTTP servers on loopback that speak the real schemas.

``FakeStash`` answers GraphQL by *executing* each request with graphql-core against Stash's real
schema (so a document or variable that Stash would reject is rejected here too), over a small
in-memory library. It can also be told to misbehave (status codes, garbage, slowness) for the
next N requests, and it records every request it gets (headers, URL, body) for assertions.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import uvicorn
from graphql import ExecutionResult, GraphQLSchema, build_schema, execute, parse, validate
from graphql.error import GraphQLSyntaxError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from stash_sense.config import stash_schema_dir, stashbox_schema_dir

STASHDB = "https://stashdb.org/graphql"
# A tiny but real JPEG header + padding: enough for mime sniffing, never decoded.
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4


# ---------------------------------------------------------------------------------------------
# schemas


def schema_files(root: Path) -> list[Path]:
    """``schema.graphql`` plus ``types/*.graphql``, wherever under ``root`` they sit."""
    candidates = [root / "schema" / "schema.graphql", root / "schema.graphql"]
    main = next((p for p in candidates if p.is_file()), None)
    if main is None:
        raise FileNotFoundError(f"no schema.graphql under {root}")
    return [main, *sorted((main.parent / "types").glob("*.graphql"))]


@cache
def load_schema(root: Path) -> GraphQLSchema:
    return build_schema("\n".join(p.read_text(encoding="utf-8") for p in schema_files(root)))


def stash_schema_or_skip() -> GraphQLSchema:
    import pytest

    root = stash_schema_dir()
    if not root.is_dir():
        pytest.skip(f"Stash schema not found at {root} (set STASH_SENSE_STASH_SCHEMA)")
    return load_schema(root)


def stashbox_schema_or_skip() -> GraphQLSchema:
    import pytest

    root = stashbox_schema_dir()
    if not root.is_dir():
        pytest.skip(f"stash-box schema not found at {root} (set STASH_SENSE_STASHBOX_SCHEMA)")
    return load_schema(root)


# ---------------------------------------------------------------------------------------------
# a real HTTP server in a thread


class LoopbackServer:
    """Runs an ASGI app with uvicorn on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> LoopbackServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        port = sock.getsockname()[1]
        # log_config=None: leave the test process's logging alone, so caplog sees uvicorn too.
        config = uvicorn.Config(self.app, log_config=None, log_level=None, lifespan="off", ws="none", loop="asyncio")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=15)
        if self._sock is not None:
            self._sock.close()


def free_port_refusing_connections() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# recording and misbehaving


@dataclass
class Recorded:
    method: str
    path: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None

    @property
    def operation(self) -> str | None:
        return (self.body or {}).get("operationName")


@dataclass
class Misbehaviour:
    status: int = 500
    body: bytes = b"internal error"
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    then_serve: bool = False  # after the delay, answer normally instead


class _Recorder:
    def __init__(self, api_key: str | None) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._script: deque[Misbehaviour] = deque()
        self._lock = threading.Lock()

    def misbehave(self, times: int = 1, **kwargs: Any) -> None:
        """The next ``times`` requests get this answer instead of the real one."""
        with self._lock:
            for _ in range(times):
                self._script.append(Misbehaviour(**kwargs))

    def count(self, path: str | None = None) -> int:
        return sum(1 for r in self.requests if path is None or r.path == path)

    async def _record(self, request: Request) -> tuple[Recorded, Response | None]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(request.method, request.url.path, str(request.url), dict(request.headers), body)
        with self._lock:
            self.requests.append(rec)
            bad = self._script.popleft() if self._script else None
        if bad is not None:
            if bad.delay:
                await asyncio.sleep(bad.delay)
            if not bad.then_serve:
                return rec, Response(bad.body, status_code=bad.status, media_type=bad.content_type, headers=bad.headers)
        return rec, None

    def _authorized(self, request: Request) -> bool:
        if not self.api_key:
            return True
        return request.headers.get("apikey") == self.api_key or request.query_params.get("apikey") == self.api_key

    def _execute(self, schema: GraphQLSchema, body: dict[str, Any] | None, root: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": [{"message": "no query document supplied"}]}, status_code=422)
        try:
            document = parse(body["query"])
        except GraphQLSyntaxError as exc:
            return JSONResponse({"errors": [{"message": exc.message}], "data": None}, status_code=422)
        errors = validate(schema, document)
        if errors:
            # gqlgen answers validation failures with 422 and a GraphQL error body.
            return JSONResponse({"errors": [e.formatted for e in errors], "data": None}, status_code=422)
        result = execute(
            schema,
            document,
            root_value=root,
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
        )
        assert isinstance(result, ExecutionResult)  # every resolver here is synchronous
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return JSONResponse(out)


# ---------------------------------------------------------------------------------------------
# Stash


def make_scene(i: int, base: str, performers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(i),
        "title": f"Scene {i}",
        "date": f"2024-01-{i % 28 + 1:02d}",
        "organized": i % 2 == 0,
        "updated_at": "2024-02-01T10:00:00Z",
        "files": [
            {
                "id": str(100 + i),
                "path": f"/media/scene{i}.mp4",
                "basename": f"scene{i}.mp4",
                "size": 1_000_000 + i,
                "width": 1280,
                "height": 720,
                "duration": 600.0 + i,
                "frame_rate": 29.97,
                "bit_rate": 4_000_000,
                "video_codec": "h264",
                "fingerprints": [{"type": "oshash", "value": f"{i:016x}"}, {"type": "phash", "value": "deadbeef"}],
            }
        ],
        "paths": {
            "screenshot": f"{base}/scene/{i}/screenshot?t=1700000000",
            "preview": f"{base}/scene/{i}/preview",
            "stream": f"{base}/scene/{i}/stream",
            "sprite": f"{base}/scene/{i:016x}_sprite.jpg",
            "vtt": f"{base}/scene/{i:016x}_thumbs.vtt",
        },
        "stash_ids": [{"endpoint": STASHDB, "stash_id": f"scene-uuid-{i}", "updated_at": "2024-01-01T00:00:00Z"}],
        "performers": performers,
        "sceneStreams": [{"url": f"{base}/scene/{i}/stream", "mime_type": "video/mp4", "label": "Direct stream"}],
    }


def make_performer(i: int, base: str) -> dict[str, Any]:
    return {
        "id": str(i),
        "name": f"Performer {i}",
        "disambiguation": None,
        "gender": "FEMALE",
        "country": "US",
        "alias_list": [f"Alias {i}"],
        "image_path": f"{base}/performer/{i}/image?t=1700000000" + ("&default=true" if i % 3 == 0 else ""),
        "scene_count": 1,
        "stash_ids": [{"endpoint": STASHDB, "stash_id": f"perf-uuid-{i}", "updated_at": "2024-01-01T00:00:00Z"}],
    }


class _StashRoot:
    """Root resolvers: graphql-core calls ``root.<field>(info, **args)``."""

    def __init__(self, fake: FakeStash) -> None:
        self.fake = fake

    @staticmethod
    def _page(items: list[dict[str, Any]], filter: dict[str, Any] | None) -> list[dict[str, Any]]:
        f = filter or {}
        if f.get("sort") == "id":
            items = sorted(items, key=lambda x: int(x["id"]), reverse=f.get("direction") == "DESC")
        per_page = f.get("per_page", 25)
        if per_page < 0:
            return items
        page = max(1, f.get("page") or 1)
        return items[(page - 1) * per_page : page * per_page]

    def version(self, info: Any) -> dict[str, Any]:
        return {"version": "v0.30.1", "hash": "cf3489efd", "build_time": "2025-01-01 00:00:00"}

    def configuration(self, info: Any) -> dict[str, Any]:
        return {"general": {"stashBoxes": self.fake.stash_boxes}}

    def findScenes(self, info: Any, scene_filter: Any = None, filter: Any = None, **_: Any) -> dict[str, Any]:
        self.fake.scene_filters.append(scene_filter)
        scenes = list(self.fake.scenes.values())
        return {"count": len(scenes), "duration": 0.0, "filesize": 0.0, "scenes": self._page(scenes, filter)}

    def findScene(self, info: Any, id: str | None = None, checksum: str | None = None) -> dict[str, Any] | None:
        return self.fake.scenes.get(id or "")

    def findPerformers(self, info: Any, performer_filter: Any = None, filter: Any = None, **_: Any) -> dict[str, Any]:
        performers = list(self.fake.performers.values())
        return {"count": len(performers), "performers": self._page(performers, filter)}

    def findPerformer(self, info: Any, id: str) -> dict[str, Any] | None:
        return self.fake.performers.get(id)

    def findTags(self, info: Any, tag_filter: Any = None, filter: Any = None, ids: Any = None) -> dict[str, Any]:
        def matches(tag: dict[str, Any], flt: dict[str, Any] | None) -> bool:
            if not flt:
                return False
            value = (flt.get("name") or {}).get("value")
            if value is not None and tag["name"].casefold() == value.casefold():
                return True
            alias = (flt.get("aliases") or {}).get("value")
            if alias is not None and any(a.casefold() == alias.casefold() for a in tag["aliases"]):
                return True
            return matches(tag, flt.get("OR"))

        tags = [t for t in self.fake.tags.values() if tag_filter is None or matches(t, tag_filter)]
        return {"count": len(tags), "tags": tags}

    def bulkSceneUpdate(self, info: Any, input: dict[str, Any]) -> list[dict[str, Any]]:
        mode = input["performer_ids"]["mode"]
        assert mode == "ADD", mode
        out = []
        for sid in input["ids"]:
            scene = self.fake.scenes[sid]
            have = [p["id"] for p in scene["performers"]]
            for pid in input["performer_ids"]["ids"]:
                if pid not in have:
                    scene["performers"].append(self.fake.performers[pid])
                    have.append(pid)
            out.append(scene)
        return out

    def performerCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self.fake.created_performer_inputs.append(input)
        for p in self.fake.performers.values():
            if p["name"].casefold() == input["name"].casefold() and p["disambiguation"] == input.get("disambiguation"):
                raise ValueError(f"performer with name '{input['name']}' already exists")
        new_id = str(max((int(k) for k in self.fake.performers), default=0) + 1)
        performer = {
            "id": new_id,
            "name": input["name"],
            "disambiguation": input.get("disambiguation"),
            "gender": input.get("gender"),
            "country": input.get("country"),
            "alias_list": input.get("alias_list") or [],
            "image_path": f"{self.fake.base}/performer/{new_id}/image?t=1",
            "scene_count": 0,
            "stash_ids": [{**s, "updated_at": "2024-01-01T00:00:00Z"} for s in input.get("stash_ids") or []],
        }
        self.fake.performers[new_id] = performer
        return performer

    def tagCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        for t in self.fake.tags.values():
            if t["name"].casefold() == input["name"].casefold():
                raise ValueError(f"tag with name '{input['name']}' already exists")
        new_id = str(len(self.fake.tags) + 1)
        tag = {"id": new_id, "name": input["name"], "aliases": input.get("aliases") or []}
        self.fake.tags[new_id] = tag
        return tag


class FakeStash(_Recorder):
    """A Stash stand-in for client tests: the real schema, a tiny library, scriptable faults."""

    VIDEO = bytes(range(256)) * 64  # 16 KiB of "video"

    def __init__(
        self, api_key: str | None = "test-api-key-0123456789", *, n_scenes: int = 7, n_performers: int = 5
    ) -> None:
        super().__init__(api_key)
        self.schema = stash_schema_or_skip()
        self.base = ""  # set when served
        self.scenes: dict[str, dict[str, Any]] = {}
        self.performers: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, Any]] = {
            "1": {"id": "1", "name": "Stash Sense: identified", "aliases": ["sense"]}
        }
        self.stash_boxes = [
            {
                "endpoint": STASHDB,
                "api_key": "stashdb-secret-key-abcdef",
                "name": "StashDB",
                "max_requests_per_minute": 240,
            }
        ]
        self.scene_filters: list[Any] = []
        self.created_performer_inputs: list[dict[str, Any]] = []
        self._n_scenes = n_scenes
        self._n_performers = n_performers
        self.root = _StashRoot(self)
        self.app = Starlette(
            routes=[
                Route("/graphql", self._graphql, methods=["POST"]),
                Route("/scene/{id}/stream", self._stream, methods=["GET"]),
                Route("/scene/{id}/screenshot", self._screenshot, methods=["GET"]),
                Route("/performer/{id}/image", self._screenshot, methods=["GET"]),
                Route("/norange/{id}", self._no_range, methods=["GET"]),
                Route("/redirect/{id}", self._redirect, methods=["GET"]),
            ]
        )
        self._server: LoopbackServer | None = None

    def __enter__(self) -> FakeStash:
        self._server = LoopbackServer(self.app).__enter__()
        self.base = self._server.url
        self.reset()
        return self

    def reset(self) -> None:
        """Back to the initial library, with no recorded requests or pending faults."""
        with self._lock:
            self.requests.clear()
            self._script.clear()
        self.scene_filters.clear()
        self.created_performer_inputs.clear()
        self.tags = {"1": {"id": "1", "name": "Stash Sense: identified", "aliases": ["sense"]}}
        self.performers = {str(i): make_performer(i, self.base) for i in range(1, self._n_performers + 1)}
        self.scenes = {
            str(i): make_scene(i, self.base, [self.performers[str(i % self._n_performers + 1)]])
            for i in range(1, self._n_scenes + 1)
        }

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.base

    async def _graphql(self, request: Request) -> Response:
        rec, bad = await self._record(request)
        if bad is not None:
            return bad
        if not self._authorized(request):
            return PlainTextResponse("Unauthorized", status_code=401)
        return self._execute(self.schema, rec.body, self.root)

    async def _media_guard(self, request: Request) -> Response | None:
        _, bad = await self._record(request)
        if bad is not None:
            return bad
        if not self._authorized(request):
            return PlainTextResponse("Unauthorized", status_code=401)
        return None

    async def _stream(self, request: Request) -> Response:
        if (early := await self._media_guard(request)) is not None:
            return early
        if request.path_params["id"] not in self.scenes:
            return PlainTextResponse("not found", status_code=404)
        data = self.VIDEO
        rng = request.headers.get("range")
        if not rng:
            return Response(data, media_type="video/mp4", headers={"Accept-Ranges": "bytes"})
        first, _, last = rng.removeprefix("bytes=").partition("-")
        start = int(first)
        end = min(int(last), len(data) - 1) if last else len(data) - 1
        if start >= len(data):
            return Response(b"", status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
        return Response(
            data[start : end + 1],
            status_code=206,
            media_type="video/mp4",
            headers={"Content-Range": f"bytes {start}-{end}/{len(data)}", "Accept-Ranges": "bytes"},
        )

    async def _screenshot(self, request: Request) -> Response:
        if (early := await self._media_guard(request)) is not None:
            return early
        return Response(JPEG_BYTES, media_type="image/jpeg")

    async def _no_range(self, request: Request) -> Response:
        if (early := await self._media_guard(request)) is not None:
            return early
        return Response(self.VIDEO, media_type="video/mp4")

    async def _redirect(self, request: Request) -> Response:
        if (early := await self._media_guard(request)) is not None:
            return early
        target = request.query_params.get("to", "/scene/1/screenshot")
        return Response(status_code=302, headers={"Location": target})


# ---------------------------------------------------------------------------------------------
# stash-box and an image CDN


class _StashBoxRoot:
    def __init__(self, fake: FakeStashBox) -> None:
        self.fake = fake

    def findPerformer(self, info: Any, id: str) -> dict[str, Any] | None:
        return self.fake.performers.get(id)


class FakeStashBox(_Recorder):
    """A stash-box stand-in: real stash-box schema, one performer, images on itself and a CDN."""

    def __init__(self, api_key: str = "stashbox-api-key-9876543210", *, cdn_url: str = "") -> None:
        super().__init__(api_key)
        self.schema = stashbox_schema_or_skip()
        self.cdn_url = cdn_url
        self.performers: dict[str, dict[str, Any]] = {}
        self.root = _StashBoxRoot(self)
        self.app = Starlette(
            routes=[
                Route("/graphql", self._graphql, methods=["POST"]),
                Route("/images/{id}", self._image, methods=["GET"]),
            ]
        )
        self._server: LoopbackServer | None = None
        self.url = ""

    def __enter__(self) -> FakeStashBox:
        self._server = LoopbackServer(self.app).__enter__()
        self.url = self._server.url
        self.performers["0b3c9f4e-0000-4000-8000-000000000001"] = {
            "id": "0b3c9f4e-0000-4000-8000-000000000001",
            "name": "Jane Example",
            "disambiguation": "II",
            "aliases": ["J. Example"],
            "gender": "FEMALE",
            "country": "CA",
            "deleted": False,
            "merged_into_id": None,
            "images": [
                {"id": "img-small", "url": f"{self.cdn_url}/cdn/img-small", "width": 300, "height": 400},
                {"id": "img-big", "url": f"{self.url}/images/img-big", "width": 1200, "height": 1600},
            ],
        }
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/graphql"

    async def _graphql(self, request: Request) -> Response:
        rec, bad = await self._record(request)
        if bad is not None:
            return bad
        if not self._authorized(request):
            return JSONResponse({"errors": [{"message": "Not authorized"}]}, status_code=401)
        return self._execute(self.schema, rec.body, self.root)

    async def _image(self, request: Request) -> Response:
        _, bad = await self._record(request)
        if bad is not None:
            return bad
        if not self._authorized(request):
            return PlainTextResponse("Unauthorized", status_code=401)
        return Response(JPEG_BYTES + request.path_params["id"].encode(), media_type="image/jpeg")


class FakeCDN(_Recorder):
    """Another host: serves images to anyone and records what headers it was sent."""

    def __init__(self) -> None:
        super().__init__(api_key=None)
        self.app = Starlette(routes=[Route("/cdn/{id}", self._image, methods=["GET"])])
        self._server: LoopbackServer | None = None
        self.url = ""

    def __enter__(self) -> FakeCDN:
        self._server = LoopbackServer(self.app).__enter__()
        self.url = self._server.url
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.__exit__(*exc)

    async def _image(self, request: Request) -> Response:
        _, bad = await self._record(request)
        if bad is not None:
            return bad
        size = request.query_params.get("size", "")
        return Response(JPEG_BYTES + request.path_params["id"].encode() + size.encode(), media_type="image/jpeg")
