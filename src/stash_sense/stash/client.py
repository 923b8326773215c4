"""Async client for Stash's GraphQL API and media routes.

Every request (queries, mutations, retries, media downloads) takes a slot from the Stash rate
limiter at the caller's priority; see :mod:`stash_sense.stash.ratelimit`.

    async with StashClient("http://localhost:9999", api_key) as stash:
        async for scene in stash.find_scenes(filters.has_stash_id(STASHDB), priority=Priority.LOW):
            ...
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel

from . import documents as docs
from .errors import (
    StashError,
    StashGraphQLError,
    StashNotFoundError,
    StashProtocolError,
)
from .models import Identity, Performer, Scene, SceneUpdateResult, StashBoxConfig, StashID, Tag, Version
from .ratelimit import Priority, RateLimiter, limiter_for_stash
from .redaction import SECRET_QUERY_PARAMS, redact_url
from .endpoint import GraphQLEndpointClient
from .transport import DEFAULT_MAX_MEDIA_BYTES, RetryPolicy, Transport, read_limited

# Stash before v0.27 caps a page at 1000 items; asking for more silently returns fewer.
MAX_PER_PAGE = 1000
_SORT_DIRECTIONS = ("ASC", "DESC")

M = TypeVar("M", bound=BaseModel)


def _split_stash_url(url: str) -> tuple[str, str]:
    """``(base_url, graphql_url)`` from what a user typed: with or without ``/graphql``."""
    if not isinstance(url, str) or not url.strip():
        raise ValueError("Stash URL must be a non-empty string such as 'http://localhost:9999'")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Stash URL must start with http:// or https:// and name a host, got {redact_url(url)!r}")
    if parts.username or parts.password:
        raise ValueError(f"put credentials in api_key, not in the Stash URL {redact_url(url)!r}")
    if any(k.lower() in SECRET_QUERY_PARAMS for k, _ in parse_qsl(parts.query)):
        raise ValueError(f"pass the API key as api_key, not in the Stash URL {redact_url(url)!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"the Stash URL must not have a query string or fragment: {redact_url(url)!r}")
    path = parts.path.rstrip("/")
    if path.endswith("/graphql") or path == "/graphql":
        path = path[: -len("/graphql")]
    base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return base, base + "/graphql"


def _ids(values: Iterable[str | int] | str | int, what: str) -> list[str]:
    if isinstance(values, (str, int)):
        values = [values]
    out: list[str] = []
    for value in values:
        text = str(value).strip()
        if not text or isinstance(value, bool):
            raise ValueError(f"{what} must be non-empty Stash ids, got {value!r}")
        if text not in out:
            out.append(text)
    if not out:
        raise ValueError(f"{what} must contain at least one id")
    return out


def _find_filter(page: int, per_page: int, sort: str | None, direction: str | None, q: str | None) -> dict[str, Any]:
    ff: dict[str, Any] = {"page": page, "per_page": per_page}
    if sort:
        ff["sort"] = sort
    if direction:
        ff["direction"] = direction
    if q:
        ff["q"] = q
    return ff


def _check_paging(per_page: int, direction: str | None) -> str | None:
    if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be an integer between 1 and {MAX_PER_PAGE}, got {per_page!r}")
    if direction is None:
        return None
    upper = direction.upper()
    if upper not in _SORT_DIRECTIONS:
        raise ValueError(f"direction must be 'ASC' or 'DESC', got {direction!r}")
    return upper


def image_data_url(data: bytes) -> str:
    """Raw image bytes as the data URL Stash accepts for ``image``/``cover_image``."""
    if data.startswith(b"\xff\xd8\xff"):
        mime = "image/jpeg"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        mime = "image/png"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    elif data[:6] in (b"GIF87a", b"GIF89a"):
        mime = "image/gif"
    else:
        raise ValueError("image bytes are not JPEG, PNG, WebP or GIF")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@dataclass
class RangeResponse:
    """An open HTTP Range read: ``start``..``end`` (inclusive, as HTTP counts) of ``total`` bytes."""

    response: httpx.Response
    start: int
    end: int | None
    total: int | None

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        return self.response.aiter_bytes(chunk_size)

    async def read(self) -> bytes:
        return await self.response.aread()


def _parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    # "bytes 0-1023/4096" or "bytes 0-1023/*"
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    first, _, last = span.partition("-")
    try:
        return int(first), int(last), (None if total.strip() == "*" else int(total))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Listing(Generic[M]):
    """A paged ``find*`` query: where its count and items sit in the answer, and their model."""

    document: docs.Document
    root: str
    items_key: str
    model: type[M]


_SCENES = _Listing(docs.FIND_SCENES, "findScenes", "scenes", Scene)
_PERFORMERS = _Listing(docs.FIND_PERFORMERS, "findPerformers", "performers", Performer)


class StashClient(GraphQLEndpointClient):
    """One Stash server. Use as ``async with StashClient(...) as stash`` or call :meth:`aclose`.

    ``retries`` is the number of extra attempts after the first for transient failures
    (connection errors, timeouts, 5xx, 429 with its Retry-After); other 4xx are never retried, and
    mutations are only retried when the request surely did not reach Stash.
    """

    target = docs.Target.STASH
    kind = "Stash"

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        limiter: RateLimiter | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        media_hosts: Iterable[str] = (),
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """
        ``media_hosts``: other origins that are this same Stash (its configured external host),
        to which media requests may carry the key. ``http_transport`` swaps the network layer
        (e.g. ``httpx.ASGITransport`` to talk to an in-process app).
        """
        base, graphql_url = _split_stash_url(url)
        if api_key is not None and not isinstance(api_key, str):
            raise TypeError("api_key must be a string or None")
        self.url = base
        self.graphql_url = graphql_url
        self.limiter = limiter if limiter is not None else limiter_for_stash(base)
        self._t = Transport(
            label="Stash",
            base_url=base,
            graphql_url=graphql_url,
            api_key=(api_key or "").strip() or None,
            limiter=self.limiter,
            timeout=timeout,
            policy=RetryPolicy(retries=retries, backoff_base=backoff_base, backoff_max=backoff_max),
            trusted_hosts=media_hosts,
            http_transport=http_transport,
        )

    def _address(self) -> tuple[str, str]:
        return "url", self.url

    # -- server ---------------------------------------------------------------------------------

    async def version(self, *, priority: Priority | int | str = Priority.HIGH) -> Version:
        data = await self.execute(docs.VERSION, priority=priority)
        return self._model(Version, data.get("version"), "version")

    async def stash_box_configs(self, *, priority: Priority | int | str = Priority.NORMAL) -> list[StashBoxConfig]:
        """The stash-boxes configured in Stash (endpoint, API key as SecretStr, name, rate budget)."""
        data = await self.execute(docs.STASH_BOX_CONFIGS, priority=priority)
        try:
            boxes = data["configuration"]["general"]["stashBoxes"] or []
        except (KeyError, TypeError):
            raise self._protocol("StashBoxConfigs", "configuration.general.stashBoxes missing") from None
        return [self._model(StashBoxConfig, box, "stash-box configuration") for box in boxes]

    # -- scenes ---------------------------------------------------------------------------------

    def find_scenes(
        self,
        scene_filter: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
        sort: str | None = "id",
        direction: str | None = "ASC",
        q: str | None = None,
        priority: Priority | int | str = Priority.NORMAL,
    ) -> AsyncIterator[Scene]:
        """Every scene matching ``scene_filter`` (a ``SceneFilterType`` dict), page by page.

        Sorted by id by default so that paging is stable while the library changes; a scene that
        moves between pages is yielded once.
        """
        direction = _check_paging(per_page, direction)
        return self._paginate(
            _SCENES,
            {"scene_filter": scene_filter},
            per_page=per_page,
            sort=sort,
            direction=direction,
            q=q,
            priority=priority,
        )

    async def count_scenes(
        self, scene_filter: Mapping[str, Any] | None = None, *, priority: Priority | int | str = Priority.NORMAL
    ) -> int:
        data = await self.execute(
            docs.COUNT_SCENES, {"scene_filter": scene_filter, "filter": {"per_page": 1}}, priority=priority
        )
        try:
            return int(data["findScenes"]["count"])
        except (KeyError, TypeError, ValueError):
            raise self._protocol("CountScenes", "findScenes.count missing") from None

    async def find_scene(self, scene_id: str | int, *, priority: Priority | int | str = Priority.NORMAL) -> Scene:
        """The scene with this id; :class:`StashNotFoundError` when there is none."""
        sid = _ids(scene_id, "scene id")[0]
        data = await self.execute(docs.FIND_SCENE, {"id": sid}, priority=priority)
        if data.get("findScene") is None:
            raise StashNotFoundError(
                f"scene {sid} not found in Stash at {self.url}", url=self.url, kind="scene", id=sid
            )
        return self._model(Scene, data["findScene"], f"scene {sid}")

    # -- performers -----------------------------------------------------------------------------

    def find_performers(
        self,
        performer_filter: Mapping[str, Any] | None = None,
        *,
        per_page: int = 100,
        sort: str | None = "id",
        direction: str | None = "ASC",
        q: str | None = None,
        priority: Priority | int | str = Priority.NORMAL,
    ) -> AsyncIterator[Performer]:
        """Every performer matching ``performer_filter`` (a ``PerformerFilterType`` dict)."""
        direction = _check_paging(per_page, direction)
        return self._paginate(
            _PERFORMERS,
            {"performer_filter": performer_filter},
            per_page=per_page,
            sort=sort,
            direction=direction,
            q=q,
            priority=priority,
        )

    async def find_performer(
        self, performer_id: str | int, *, priority: Priority | int | str = Priority.NORMAL
    ) -> Performer:
        pid = _ids(performer_id, "performer id")[0]
        data = await self.execute(docs.FIND_PERFORMER, {"id": pid}, priority=priority)
        if data.get("findPerformer") is None:
            raise StashNotFoundError(
                f"performer {pid} not found in Stash at {self.url}", url=self.url, kind="performer", id=pid
            )
        return self._model(Performer, data["findPerformer"], f"performer {pid}")

    async def create_performer(
        self,
        name: str,
        *,
        disambiguation: str | None = None,
        aliases: Iterable[str] = (),
        image: str | bytes | None = None,
        stash_ids: Iterable[StashID | Identity] = (),
        priority: Priority | int | str = Priority.HIGH,
    ) -> Performer:
        """Create a performer. ``image`` is a URL, a data URL, or raw JPEG/PNG/WebP/GIF bytes.

        Aliases are cleaned the way Stash insists on (no blanks, no duplicates ignoring case,
        none equal to the name) so a sloppy alias list does not fail the whole creation.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("performer name must be a non-empty string")
        name = name.strip()
        inp: dict[str, Any] = {"name": name}
        if disambiguation and disambiguation.strip():
            inp["disambiguation"] = disambiguation.strip()
        if isinstance(aliases, str):
            aliases = [aliases]
        seen = {name.casefold()}
        clean: list[str] = []
        for alias in aliases:
            alias = alias.strip()
            if alias and alias.casefold() not in seen:
                seen.add(alias.casefold())
                clean.append(alias)
        if clean:
            inp["alias_list"] = clean
        if isinstance(image, bytes):
            inp["image"] = image_data_url(image)
        elif image:
            inp["image"] = image
        links = []
        for sid in stash_ids:
            if not isinstance(sid, (StashID, Identity)):
                raise TypeError(f"stash_ids must be StashID or Identity objects, got {type(sid).__name__}")
            links.append({"endpoint": sid.endpoint, "stash_id": sid.stash_id})
        if links:
            inp["stash_ids"] = links
        data = await self.execute(docs.PERFORMER_CREATE, {"input": inp}, priority=priority)
        return self._model(Performer, data.get("performerCreate"), f"new performer {name!r}")

    # -- scene updates and tags -----------------------------------------------------------------

    async def add_performers_to_scenes(
        self,
        scene_ids: Iterable[str | int],
        performer_ids: Iterable[str | int],
        *,
        priority: Priority | int | str = Priority.HIGH,
    ) -> list[SceneUpdateResult]:
        """Add performers to scenes (keeping the ones already there); returns each scene's new list."""
        variables = {"ids": _ids(scene_ids, "scene_ids"), "performer_ids": _ids(performer_ids, "performer_ids")}
        data = await self.execute(docs.BULK_SCENE_ADD_PERFORMERS, variables, priority=priority)
        scenes = data.get("bulkSceneUpdate")
        if not isinstance(scenes, list):
            raise self._protocol("BulkSceneAddPerformers", "bulkSceneUpdate returned no scenes")
        results = []
        for scene in scenes:
            if not isinstance(scene, dict) or "id" not in scene:
                raise self._protocol("BulkSceneAddPerformers", "malformed scene in bulkSceneUpdate result")
            ids = [str(p["id"]) for p in scene.get("performers") or [] if isinstance(p, dict) and "id" in p]
            results.append(SceneUpdateResult(id=str(scene["id"]), performer_ids=ids))
        return results

    async def find_tag(self, name: str, *, priority: Priority | int | str = Priority.NORMAL) -> Tag | None:
        """The tag called ``name`` (ignoring case), else one that has it as an alias, else None."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("tag name must be a non-empty string")
        name = name.strip()
        data = await self.execute(docs.FIND_TAGS_BY_NAME, {"name": name}, priority=priority)
        try:
            tags = [self._model(Tag, t, "tag") for t in data["findTags"]["tags"] or []]
        except (KeyError, TypeError):
            raise self._protocol("FindTagsByName", "findTags.tags missing") from None
        wanted = name.casefold()
        for tag in tags:
            if tag.name.casefold() == wanted:
                return tag
        for tag in tags:
            if any(alias.casefold() == wanted for alias in tag.aliases):
                return tag
        return None

    async def find_or_create_tag(self, name: str, *, priority: Priority | int | str = Priority.NORMAL) -> Tag:
        existing = await self.find_tag(name, priority=priority)
        if existing is not None:
            return existing
        try:
            data = await self.execute(docs.TAG_CREATE, {"input": {"name": name.strip()}}, priority=priority)
        except StashGraphQLError:
            # Someone else may have created it between our lookup and our create.
            again = await self.find_tag(name, priority=priority)
            if again is not None:
                return again
            raise
        return self._model(Tag, data.get("tagCreate"), f"new tag {name!r}")

    # -- media ----------------------------------------------------------------------------------

    def stream_url(self, scene: Scene, *, embed_key: bool = False) -> str:
        """The scene's direct file stream (Range-capable).

        By default without credentials: fetch it through this client (which sends the key as a
        header). ``embed_key=True`` adds ``apikey=`` for consumers that can only take a URL, such
        as ffmpeg; such a URL is a secret and must not be logged (use ``redact_url``).
        """
        url = scene.paths.stream
        if not url:
            raise StashNotFoundError(
                f"scene {scene.id} has no stream URL in Stash at {self.url}", kind="stream", id=scene.id
            )
        absolute = self._t.resolve(url)
        if embed_key:
            if not self._t.is_own_host(absolute):
                raise StashError(f"not embedding the API key in {redact_url(absolute)}: it is not on {self.url}")
            return self._t.with_key(absolute)
        return absolute

    def media_headers(self) -> dict[str, str]:
        """Headers that authenticate a media request to this Stash (for e.g. PyAV's ``headers`` option)."""
        return self._t.auth_headers()

    async def fetch_bytes(
        self,
        url: str,
        priority: Priority | int | str = Priority.NORMAL,
        *,
        allow_foreign_host: bool = False,
        max_bytes: int | None = DEFAULT_MAX_MEDIA_BYTES,
    ) -> bytes:
        """GET a Stash media URL (screenshot, sprite, VTT, performer image) with Stash's auth.

        URLs on another host are refused unless ``allow_foreign_host``; even then they are fetched
        without the key. An ``apikey=`` in the URL (Stash adds one) is replaced by the header.
        """
        async with self._t.open(url, priority=priority, allow_foreign_host=allow_foreign_host) as response:
            return await read_limited(response, max_bytes, self._t.show(str(response.request.url)))

    @asynccontextmanager
    async def open_range(
        self,
        url: str,
        start: int,
        end: int | None = None,
        *,
        priority: Priority | int | str = Priority.NORMAL,
    ) -> AsyncIterator[RangeResponse]:
        """Open bytes ``start``..``end`` (inclusive; ``None`` = to the end) of a media URL.

        Refuses to fall back to a full download when the server ignores the Range header.
        """
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"range start must be an integer >= 0, got {start!r}")
        if end is not None and (isinstance(end, bool) or not isinstance(end, int) or end < start):
            raise ValueError(f"range end must be an integer >= start ({start}), got {end!r}")
        header = f"bytes={start}-{'' if end is None else end}"
        async with self._t.open(url, priority=priority, headers={"Range": header}) as response:
            shown = self._t.show(str(response.request.url))
            if response.status_code == 206:
                parsed = _parse_content_range(response.headers.get("content-range"))
                if parsed is None:
                    raise StashProtocolError(f"GET {shown}: 206 without a valid Content-Range", url=shown)
                got_start, got_end, total = parsed
                if got_start != start:
                    raise StashProtocolError(f"GET {shown}: asked for byte {start}, got {got_start}", url=shown)
                yield RangeResponse(response, got_start, got_end, total)
            elif response.status_code == 200 and start == 0 and end is None:
                length = response.headers.get("content-length")
                yield RangeResponse(response, 0, None, int(length) if length and length.isdigit() else None)
            else:
                raise StashProtocolError(
                    f"GET {shown}: the server ignored the Range request (HTTP {response.status_code})", url=shown
                )

    async def read_range(
        self, url: str, start: int, end: int | None = None, *, priority: Priority | int | str = Priority.NORMAL
    ) -> bytes:
        """Bytes ``start``..``end`` (inclusive) of a media URL."""
        async with self.open_range(url, start, end, priority=priority) as rng:
            return await rng.read()

    # -- helpers --------------------------------------------------------------------------------

    async def _paginate(
        self,
        listing: _Listing[M],
        base_vars: dict[str, Any],
        *,
        per_page: int,
        sort: str | None,
        direction: str | None,
        q: str | None,
        priority: Priority | int | str,
    ) -> AsyncIterator[M]:
        document, root, items_key, model = listing.document, listing.root, listing.items_key, listing.model
        seen: set[str] = set()
        page = 1
        while True:
            variables = {**base_vars, "filter": _find_filter(page, per_page, sort, direction, q)}
            data = await self.execute(document, variables, priority=priority)
            try:
                result = data[root]
                count = int(result["count"])
                items = result[items_key] or []
            except (KeyError, TypeError, ValueError):
                raise self._protocol(document.name, f"{root}.count/{items_key} missing") from None
            for item in items:
                obj = self._model(model, item, items_key[:-1])
                key = str(getattr(obj, "id", ""))
                if key in seen:
                    continue
                seen.add(key)
                yield obj
            if len(items) < per_page or page * per_page >= count:
                return
            page += 1

    def _model(self, model: type[M], value: Any, what: str) -> M:
        if not isinstance(value, dict):
            raise self._protocol(what, f"expected an object, got {type(value).__name__}")
        try:
            return model.model_validate(value)
        except ValueError as exc:
            raise self._protocol(what, self._t.scrub(str(exc).splitlines()[0])) from None

    def _protocol(self, what: str, detail: str) -> StashProtocolError:
        return StashProtocolError(f"{what} from Stash at {self.url}: unexpected answer ({detail})", url=self.url)


__all__ = ["MAX_PER_PAGE", "RangeResponse", "StashClient", "image_data_url"]
