"""Frame sources over a real loopback HTTP server: Range requests, the ApiKey header, failures."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from frames_helpers import (
    cached_video,
    closed_port,
    expected_frame_number,
    make_sprite_pair,
    read_frame_number,
    serve_files,
    silent_server,
)
from PIL import Image

from stash_sense.media import (
    FrameSourceError,
    ImageFrameSource,
    SpriteFrameSource,
    VideoFrameSource,
    open_frame_source,
    redact_text,
    redact_url,
    sampling_timestamps,
)

KEY = "s3cret-api-key-0042"
AUTH = {"ApiKey": KEY}
STREAM = "/scene/7/stream"


@pytest.fixture(scope="module")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x240, 20 s, a keyframe a second, a noise patch: ~3 MB, so a sparse sample is a small part."""
    return cached_video(tmp_path_factory, "big.mp4", 320, 240, 20, gop=25, noise=96)


@pytest.fixture(scope="module")
def streamable_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Index first (faststart), readable front to back by a server without Range support."""
    return cached_video(tmp_path_factory, "streamable.mp4", 320, 240, 8, gop=25, faststart=True)


@pytest.fixture(scope="module")
def hd_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_video(tmp_path_factory, "hd.mp4", 1920, 1080, 10, gop=25)


@pytest.fixture(scope="module")
def sprite_pair(tmp_path_factory: pytest.TempPathFactory, streamable_video: Path) -> tuple[Path, Path]:
    return make_sprite_pair(streamable_video, tmp_path_factory.mktemp("sprites"), "f00d")


@pytest.fixture
def screenshot(tmp_path: Path) -> Path:
    path = tmp_path / "screenshot.jpg"
    Image.new("RGB", (320, 180), (30, 120, 200)).save(path, quality=95)
    return path


# --- video ----------------------------------------------------------------------------------


def test_sparse_sample_reads_a_small_part_with_range_requests(big_video: Path) -> None:
    size = big_video.stat().st_size
    with serve_files({STREAM: big_video}, api_key=KEY) as (base, server):
        with VideoFrameSource(base + STREAM, headers=AUTH) as source:
            frames = source.sample(3, 0.1, 0.9)
            assert KEY not in source.describe()
        requests = server.media_requests(STREAM)
        sent = server.bytes_sent(STREAM)
    assert len(frames) == 3
    for frame, t in zip(frames, sampling_timestamps(20.0, 3, 0.1, 0.9), strict=True):
        assert read_frame_number(frame.image) == expected_frame_number(t)
    assert all(r.headers.get("ApiKey") == KEY and r.status == 206 for r in requests)
    assert sum(1 for r in requests if r.range and r.range != "bytes=0-") >= 3  # one per seek
    assert sent < 0.4 * size, (sent, size)


def test_http_frames_equal_local_frames(big_video: Path) -> None:
    with VideoFrameSource(big_video) as local:
        expected = local.sample(15)
    with serve_files({STREAM: big_video}, api_key=KEY) as (base, _):
        with VideoFrameSource(base + STREAM, headers=AUTH) as remote:
            frames = remote.sample(15)
            assert (remote.width, remote.height) == (320, 240)
            assert remote.duration == pytest.approx(20.0, abs=0.05)
    assert [f.timestamp for f in frames] == [f.timestamp for f in expected]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, expected, strict=True))


def test_api_key_is_required_and_never_shown(big_video: Path) -> None:
    with serve_files({STREAM: big_video}, api_key=KEY) as (base, server):
        with pytest.raises(FrameSourceError, match="401") as missing:
            VideoFrameSource(base + STREAM)
        assert "check the API key" in str(missing.value)
        wrong = "wrong-key-9876"
        with pytest.raises(FrameSourceError, match="401") as bad:
            VideoFrameSource(f"{base}{STREAM}?apikey={wrong}", headers={"ApiKey": wrong})
        assert wrong not in str(bad.value) and "apikey=***" in str(bad.value) and "[ApiKey]" in str(bad.value)
        # Stash's fallback: the key as a query value, redacted in everything we print.
        with VideoFrameSource(f"{base}{STREAM}?apikey={KEY}") as source:
            assert len(source.sample(2)) == 2
            assert KEY not in source.describe() and "apikey=***" in source.describe()
        assert server.media_requests(STREAM)[0].status == 401
        with pytest.raises(FrameSourceError, match="404"):
            VideoFrameSource(base + "/scene/8/stream", headers=AUTH)


def test_header_injection_is_refused(big_video: Path) -> None:
    with pytest.raises(FrameSourceError, match="invalid HTTP header"):
        VideoFrameSource("http://127.0.0.1:9/x", headers={"ApiKey": "k\r\nX-Evil: 1"})


def test_unreachable_and_silent_servers_fail_fast_and_clearly() -> None:
    with pytest.raises(FrameSourceError, match="connection refused"):
        VideoFrameSource(f"http://127.0.0.1:{closed_port()}{STREAM}", headers=AUTH)
    with silent_server() as base:
        started = time.monotonic()
        with pytest.raises(FrameSourceError, match="timed out after 1 s"):
            VideoFrameSource(base + STREAM, headers=AUTH, timeout=1.0)
        assert time.monotonic() - started < 10


def test_server_without_range_support_is_read_front_to_back(streamable_video: Path) -> None:
    with serve_files({STREAM: streamable_video}, support_ranges=False) as (base, server):
        with VideoFrameSource(base + STREAM) as source:
            frames = source.sample(6)
        assert all(r.status == 200 for r in server.media_requests(STREAM))
    assert len(frames) == 6
    for frame, t in zip(frames, sampling_timestamps(8.0, 6), strict=True):
        assert read_frame_number(frame.image) == expected_frame_number(t)


def test_hd_sample_over_http(hd_video: Path, record_property) -> None:
    with serve_files({STREAM: hd_video}, api_key=KEY) as (base, server):
        started = time.perf_counter()
        with VideoFrameSource(base + STREAM, headers=AUTH, threads=1) as source:
            frames = source.sample(60)
            seeks = source.seeks
        elapsed = time.perf_counter() - started
        sent = server.bytes_sent(STREAM)
    record_property("hd_http_60_frames_s", round(elapsed, 3))
    print(f"1080p over HTTP: 60 frames in {elapsed:.3f} s, {seeks} seeks, {sent} of {hd_video.stat().st_size} bytes")
    assert len(frames) == 60
    for frame, t in zip(frames, sampling_timestamps(10.0, 60), strict=True):
        assert read_frame_number(frame.image) == expected_frame_number(t)
    assert elapsed < 20  # generous: this machine is shared; typical is well under 1 s


# --- sprites and screenshots ----------------------------------------------------------------


def test_sprite_over_http_resolves_the_sheet_next_to_the_vtt(sprite_pair: tuple[Path, Path]) -> None:
    image, vtt = sprite_pair
    files = {"/scene/f00d_thumbs.vtt": vtt, "/scene/f00d_sprite.jpg": image}
    with serve_files(files, api_key=KEY) as (base, server):
        with SpriteFrameSource(base + "/scene/f00d_thumbs.vtt", headers=AUTH) as source:
            frames = source.sample(81, 0.0, 1.0)
        assert [r.path for r in server.requests] == ["/scene/f00d_thumbs.vtt", "/scene/f00d_sprite.jpg"]
        # With the key in the VTT URL's query, the sheet request carries it too.
        server.requests.clear()
        with SpriteFrameSource(f"{base}/scene/f00d_thumbs.vtt?apikey={KEY}") as source:
            assert KEY not in source.describe()
        assert [r.status for r in server.requests] == [200, 200]
        assert server.requests[1].query == f"apikey={KEY}"
        with pytest.raises(FrameSourceError, match="401") as info:
            SpriteFrameSource(base + "/scene/f00d_thumbs.vtt")
        assert "check the API key" in str(info.value)
    assert len(frames) == 81 and frames[0].timestamp == 0.0
    for frame in frames:
        assert read_frame_number(frame.image) == expected_frame_number(frame.timestamp + 0.0005)


def test_screenshot_over_http(screenshot: Path) -> None:
    with serve_files({"/scene/7/screenshot": screenshot}, api_key=KEY) as (base, _):
        with ImageFrameSource(base + "/scene/7/screenshot", headers=AUTH) as source:
            (frame,) = source.sample(60)
        assert frame.image.shape == (180, 320, 3)
        assert np.abs(frame.image.astype(int) - (30, 120, 200)).max() <= 3
        with pytest.raises(FrameSourceError, match="HTTP 401"):
            ImageFrameSource(base + "/scene/7/screenshot")
    with pytest.raises(FrameSourceError, match="cannot connect"):
        ImageFrameSource(f"http://127.0.0.1:{closed_port()}/scene/7/screenshot")


# --- choosing a source ----------------------------------------------------------------------


def test_auto_falls_back_from_an_unreachable_stream_to_sprites(sprite_pair: tuple[Path, Path]) -> None:
    image, vtt = sprite_pair
    files = {"/scene/f00d_thumbs.vtt": vtt, "/scene/f00d_sprite.jpg": image}
    with serve_files(files, api_key=KEY) as (base, _):
        dead_stream = f"http://127.0.0.1:{closed_port()}{STREAM}"
        with open_frame_source(dead_stream, headers=AUTH, sprite_vtt=base + "/scene/f00d_thumbs.vtt") as source:
            assert isinstance(source, SpriteFrameSource)
            assert len(source.sample(10)) == 10


def test_auto_failure_lists_attempts_without_secrets(big_video: Path, screenshot: Path) -> None:
    wrong = "not-the-key-5555"
    files = {STREAM: big_video, "/scene/f00d_thumbs.vtt": screenshot, "/scene/7/screenshot": screenshot}
    with serve_files(files, api_key=KEY) as (base, _):
        with pytest.raises(FrameSourceError) as info:
            open_frame_source(
                f"{base}{STREAM}?apikey={wrong}",
                headers={"ApiKey": wrong},
                sprite_vtt=f"{base}/scene/f00d_thumbs.vtt?apikey={wrong}",
                screenshot=f"{base}/scene/7/screenshot?apikey={wrong}",
            )
    message = str(info.value)
    assert wrong not in message
    assert [a.split(" ", 1)[0] for a in info.value.attempts] == ["video", "sprite", "screenshot"]
    assert all("apikey=***" in attempt and ": HTTP 401" in attempt for attempt in info.value.attempts)


def test_redaction_helpers() -> None:
    assert redact_url("http://h:9999/scene/1/stream?apikey=abc&t=5") == "http://h:9999/scene/1/stream?apikey=***&t=5"
    assert redact_url("https://user:pw@h/x") == "https://user:***@h/x"
    assert redact_url("/local/path.mp4") == "/local/path.mp4"
    assert redact_text("GET http://h/x?ApiKey=abc failed") == "GET http://h/x?ApiKey=*** failed"
    assert redact_text("x?apikey=eyJh.bGc-i: HTTP 401") == "x?apikey=***: HTTP 401"  # the colon is not the key
    assert redact_text("apikey=a:b:c done") == "apikey=*** done"  # a colon inside the key is
