"""StashClient / StashBoxClient against real HTTP servers on loopback.

The fake servers execute every request against the real Stash / stash-box schema, so these tests
also prove that what the client sends (documents *and* variables) is acceptable to the server.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator

import pytest
from stash_helpers import (
    JPEG_BYTES,
    STASHDB,
    FakeCDN,
    FakeStash,
    FakeStashBox,
    free_port_refusing_connections,
)

from stash_sense.stash import (
    Identity,
    Priority,
    RateLimiter,
    StashAuthError,
    StashBoxClient,
    StashClient,
    StashError,
    StashForeignHostError,
    StashGraphQLError,
    StashNotFoundError,
    StashProtocolError,
    StashRequestError,
    StashResponseTooLargeError,
    StashServerError,
    StashTimeoutError,
    StashUnreachableError,
)
from stash_sense.stash import documents as docs
from stash_sense.stash.models import StashID


@pytest.fixture(scope="module")
def stash_server() -> Iterator[FakeStash]:
    with FakeStash() as fake:
        yield fake


@pytest.fixture
def stash(stash_server: FakeStash) -> FakeStash:
    stash_server.reset()
    return stash_server


def client_for(fake: FakeStash, **kwargs: object) -> StashClient:
    opts: dict = {"limiter": RateLimiter(1000.0, name="test"), "backoff_base": 0.01, "retries": 2}
    opts.update(kwargs)
    return StashClient(fake.url, fake.api_key, **opts)  # type: ignore[arg-type]


# -- happy paths --------------------------------------------------------------------------------


async def test_version_sends_api_key_header(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        version = await client.version()
    assert version.version == "v0.30.1" and version.hash == "cf3489efd"
    (req,) = stash.requests
    assert req.path == "/graphql" and req.operation == "Version"
    assert req.headers["apikey"] == stash.api_key
    assert "apikey" not in req.url.lower()


async def test_url_with_graphql_suffix_is_accepted(stash: FakeStash) -> None:
    async with StashClient(stash.url + "/graphql/", stash.api_key, limiter=RateLimiter(100)) as client:
        assert client.url == stash.url
        assert (await client.version()).version


async def test_find_scenes_pages_through_everything(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        scenes = [s async for s in client.find_scenes({"organized": True}, per_page=3, priority=Priority.LOW)]
        count = await client.count_scenes({"organized": True})
    assert [s.id for s in scenes] == [str(i) for i in range(1, 8)]
    assert count == 7
    pages = [r.body["variables"]["filter"] for r in stash.requests if r.operation == "FindScenes"]
    assert pages == [{"page": p, "per_page": 3, "sort": "id", "direction": "ASC"} for p in (1, 2, 3)]
    assert stash.scene_filters[0] == {"organized": True}
    first = scenes[0]
    assert first.title == "Scene 1"
    assert first.primary_file is not None and first.primary_file.short_side == 720
    assert first.primary_file.fingerprint("oshash") == f"{1:016x}"
    assert first.primary_file.frame_rate == pytest.approx(29.97)
    assert first.paths.vtt and first.paths.vtt.endswith("_thumbs.vtt")
    assert first.identities() == [Identity(endpoint=STASHDB, stash_id="scene-uuid-1")]
    assert first.performers[0].stash_ids[0].endpoint == STASHDB
    assert first.scene_streams[0].label == "Direct stream"
    assert first.duration == pytest.approx(601.0)


async def test_pagination_stops_on_a_short_page(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        scenes = [s async for s in client.find_scenes(per_page=7)]
    assert len(scenes) == 7
    assert sum(r.operation == "FindScenes" for r in stash.requests) == 1


async def test_find_scene_and_not_found(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        scene = await client.find_scene(4)
        assert scene.id == "4"
        with pytest.raises(StashNotFoundError) as info:
            await client.find_scene("999")
    assert info.value.kind == "scene" and info.value.id == "999"
    assert stash.url in str(info.value)


async def test_performers(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        performers = [p async for p in client.find_performers(per_page=2)]
        one = await client.find_performer("2")
        with pytest.raises(StashNotFoundError):
            await client.find_performer(404)
    assert [p.id for p in performers] == ["1", "2", "3", "4", "5"]
    assert one.name == "Performer 2" and one.alias_list == ["Alias 2"] and one.gender == "FEMALE"
    assert one.has_image
    assert not performers[2].has_image  # id 3 has Stash's generated placeholder (default=true)
    assert one.identities() == [Identity(endpoint=STASHDB, stash_id="perf-uuid-2")]


async def test_stash_box_configs_keep_keys_secret(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        (box,) = await client.stash_box_configs()
    assert box.endpoint == STASHDB and box.name == "StashDB" and box.requests_per_minute == 240
    assert box.api_key.get_secret_value() == "stashdb-secret-key-abcdef"
    assert "stashdb-secret-key" not in repr(box) and "stashdb-secret-key" not in str(box.model_dump())


async def test_add_performers_to_scenes(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        results = await client.add_performers_to_scenes(["1", 2], ["4", "5", "4"])
    assert [r.id for r in results] == ["1", "2"]
    assert results[0].performer_ids == ["2", "4", "5"]  # kept the existing performer, added two
    req = next(r for r in stash.requests if r.operation == "BulkSceneAddPerformers")
    assert req.body["variables"] == {"ids": ["1", "2"], "performer_ids": ["4", "5"]}
    with pytest.raises(ValueError):
        await client_for(stash).add_performers_to_scenes([], ["1"])


async def test_create_performer(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        performer = await client.create_performer(
            " New Person ",
            disambiguation="2",
            aliases=["NP", "np", "New Person", "  ", "Newbie"],
            image=JPEG_BYTES,
            stash_ids=[StashID(endpoint=STASHDB, stash_id="uuid-new")],
        )
        with pytest.raises(StashGraphQLError, match="already exists") as dup:
            await client.create_performer("New Person", disambiguation="2")
        with pytest.raises(ValueError):
            await client.create_performer("   ")
    assert performer.name == "New Person" and performer.disambiguation == "2"
    assert performer.alias_list == ["NP", "Newbie"]
    assert performer.stash_ids[0].stash_id == "uuid-new"
    sent = stash.created_performer_inputs[0]
    assert sent["image"] == "data:image/jpeg;base64," + base64.b64encode(JPEG_BYTES).decode()
    assert sent["stash_ids"] == [{"endpoint": STASHDB, "stash_id": "uuid-new"}]
    assert dup.value.messages and "already exists" in dup.value.messages[0]


async def test_find_or_create_tag(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        by_name = await client.find_or_create_tag("stash sense: IDENTIFIED")
        by_alias = await client.find_or_create_tag("Sense")
        created = await client.find_or_create_tag("Brand New")
        again = await client.find_or_create_tag("brand new")
    assert by_name.id == by_alias.id == "1"
    assert created.name == "Brand New" and again.id == created.id
    assert sum(r.operation == "TagCreate" for r in stash.requests) == 1


async def test_only_documents_can_be_sent(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        with pytest.raises(TypeError, match="documents"):
            await client.execute("query { version { version } }")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="stash-box"):
            await client.execute(docs.STASHBOX_FIND_PERFORMER, {"id": "x"})
    assert stash.requests == []


async def test_every_request_and_retry_takes_a_limiter_slot(stash: FakeStash) -> None:
    limiter = RateLimiter(1000.0, name="counted")
    stash.misbehave(times=2, status=503, body=b"busy")
    async with client_for(stash, limiter=limiter) as client:
        await client.version()
        _ = [s async for s in client.find_scenes(per_page=3)]
        await client.fetch_bytes(f"{stash.url}/scene/1/screenshot")
    assert limiter.metrics().total_requests == len(stash.requests) == 2 + 1 + 3 + 1


async def test_default_limiter_is_the_shared_stash_limiter(stash: FakeStash, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STASH_RATE_LIMIT", "4")
    # A fresh registry: an earlier test's server may have had the same loopback port, and with it
    # the same limiter key at another rate.
    from stash_sense.stash import ratelimit

    monkeypatch.setattr(ratelimit, "registry", ratelimit.LimiterRegistry())
    a = StashClient(stash.url, stash.api_key)
    b = StashClient(stash.url + "/graphql", None)
    try:
        assert a.limiter is b.limiter
        assert a.limiter.rate_per_second == 4.0
        assert (await a.version()).version and a.limiter.metrics().total_requests >= 1
    finally:
        await a.aclose()
        await b.aclose()


# -- failures -----------------------------------------------------------------------------------


async def test_wrong_key_is_auth_error_without_retry(stash: FakeStash) -> None:
    async with StashClient(stash.url, "wrong-key-123456", limiter=RateLimiter(100), backoff_base=0.01) as client:
        with pytest.raises(StashAuthError) as info:
            await client.version()
    assert info.value.status == 401
    assert stash.url in str(info.value) and "API key was refused" in str(info.value)
    assert "wrong-key-123456" not in str(info.value)
    assert stash.count("/graphql") == 1


async def test_missing_key_says_so(stash: FakeStash) -> None:
    async with StashClient(stash.url, limiter=RateLimiter(100)) as client:
        with pytest.raises(StashAuthError, match="no API key was given"):
            await client.version()


async def test_500_is_retried_then_server_error(stash: FakeStash) -> None:
    stash.misbehave(times=3, status=500, body=b"boom")
    async with client_for(stash, retries=2) as client:
        with pytest.raises(StashServerError) as info:
            await client.version()
    assert info.value.status == 500 and "boom" in str(info.value) and stash.url in str(info.value)
    assert stash.count("/graphql") == 3  # first attempt + 2 retries


async def test_transient_500_then_success(stash: FakeStash) -> None:
    stash.misbehave(times=1, status=502)
    async with client_for(stash) as client:
        assert (await client.version()).version == "v0.30.1"
    assert stash.count("/graphql") == 2


async def test_400_is_not_retried(stash: FakeStash) -> None:
    stash.misbehave(times=3, status=400, body=b"bad request")
    async with client_for(stash) as client:
        with pytest.raises(StashRequestError) as info:
            await client.version()
    assert info.value.status == 400
    assert stash.count("/graphql") == 1


async def test_graphql_validation_error_keeps_messages(stash: FakeStash) -> None:
    broken = docs.Document("Broken", docs.Target.STASH, "query Broken { findScene(id: 1) { file { path } } }")
    async with client_for(stash) as client:
        with pytest.raises(StashGraphQLError) as info:
            await client.execute(broken)
    assert info.value.status == 422
    assert any("file" in m for m in info.value.messages)
    assert stash.count("/graphql") == 1


async def test_graphql_errors_array(stash: FakeStash) -> None:
    body = b'{"errors": [{"message": "first problem"}, {"message": "second problem"}], "data": null}'
    stash.misbehave(status=200, body=body, content_type="application/json")
    async with client_for(stash) as client:
        with pytest.raises(StashGraphQLError) as info:
            await client.version()
    assert info.value.messages == ["first problem", "second problem"]
    assert "first problem; second problem" in str(info.value) and stash.url in str(info.value)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"<html><body>Login</body></html>", "text/html"),
        (b'{"data": {"version": ', "application/json"),
        (b'["not", "graphql"]', "application/json"),
    ],
)
async def test_not_graphql_is_protocol_error(stash: FakeStash, body: bytes, ctype: str) -> None:
    stash.misbehave(status=200, body=body, content_type=ctype)
    async with client_for(stash) as client:
        with pytest.raises(StashProtocolError) as info:
            await client.version()
    assert stash.url in str(info.value)
    assert stash.count("/graphql") == 1


async def test_wrong_shape_is_protocol_error(stash: FakeStash) -> None:
    stash.misbehave(status=200, body=b'{"data": {"findScene": {"title": "no id"}}}', content_type="application/json")
    async with client_for(stash) as client:
        with pytest.raises(StashProtocolError, match="scene 1"):
            await client.find_scene(1)


async def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port_refusing_connections()}"
    async with StashClient(url, "k-123456", limiter=RateLimiter(1000), retries=2, backoff_base=0.01) as client:
        started = time.monotonic()
        with pytest.raises(StashUnreachableError) as info:
            await client.version()
    assert url in str(info.value) and "cannot connect" in str(info.value)
    assert client.limiter.metrics().total_requests == 3  # retried, each attempt rate limited
    assert time.monotonic() - started < 5


async def test_slow_server_times_out(stash: FakeStash) -> None:
    stash.misbehave(times=2, delay=1.0, then_serve=True)
    async with client_for(stash, timeout=0.2, retries=1) as client:
        with pytest.raises(StashTimeoutError) as info:
            await client.version()
    assert isinstance(info.value, StashUnreachableError)
    assert stash.count("/graphql") == 2


async def test_429_honours_retry_after(stash: FakeStash) -> None:
    stash.misbehave(status=429, body=b"slow down", headers={"Retry-After": "1"})
    async with client_for(stash) as client:
        started = time.monotonic()
        assert (await client.version()).version
    assert time.monotonic() - started >= 0.95
    assert stash.count("/graphql") == 2


async def test_429_with_excessive_retry_after_gives_up(stash: FakeStash) -> None:
    stash.misbehave(status=429, body=b"slow down", headers={"Retry-After": "3600"})
    async with client_for(stash) as client:
        with pytest.raises(StashRequestError, match=r"rate limiting us.*3600") as info:
            await client.version()
    assert info.value.status == 429
    assert stash.count("/graphql") == 1


async def test_mutations_are_not_retried_when_they_may_have_run(stash: FakeStash) -> None:
    stash.misbehave(times=1, status=502)
    async with client_for(stash) as client:
        with pytest.raises(StashServerError):
            await client.create_performer("Maybe Twice")
        assert stash.count("/graphql") == 1
        # 503 means "not processed": safe to retry.
        stash.misbehave(times=1, status=503)
        created = await client.create_performer("Only Once")
    assert created.name == "Only Once"
    assert stash.count("/graphql") == 3


def test_bad_urls_are_refused_without_echoing_secrets() -> None:
    for bad in (
        "",
        "localhost:9999",
        "ftp://stash",
        "http://user:pw-secret@stash:9999",
        "http://stash:9999/?apikey=s3cr3t-key",
    ):
        with pytest.raises(ValueError) as info:
            StashClient(bad)
        assert "s3cr3t-key" not in str(info.value) and "pw-secret" not in str(info.value)


# -- secrets ------------------------------------------------------------------------------------


async def test_api_key_never_leaks_into_errors_or_logs(stash: FakeStash, caplog: pytest.LogCaptureFixture) -> None:
    key = stash.api_key
    assert key
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "stash_sense", "uvicorn", "uvicorn.error", "uvicorn.access"):
        caplog.set_level(logging.DEBUG, logger=name)
    errors: list[BaseException] = []
    client = client_for(stash)
    assert key not in repr(client) and key not in str(vars(client))

    async def expect_error(coro: object) -> None:
        try:
            await coro  # type: ignore[misc]
        except StashError as exc:
            errors.append(exc)
        else:
            raise AssertionError("expected a StashError")

    # Servers that echo what they got: the key must be scrubbed from the messages we build.
    echo = f"bad key {key}".encode()
    stash.misbehave(status=401, body=echo)
    await expect_error(client.version())
    stash.misbehave(times=3, status=500, body=echo)
    await expect_error(client.version())
    stash.misbehave(status=400, body=echo)
    await expect_error(client.version())
    stash.misbehave(
        status=200,
        body=b'{"errors": [{"message": "key ' + key.encode() + b' is odd"}]}',
        content_type="application/json",
    )
    await expect_error(client.version())
    stash.misbehave(status=200, body=b"<html>" + key.encode(), content_type="text/html")
    await expect_error(client.version())
    # Media URLs as Stash hands them out carry ?apikey=: fetched with the header instead.
    scene = await client.find_scene(1)
    keyed = f"{stash.url}/scene/1/screenshot?t=1&apikey={key}"
    assert (await client.fetch_bytes(keyed)).startswith(JPEG_BYTES[:4])
    stash.misbehave(status=404, body=echo)
    await expect_error(client.fetch_bytes(keyed))
    await expect_error(client.fetch_bytes(f"http://elsewhere.invalid/x?apikey={key}"))
    assert key in client.stream_url(scene, embed_key=True)
    await client.aclose()
    dead = StashClient(
        f"http://127.0.0.1:{free_port_refusing_connections()}", key, limiter=RateLimiter(1000), retries=0
    )
    await expect_error(dead.fetch_bytes(f"/scene/1/stream?apikey={key}"))
    await dead.aclose()

    assert len(errors) == 8
    for exc in errors:
        assert key not in str(exc) and key not in repr(exc), f"{type(exc).__name__} leaks the key: {exc}"
        assert key not in (exc.url or "")
        assert exc.__cause__ is None or key not in str(exc.__cause__)
    assert any("***" in str(e) for e in errors)  # echoed keys were redacted, not dropped silently
    assert caplog.records, "expected DEBUG logs from httpx/httpcore/stash_sense"
    assert {r.name.split(".")[0] for r in caplog.records} >= {"httpx", "httpcore", "stash_sense"}
    for record in caplog.records:
        assert key not in record.getMessage(), f"{record.name} logged the key"
    assert key not in caplog.text
    # And nothing ever sent it in a URL.
    assert all(key not in r.url for r in stash.requests)
    assert all(r.headers.get("apikey") == key for r in stash.requests)


# -- media --------------------------------------------------------------------------------------


async def test_fetch_bytes_and_foreign_hosts(stash: FakeStash) -> None:
    with FakeCDN() as cdn:
        async with client_for(stash) as client:
            scene = await client.find_scene(2)
            assert scene.paths.screenshot
            shot = await client.fetch_bytes(scene.paths.screenshot, Priority.HIGH)
            relative = await client.fetch_bytes("/performer/1/image")
            with pytest.raises(StashForeignHostError, match="must not be sent"):
                await client.fetch_bytes(f"{cdn.url}/cdn/a")
            assert cdn.requests == []
            foreign = await client.fetch_bytes(f"{cdn.url}/cdn/a", allow_foreign_host=True)
            with pytest.raises(StashResponseTooLargeError):
                await client.fetch_bytes(scene.paths.screenshot, max_bytes=100)
            with pytest.raises(StashNotFoundError):
                await client.fetch_bytes("/scene/999/stream")
            # Redirects are followed by hand: to the same host with the key, elsewhere never.
            redirected = await client.fetch_bytes("/redirect/1?to=/scene/1/screenshot")
            with pytest.raises(StashForeignHostError):
                await client.fetch_bytes(f"/redirect/1?to={cdn.url}/cdn/b")
    assert shot == relative == redirected == JPEG_BYTES
    assert foreign.startswith(JPEG_BYTES)
    assert len(cdn.requests) == 1 and "apikey" not in cdn.requests[0].headers
    media = [r for r in stash.requests if r.path != "/graphql"]
    assert all(r.headers.get("apikey") == stash.api_key for r in media)


async def test_range_reads(stash: FakeStash) -> None:
    video = FakeStash.VIDEO
    async with client_for(stash) as client:
        scene = await client.find_scene(1)
        url = client.stream_url(scene)
        assert url == f"{stash.url}/scene/1/stream"
        assert await client.read_range(url, 100, 199) == video[100:200]
        async with client.open_range(url, len(video) - 10) as rng:
            assert (rng.start, rng.end, rng.total) == (len(video) - 10, len(video) - 1, len(video))
            chunks = [c async for c in rng.aiter_bytes()]
        assert b"".join(chunks) == video[-10:]
        with pytest.raises(StashProtocolError, match="ignored the Range"):
            await client.read_range("/norange/1", 10, 20)
        assert await client.read_range("/norange/1", 0) == video  # a whole-file "range" is fine
        with pytest.raises(StashRequestError) as info:
            await client.read_range(url, len(video) + 5)
        assert info.value.status == 416
        with pytest.raises(ValueError):
            await client.read_range(url, 10, 5)
    ranges = [r.headers.get("range") for r in stash.requests if r.path == "/scene/1/stream"]
    assert ranges[:2] == ["bytes=100-199", f"bytes={len(video) - 10}-"]


async def test_stream_url_with_embedded_key(stash: FakeStash) -> None:
    async with client_for(stash) as client:
        scene = await client.find_scene(1)
        assert "apikey" not in client.stream_url(scene)
        assert client.stream_url(scene, embed_key=True) == f"{stash.url}/scene/1/stream?apikey={stash.api_key}"
        assert client.media_headers() == {"ApiKey": stash.api_key}


# -- stash-box ----------------------------------------------------------------------------------


async def test_stashbox_performer_and_images() -> None:
    with FakeCDN() as cdn, FakeStashBox(cdn_url=cdn.url) as box:
        limiter = RateLimiter(1000.0, name="box")
        async with StashBoxClient(box.endpoint, box.api_key, limiter, backoff_base=0.01) as client:
            performer = await client.find_performer("0b3c9f4e-0000-4000-8000-000000000001")
            assert performer.identity == Identity(endpoint=box.endpoint, stash_id=performer.id)
            assert performer.aliases == ["J. Example"] and performer.disambiguation == "II"
            small, big = performer.images
            assert (small.width, small.height, big.width) == (300, 400, 1200)
            assert StashBoxClient.best_images(performer, 1) == [big]
            cdn_bytes = await client.fetch_image(small, size=600)
            own_bytes = await client.fetch_image(big)
            with pytest.raises(StashNotFoundError):
                await client.find_performer("0b3c9f4e-0000-4000-8000-00000000dead")
            with pytest.raises(ValueError, match="is a stash document"):
                await client.execute(docs.VERSION)
        assert cdn_bytes == JPEG_BYTES + b"img-small600"
        assert own_bytes == JPEG_BYTES + b"img-big"
        # The key went to the stash-box host only, never to the CDN.
        assert "apikey" not in cdn.requests[0].headers
        assert all(r.headers.get("apikey") == box.api_key for r in box.requests)
        assert limiter.metrics().total_requests == 4
        assert box.api_key not in repr(client)


async def test_stashbox_wrong_key() -> None:
    with FakeStashBox() as box:
        async with StashBoxClient(box.endpoint, "not-the-key", RateLimiter(1000.0)) as client:
            with pytest.raises(StashAuthError) as info:
                await client.find_performer("x")
        assert box.endpoint.split("/graphql")[0] in str(info.value)


async def test_clients_are_usable_concurrently(stash: FakeStash) -> None:
    limiter = RateLimiter(200.0)
    async with client_for(stash, limiter=limiter) as client:
        results = await asyncio.gather(*(client.find_scene(i) for i in range(1, 8)))
    assert [s.id for s in results] == [str(i) for i in range(1, 8)]
    assert limiter.metrics().total_requests == 7
