"""Sidecar plumbing over real HTTP, no models needed: settings, authentication, CORS, request
limits, structured errors, the work pool. The sidecar here has no face DB and no Stash."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from api_helpers import SIDECAR_KEY, client, running_sidecar, sidecar_settings
from stash_sense.api.errors import ApiError
from stash_sense.api.middleware import CatchAllErrors
from stash_sense.api.settings import SettingsError, load_settings
from stash_sense.api.work import WorkPool
from stash_sense.stash import Priority


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory):
    """A sidecar with an API key, a 1 MB upload limit, no face DB and no Stash."""
    settings = sidecar_settings(tmp_path_factory.mktemp("bare"), None, max_upload_mb=1.0, cors_origins="http://stash.local:9999")
    with running_sidecar(settings) as (url, _app):
        yield url


# -- settings -----------------------------------------------------------------------------------


def test_settings_defaults_file_env_and_flags(tmp_path: Path) -> None:
    defaults = load_settings(env={})
    assert defaults.port == 6960 and defaults.host == "127.0.0.1" and defaults.stash_url is None
    assert defaults.face_db_dir == defaults.data_dir / "facedb"
    assert defaults.api_key is None and defaults.stash_rate_limit == 5.0

    toml = tmp_path / "sidecar.toml"
    toml.write_text('stash_url = "http://file-stash:9999/"\nport = 7000\nconcurrency = 3\n')
    env = {"STASH_SENSE_SETTINGS": str(toml), "STASH_SENSE_PORT": "7100", "STASH_SENSE_API_KEY": " secret ", "STASH_RATE_LIMIT": "2.5"}
    settings = load_settings(env=env, overrides={"port": 7200, "host": None})
    assert settings.stash_url == "http://file-stash:9999"  # from the file, trailing slash dropped
    assert settings.concurrency == 3  # file
    assert settings.port == 7200  # flag beats environment beats file
    assert settings.api_key.get_secret_value() == "secret" and settings.stash_rate_limit == 2.5
    assert settings.allowed_origins == ["http://file-stash:9999"]
    shown = json.dumps(settings.describe())
    assert "secret" not in shown and '"api_key": "<set>"' in shown

    as_json = tmp_path / "sidecar.json"
    as_json.write_text(json.dumps({"media_roots": ["/a", "/b"], "face_db": "/dbs/one"}))
    settings = load_settings(env={}, settings_file=as_json)
    assert settings.media_roots == [Path("/a"), Path("/b")] and settings.face_db_dir == Path("/dbs/one")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STASH_URL": "ftp://x"}, "stash_url \\(from environment variable STASH_URL\\)"),
        ({"STASH_URL": "http://u:p@host"}, "credentials"),
        ({"STASH_SENSE_PORT": "99999"}, "port"),
        ({"STASH_SENSE_CORS_ORIGINS": "*"}, "wildcards are not allowed"),
        ({"STASH_RATE_LIMIT": "fast"}, "stash_rate_limit"),
    ],
)
def test_bad_settings_are_clear_and_never_echo_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        load_settings(env={**env, "STASH_SENSE_API_KEY": "topsecret"})
    assert "topsecret" not in str(info.value)


def test_unknown_keys_in_a_settings_file_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "s.toml"
    bad.write_text("stash_urll = 'http://x'\n")
    with pytest.raises(SettingsError, match="unknown setting.*stash_urll"):
        load_settings(env={}, settings_file=bad)


# -- authentication ------------------------------------------------------------------------------


def test_health_is_public_and_everything_else_needs_the_key(bare: str) -> None:
    health = httpx.get(f"{bare}/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["face_db"]["available"] is False
    assert "no-facedb-here" not in health.text  # the public endpoint does not reveal paths
    for method, path in [("GET", "/capabilities"), ("GET", "/health/rate-limiter"), ("GET", "/database/info"),
                         ("POST", "/identify"), ("POST", "/identify/scene"), ("GET", "/recommendations/fingerprints/status"),
                         ("POST", "/recommendations/fingerprints/refresh-all?confirm=true"), ("GET", "/no/such/route")]:
        response = httpx.request(method, f"{bare}{path}")
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(f"{bare}/capabilities", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong API key"
    assert httpx.get(f"{bare}/capabilities", headers={"Authorization": f"Bearer {SIDECAR_KEY}"}).status_code == 200
    assert httpx.get(f"{bare}/capabilities", headers={"X-API-Key": SIDECAR_KEY}).status_code == 200


def test_openapi_documents_the_key_and_docs_are_served(bare: str) -> None:
    spec = httpx.get(f"{bare}/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    assert spec["paths"]["/capabilities"]["get"]["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/health"]["get"]
    identify_body = spec["paths"]["/identify"]["post"]["requestBody"]["content"]
    assert set(identify_body) == {"multipart/form-data", "application/json"}
    assert httpx.get(f"{bare}/docs").status_code == 200


def test_without_a_key_the_api_is_open_and_says_so(tmp_path: Path) -> None:
    with running_sidecar(sidecar_settings(tmp_path, None, api_key=None)) as (url, _):
        assert httpx.get(f"{url}/capabilities").status_code == 200
        assert "securitySchemes" not in httpx.get(f"{url}/openapi.json").json().get("components", {})


# -- CORS and headers ----------------------------------------------------------------------------


def test_cors_only_for_the_configured_origins(bare: str) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    ok = httpx.options(f"{bare}/identify", headers={"Origin": "http://stash.local:9999", **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://stash.local:9999"
    evil = httpx.options(f"{bare}/identify", headers={"Origin": "http://evil.example", **preflight})
    assert evil.status_code == 400 and "access-control-allow-origin" not in evil.headers
    simple = httpx.get(f"{bare}/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    assert simple.headers["x-content-type-options"] == "nosniff"


# -- limits and errors ---------------------------------------------------------------------------


def test_oversized_bodies_get_413_declared_or_streamed(bare: str) -> None:
    headers = {"X-API-Key": SIDECAR_KEY}
    big = b"\xff\xd8" + b"0" * (3 * 1024 * 1024)
    declared = httpx.post(f"{bare}/identify", headers=headers, files={"file": ("big.jpg", big, "image/jpeg")})
    assert declared.status_code == 413 and declared.json()["error"] == "payload_too_large"

    def chunks():
        for _ in range(40):
            yield b"x" * 100_000

    streamed = httpx.post(f"{bare}/identify", headers={**headers, "Content-Type": "application/json"}, content=chunks())
    assert streamed.status_code == 413
    b64 = httpx.post(f"{bare}/identify", headers=headers, json={"image_base64": "A" * 1_500_000})
    assert b64.status_code == 413  # within the body limit, but the decoded image is above 1 MB
    assert httpx.get(f"{bare}/health").status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json"),
        ({"content": b"raw", "headers": {"Content-Type": "text/plain"}}, 415, "unsupported_media_type"),
        ({"json": {}}, 422, "validation_error"),
        ({"json": {"image_url": "http://x/a.jpg", "image_base64": "AAAA"}}, 422, "validation_error"),
        ({"json": {"image_base64": "!!!notbase64"}}, 400, "invalid_base64"),
        ({"json": {"image_url": "file:///etc/passwd"}}, 400, "invalid_url"),
        ({"json": {"image_base64": "AAAA", "top_k": 0}}, 422, "validation_error"),
        ({"json": {"image_base64": "AAAA", "bogus": 1}}, 422, "validation_error"),
        ({"files": {"other": ("a.jpg", b"x")}}, 422, "validation_error"),
        ({"files": {"file": ("a.jpg", b"x")}, "data": {"top_k": "many"}}, 422, "validation_error"),
    ],
)
def test_bad_identify_requests_are_structured_4xx(bare: str, kwargs: dict, status: int, error: str) -> None:
    headers = {"X-API-Key": SIDECAR_KEY, **kwargs.pop("headers", {})}
    response = httpx.post(f"{bare}/identify", headers=headers, timeout=30, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text


def test_identify_without_a_face_db_is_503_with_retry_after(bare: str) -> None:
    response = httpx.post(f"{bare}/identify", headers={"X-API-Key": SIDECAR_KEY}, files={"file": ("a.jpg", b"\xff\xd8\xff\xe0junk")})
    assert response.status_code == 503 and response.json()["error"] == "no_face_db"
    assert int(response.headers["retry-after"]) > 0


def test_validation_errors_name_the_field_without_echoing_input(bare: str) -> None:
    with client(bare) as c:
        response = c.post("/identify/scene", json={"url": "http://x/v.mp4", "params": {"num_frames": 0, "nope": "leak-me-123"}})
    assert response.status_code == 422
    locs = [tuple(f["loc"]) for f in response.json()["fields"]]
    assert ("body", "params", "num_frames") in locs and ("body", "params", "nope") in locs
    assert "leak-me-123" not in response.text


def test_stash_features_without_stash_are_503(bare: str) -> None:
    with client(bare) as c:
        scene = c.post("/identify/scene", json={"scene_id": "1"})
        assert scene.status_code == 503 and scene.json()["error"] == "stash_not_configured"
        apply = c.post("/identify/scene/1/apply", json={"confirm": True, "performer_ids": ["1"]})
        assert apply.status_code == 503
        status = c.get("/recommendations/fingerprints/status").json()
        assert status["total_scenes"] is None and "STASH_URL" in status["stash_error"]
        assert c.post("/recommendations/fingerprints/generate", json={}).status_code == 503
        assert c.post("/recommendations/fingerprints/refresh-all").status_code == 400  # no confirm
        progress = c.get("/recommendations/fingerprints/progress").json()
        assert progress["status"] == "idle" and progress["job_id"] is None


def test_confirmation_is_required_for_mutations(bare: str) -> None:
    with client(bare) as c:
        refused = c.post("/identify/scene/1/apply", json={"confirm": False, "performer_ids": ["1"]})
        assert refused.status_code == 400 and refused.json()["error"] == "confirmation_required"
        assert c.post("/identify/scene/1/apply", json={"performer_ids": ["1"]}).status_code == 422
        assert c.post("/database/reload", json={"confirm": False}).json()["error"] == "confirmation_required"
        assert c.post("/identify/scene/abc/apply", json={"confirm": True, "performer_ids": ["1"]}).status_code == 422


def test_local_paths_are_refused_unless_allowed(bare: str, tmp_path: Path) -> None:
    with client(bare) as c:
        response = c.post("/identify/scene", json={"url": "/etc/passwd"})
        assert response.status_code == 400 and response.json()["error"] == "local_paths_disabled"
        response = c.post("/identify/scene", json={"url": "rtsp://cam/stream"})
        assert response.status_code == 400 and response.json()["error"] == "invalid_url"


def test_slow_request_bodies_time_out(tmp_path: Path) -> None:
    settings = sidecar_settings(tmp_path, None, body_timeout_s=0.5)
    with running_sidecar(settings) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /identify HTTP/1.1\r\nHost: x\r\nX-API-Key: " + SIDECAR_KEY.encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"image_base64\": "
            )
            # The head and the body may come in separate segments: read until the body is whole.
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        reply = data.decode()
        assert reply.startswith("HTTP/1.1 408") and "request_timeout" in reply, reply


def _content_length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    return next((int(line.split(":", 1)[1]) for line in head.split("\r\n") if line.startswith("content-length:")), 0)


# -- last-resort error handling --------------------------------------------------------------------


def test_unexpected_errors_are_a_plain_500_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope, receive, send):
        raise RuntimeError("secret-internal-detail")

    app = CatchAllErrors(broken)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    with caplog.at_level(logging.INFO, logger="stash_sense.api"):
        asyncio.run(app({"type": "http", "method": "GET", "path": "/x"}, receive, send))
    assert sent[0]["status"] == 500
    body = json.loads(sent[1]["body"])
    assert body == {"error": "internal_error", "detail": "the sidecar hit an unexpected error; see its log"}
    assert "RuntimeError" in caplog.text and "Traceback" not in caplog.text and "secret-internal-detail" not in caplog.text


# -- the work pool -------------------------------------------------------------------------------


def test_work_pool_bounds_concurrency_and_serves_the_most_urgent_first() -> None:
    async def scenario() -> tuple[int, list[str]]:
        pool = WorkPool(2, max_queue=10, queue_timeout_s=30)
        lock = threading.Lock()
        running = peak = 0
        order: list[str] = []
        gate = threading.Event()

        def job(name: str) -> str:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
                order.append(name)
            gate.wait(5) if name.startswith("block") else time.sleep(0.02)
            with lock:
                running -= 1
            return name

        blockers = [asyncio.create_task(pool.run(job, f"block{i}", priority=Priority.HIGH)) for i in range(2)]
        await asyncio.sleep(0.1)
        low = asyncio.create_task(pool.run(job, "low", priority=Priority.LOW))
        await asyncio.sleep(0.05)
        high = asyncio.create_task(pool.run(job, "high", priority=Priority.HIGH))
        await asyncio.sleep(0.05)
        assert pool.stats().queued == 2 and pool.stats().running == 2
        gate.set()
        results = await asyncio.gather(*blockers, low, high)
        assert sorted(results) == ["block0", "block1", "high", "low"]
        stats = pool.stats()
        assert stats.running == 0 and stats.queued == 0 and stats.completed == 4
        pool.shutdown()
        return peak, order

    peak, order = asyncio.run(scenario())
    assert peak == 2
    assert order.index("high") < order.index("low")


def test_work_pool_refuses_when_full_or_waiting_too_long() -> None:
    async def scenario() -> None:
        pool = WorkPool(1, max_queue=1, queue_timeout_s=0.3)
        gate = threading.Event()
        busy = asyncio.create_task(pool.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        waiting = asyncio.create_task(pool.run(lambda: "late"))
        await asyncio.sleep(0.05)
        with pytest.raises(ApiError) as full:
            await pool.run(lambda: "no room")
        assert full.value.status == 503 and full.value.headers["Retry-After"]
        with pytest.raises(ApiError) as slow:
            await waiting
        assert slow.value.status == 503 and "within 0.3 s" in slow.value.detail
        # A caller that gives up does not free the worker while its thread still runs.
        assert pool.stats().running == 1
        gate.set()
        assert await busy is True
        assert await pool.run(lambda: "after") == "after"
        assert pool.stats().running == 0 and pool.stats().rejected == 2
        pool.shutdown()

    asyncio.run(scenario())


def test_unreachable_stash_is_reported_not_fatal(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = sidecar_settings(tmp_path, None, stash_url=dead, fetch_timeout_s=2.0)
    with running_sidecar(settings) as (url, _), client(url) as c:
        started = time.monotonic()
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert time.monotonic() - started < 15
        assert health["status"] == "degraded" and health["stash"]["reachable"] is False
        assert dead not in json.dumps(health)  # the public endpoint does not reveal where Stash is
        caps = c.get("/capabilities").json()
        assert caps["stash"]["reachable"] is False and not caps["features"]["apply_to_stash"]
        apply = c.post("/identify/scene/1/apply", json={"confirm": True, "performer_ids": ["1"]})
        assert apply.status_code == 502 and apply.json()["error"] == "stash_unreachable"
        status = c.get("/recommendations/fingerprints/status").json()
        assert status["total_scenes"] is None and status["stash_error"]
