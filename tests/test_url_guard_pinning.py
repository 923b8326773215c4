"""The URL guard without gaps: every connection goes to an address the guard resolved and checked
for it (no second DNS lookup a rebinding server could answer differently), and every redirect
hop, of an image fetch or of a scene video read, is checked the same way.

Real HTTP(S) servers on loopback; the only stand-in is the resolver, the DNS boundary: it maps
made-up names to 127.0.0.1 or to a public address, in whatever order a test needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from frames_helpers import cached_video, closed_port, expected_frame_number, read_frame_number, serve_files, silent_server
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

from stash_sense.api.errors import ApiError
from stash_sense.api.media import fetch_image_url
from stash_sense.api.url_guard import UrlGuard
from stash_sense.devtools.emulator import run_in_thread
from stash_sense.media import FrameSourceError, SpriteFrameSource, VideoFrameSource, open_frame_source

pytestmark = pytest.mark.timeout(180)

PUBLIC = "93.184.216.34"  # never connected to: every test refuses or pins to loopback first
TIMEOUT = 5.0
STREAM = "/scene/7/stream"


class Resolver:
    """Answers from a script: ``answers[name]`` is a list of answers, one per lookup (the last
    one repeats). Records every lookup."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        script = self.answers.get(host)
        if not script:
            raise OSError(f"{host}: no such name")
        return script[min(self.lookups.count(host), len(script)) - 1]


def _on(base: str, name: str) -> str:
    """``base`` (http://127.0.0.1:PORT) with the host replaced by ``name``."""
    return base.replace("127.0.0.1", name, 1)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_video(tmp_path_factory, "pinning.mp4", 320, 240, 6, gop=25)


def _redirector(target: str) -> Starlette:
    async def bounce(_request):  # noqa: ANN001
        return RedirectResponse(target, status_code=302)

    return Starlette(routes=[Route("/bounce", bounce), Route(STREAM, bounce)])


# --- DNS rebinding --------------------------------------------------------------------------


def test_rebinding_answer_is_refused_for_an_image(video: Path) -> None:
    """Public to the check, 127.0.0.1 to the connection: the connection is refused, nothing is sent."""
    with serve_files({"/image.jpg": video}) as (base, server):
        resolver = Resolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
        guard = UrlGuard(None, allow_private=False, resolver=resolver)
        url = _on(base, "rebind.example") + "/image.jpg"
        with pytest.raises(ApiError) as refused:
            asyncio.run(fetch_image_url(url, headers={}, max_bytes=1 << 20, timeout=TIMEOUT, guard=guard))
        assert refused.value.status == 400 and refused.value.error == "url_not_allowed"
        assert "127.0.0.1" in refused.value.detail and "STASH_SENSE_ALLOW_PRIVATE_URLS" in refused.value.detail
        assert resolver.lookups == ["rebind.example", "rebind.example"]  # the check, then the connection's own
        assert server.requests == []


def test_rebinding_answer_is_refused_for_a_scene_video(video: Path) -> None:
    with serve_files({STREAM: video}) as (base, server):
        resolver = Resolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
        guard = UrlGuard(None, allow_private=False, resolver=resolver)
        url = _on(base, "rebind.example") + STREAM
        asyncio.run(guard.check(url, "url"))  # what the route does first: passes, the answer was public
        with pytest.raises(ApiError) as refused:
            # "auto" with a screenshot to fall back on: a refusal is not a reason to try the next source.
            open_frame_source(url, screenshot=url, timeout=TIMEOUT, transport=guard.transport("scene media"))
        assert refused.value.status == 400 and refused.value.error == "url_not_allowed"
        assert server.requests == []


def test_one_private_address_among_the_answers_refuses_the_name(video: Path) -> None:
    with serve_files({STREAM: video}) as (base, server):
        guard = UrlGuard(None, allow_private=False, resolver=Resolver({"mixed.example": [[PUBLIC, "127.0.0.1"]]}))
        with pytest.raises(ApiError, match="url_not_allowed|private") as refused:
            VideoFrameSource(_on(base, "mixed.example") + STREAM, timeout=TIMEOUT, transport=guard.transport("url"))
        assert refused.value.error == "url_not_allowed"
        assert server.requests == []


def test_connections_go_to_the_checked_address_with_the_original_host(video: Path) -> None:
    """A name only the injected resolver knows: reaching the server at all proves the connection
    used the checked address; the server still sees the name in ``Host``."""
    with serve_files({STREAM: video}, api_key="k3y") as (base, server):
        resolver = Resolver({"media.example": [["127.0.0.1"]]})
        guard = UrlGuard(None, allow_private=True, resolver=resolver)
        url = _on(base, "media.example") + STREAM
        with VideoFrameSource(url, {"ApiKey": "k3y"}, TIMEOUT, transport=guard.transport("url")) as source:
            frames = source.sample(4)
        data = asyncio.run(fetch_image_url(url, headers={"ApiKey": "k3y"}, max_bytes=1 << 24, timeout=TIMEOUT, guard=guard))
        requests = server.media_requests(STREAM)
    assert [read_frame_number(f.image) for f in frames] == [expected_frame_number(f.timestamp) for f in frames]
    assert data == video.read_bytes()
    port = base.rsplit(":", 1)[1]
    assert requests and all(r.headers.get("Host") == f"media.example:{port}" and r.status in (200, 206) for r in requests)
    assert len(resolver.lookups) == len(requests)  # one lookup per connection attempt, each answer checked


# --- redirects ------------------------------------------------------------------------------


def test_scene_url_redirecting_to_a_private_address_is_refused(video: Path) -> None:
    """The configured Stash may be fetched; a redirect from it to another private host may not."""
    with serve_files({STREAM: video}) as (inner, inner_server), run_in_thread(_redirector(inner + STREAM)) as stash:
        guard = UrlGuard(stash, allow_private=False)
        asyncio.run(guard.check(stash + "/bounce", "url"))  # the Stash itself is allowed
        with pytest.raises(ApiError) as refused:
            VideoFrameSource(stash + "/bounce", {"ApiKey": "k"}, TIMEOUT, transport=guard.transport("scene media"))
        assert refused.value.status == 400 and refused.value.error == "url_not_allowed"
        assert inner in refused.value.detail
        assert inner_server.requests == []


def test_allowed_redirects_are_followed_and_keep_the_key_at_home(video: Path) -> None:
    with serve_files({STREAM: video}) as (inner, inner_server), run_in_thread(_redirector(inner + STREAM)) as stash:
        guard = UrlGuard(stash, allow_private=True)
        with VideoFrameSource(stash + STREAM, {"ApiKey": "secret"}, TIMEOUT, transport=guard.transport("url")) as source:
            frames = source.sample(3)
        requests = inner_server.media_requests(STREAM)
    assert len(frames) == 3 and requests
    assert all("ApiKey" not in r.headers for r in requests)  # Stash's key is not sent to another origin


def test_sprite_sheet_named_by_the_vtt_is_guarded_too(tmp_path: Path, video: Path) -> None:
    """The VTT (on the Stash) names a sheet on a private host: refused like a scene URL."""
    with serve_files({"/sheet.jpg": video}) as (inner, inner_server):
        vtt = tmp_path / "thumbs.vtt"
        vtt.write_text(f"WEBVTT\n\n00:00:00.000 --> 00:00:05.000\n{inner}/sheet.jpg#xywh=0,0,160,90\n")
        with serve_files({"/thumbs.vtt": vtt}) as (stash, _):
            guard = UrlGuard(stash, allow_private=False)
            with pytest.raises(ApiError) as refused:
                SpriteFrameSource(stash + "/thumbs.vtt", timeout=TIMEOUT, transport=guard.transport("scene media"))
            assert refused.value.error == "url_not_allowed"
        assert inner_server.requests == []


def test_unresolvable_hosts_are_connection_errors(video: Path) -> None:
    """A name that does not resolve fails like any connection failure (auto falls back as before)."""
    guard = UrlGuard(None, allow_private=False, resolver=Resolver({}))
    with pytest.raises(FrameSourceError, match="does not resolve"):
        VideoFrameSource("http://nowhere.example/v.mp4", timeout=TIMEOUT, transport=guard.transport("url"))
    with pytest.raises(ApiError) as failed:
        asyncio.run(fetch_image_url("http://nowhere.example/x.jpg", headers={}, max_bytes=1, timeout=TIMEOUT, guard=guard))
    assert failed.value.status == 422 and failed.value.error == "image_url_failed"


def test_guarded_video_reads_fail_as_clearly_as_ffmpeg_reads(video: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Through the transport, the video source keeps its messages and its front-to-back
    reading of servers without Range support."""
    guard = UrlGuard(None, allow_private=True)
    with serve_files({STREAM: video}, api_key="k3y") as (base, _):
        with pytest.raises(FrameSourceError, match="HTTP 401 .*check the API key"):
            VideoFrameSource(base + STREAM, timeout=TIMEOUT, transport=guard.transport("url"))
        with pytest.raises(FrameSourceError, match="HTTP 404"):
            VideoFrameSource(base + "/nope", {"ApiKey": "k3y"}, TIMEOUT, transport=guard.transport("url"))
    with pytest.raises(FrameSourceError, match="connection refused"):
        VideoFrameSource(f"http://127.0.0.1:{closed_port()}{STREAM}", timeout=TIMEOUT, transport=guard.transport("url"))
    with silent_server() as base, pytest.raises(FrameSourceError, match="timed out after 1 s"):
        VideoFrameSource(base + STREAM, timeout=1.0, transport=guard.transport("url"))
    streamable = cached_video(tmp_path_factory, "pinning-faststart.mp4", 320, 240, 6, gop=25, faststart=True)
    with serve_files({STREAM: streamable}, support_ranges=False) as (base, server):
        with VideoFrameSource(base + STREAM, timeout=TIMEOUT, transport=guard.transport("url")) as source:
            frames = source.sample(4)
        assert [r.status for r in server.media_requests(STREAM)] == [200]
    assert [read_frame_number(f.image) for f in frames] == [expected_frame_number(f.timestamp) for f in frames]


# --- TLS: SNI and certificate for the name, not the address ---------------------------------


@contextlib.contextmanager
def _tls_server(cert: Path, key: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTPS server on 127.0.0.1 that records the server name (SNI) of each handshake."""
    names: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = self.headers.get("Host", "").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name or "")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", names
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_https_keeps_the_name_for_sni_and_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "media.example")
    trust = ssl.create_default_context(cafile=str(cert))
    guard = UrlGuard(None, allow_private=True, resolver=Resolver({"media.example": [["127.0.0.1"]], "other.example": [["127.0.0.1"]]}))
    with _tls_server(cert, key) as (base, names):
        port = base.rsplit(":", 1)[1]
        with httpx.Client(transport=guard.transport("url", verify=trust), timeout=TIMEOUT, trust_env=False) as c:
            answer = c.get(f"https://media.example:{port}/x")
            assert answer.status_code == 200 and answer.text == f"media.example:{port}"
            assert names == ["media.example"]
            # The certificate is checked against the name asked for: another name on the same
            # address (and connection pool) fails verification instead of reusing the connection.
            with pytest.raises(httpx.ConnectError, match="certificate|hostname"):
                c.get(f"https://other.example:{port}/x")


# --- through the API ------------------------------------------------------------------------


def test_api_refuses_a_scene_url_that_redirects_to_a_private_address(
    tmp_path_factory: pytest.TempPathFactory, facedata: Path, video: Path
) -> None:
    """``POST /identify/scene``: the URL is the configured Stash's (allowed), its redirect is not;
    the same 400 ``url_not_allowed`` as a URL refused outright, and the private host sees nothing."""
    from api_helpers import api_assets, client, running_sidecar, sidecar_settings

    assets = api_assets(tmp_path_factory, facedata)
    with serve_files({STREAM: video}) as (inner, inner_server), run_in_thread(_redirector(inner + STREAM)) as stash:
        settings = sidecar_settings(tmp_path_factory.mktemp("pinning-sidecar"), assets.face_db, stash_url=stash)
        with running_sidecar(settings) as (url, _), client(url) as c:
            r = c.post("/identify/scene", json={"url": f"{stash}/bounce", "params": {"num_frames": 4}})
        assert r.status_code == 400 and r.json()["error"] == "url_not_allowed", r.text
        assert "STASH_SENSE_ALLOW_PRIVATE_URLS" in r.json()["detail"]
        assert inner_server.requests == []
