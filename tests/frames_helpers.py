"""Test helpers for the frame sources: self-describing test videos and a Range-capable HTTP server.

Every generated frame shows its own frame number as a row of black/white columns (bit k of
the number is column k, least significant bit on the left) over the top half, so a test can
read back which frame it was given, even from a 160-px JPEG sprite tile. The bottom half is a
flat colour that also changes with the number.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest

PATTERN_BITS = 11  # up to 2047 frames
FPS = 25


def encode_numbered_video(
    path: Path,
    width: int,
    height: int,
    seconds: float,
    *,
    fps: int = FPS,
    gop: int = FPS,
    bframes: int = 0,
    faststart: bool = False,
    noise: int = 0,
    container_format: str = "mp4",
    streamed: bool = False,
) -> Path:
    """Write an H.264 video whose frame ``i`` shows ``i`` (see module docstring).

    ``gop`` is the keyframe interval in frames; ``bframes`` > 0 adds B-frames (reordered
    presentation, non-reference frames); ``faststart`` puts the index (moov) first, as web
    servers' files usually have; ``noise`` > 0 adds a ``noise`` x ``noise`` random patch per
    frame to make the file large without making encoding slow. ``container_format`` is an
    FFmpeg muxer name ("mp4", "matroska", "mpegts"); ``streamed`` writes through a
    non-seekable pipe, as a live recorder would, so the muxer can store neither a duration
    nor a keyframe index.
    """
    count = round(seconds * fps)
    rng = np.random.default_rng(1234)
    options = {"movflags": "faststart"} if faststart else {}
    with contextlib.ExitStack() as stack:
        target: object = str(path)
        if streamed:
            target = _Unseekable(stack.enter_context(path.open("wb")))
        container = stack.enter_context(av.open(target, "w", format=container_format, options=options))
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        x264 = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
        x264.update({"preset": "veryfast", "bf": str(bframes)} if bframes else {"preset": "ultrafast"})
        stream.options = x264
        # Draw straight into a YUV 4:2:0 buffer: RGB conversion of 1080p frames would cost more
        # than encoding them.
        buffer = np.empty((height * 3 // 2, width), np.uint8)
        luma = buffer[:height]
        # yuv420p chroma planes, each (height/2) x (width/2), stored one after the other.
        u_plane = buffer[height : height + height // 4].reshape(height // 2, width // 2)
        v_plane = buffer[height + height // 4 :].reshape(height // 2, width // 2)
        column = width // PATTERN_BITS
        for i in range(count):
            for bit in range(PATTERN_BITS):
                luma[: height // 2, bit * column : (bit + 1) * column] = 235 if (i >> bit) & 1 else 16
            luma[: height // 2, PATTERN_BITS * column :] = 16
            luma[height // 2 :] = 40 + (i * 37) % 180
            u_plane[: height // 4] = v_plane[: height // 4] = 128  # neutral top half
            u_plane[height // 4 :] = 64 + (i * 53) % 128  # a colour per frame in the bottom half
            v_plane[height // 4 :] = 64 + (i * 29) % 128
            if noise:
                luma[height - noise :, width - noise :] = rng.integers(0, 256, (noise, noise), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class _Unseekable(io.RawIOBase):
    """A write-only file that refuses to seek, like a pipe."""

    def __init__(self, raw: io.BufferedWriter) -> None:
        self._raw = raw

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:  # type: ignore[no-untyped-def]
        return self._raw.write(data)


def read_frame_number(image: np.ndarray) -> int:
    """The frame number drawn by :func:`encode_numbered_video`, read from an RGB image of any size."""
    height, width = image.shape[:2]
    column = width / PATTERN_BITS
    band = image[height // 8 : 3 * height // 8]
    number = 0
    for bit in range(PATTERN_BITS):
        # Sample the middle of each column, away from edges blurred by scaling or JPEG.
        x0, x1 = int(bit * column + column * 0.3), int((bit + 1) * column - column * 0.3)
        if band[:, x0 : max(x1, x0 + 1)].mean() > 128:
            number |= 1 << bit
    return number


def expected_frame_number(seconds: float, fps: int = FPS) -> int:
    """Index of the frame shown at ``seconds`` (frames start at 0 s, one every 1/fps)."""
    return int(np.floor(seconds * fps + 1e-6))


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class RequestRecord:
    path: str
    query: str
    range: str | None
    status: int
    headers: dict[str, str]
    bytes_sent: int = 0


@dataclass
class ServerState:
    files: dict[str, Path]
    api_key: str | None
    support_ranges: bool = True
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bytes_sent(self, path: str | None = None) -> int:
        with self.lock:
            return sum(r.bytes_sent for r in self.requests if path is None or r.path == path)

    def media_requests(self, path: str) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: ServerState  # set on the per-server subclass

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        record = RequestRecord(path, query, self.headers.get("Range"), status=0, headers=dict(self.headers))
        with self.state.lock:
            self.state.requests.append(record)
        key = self.state.api_key
        query_key = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("apikey")
        if key is not None and self.headers.get("ApiKey") != key and query_key != key:
            return self._reply_empty(record, 401, "Unauthorized")
        file = self.state.files.get(path)
        if file is None:
            return self._reply_empty(record, 404, "Not Found")
        size = file.stat().st_size
        start, end = 0, size - 1
        status = 200
        if record.range and self.state.support_ranges:
            match = _RANGE.match(record.range.strip())
            if not match or (not match[1] and not match[2]):
                return self._reply_empty(record, 416, "Range Not Satisfiable", size)
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:  # suffix range: the last N bytes
                start = max(0, size - int(match[2]))
            if start >= size or start > end:
                return self._reply_empty(record, 416, "Range Not Satisfiable", size)
            status = 206
        record.status = status
        self.send_response(status)
        if self.state.support_ranges:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        # A small send buffer keeps what the kernel accepts, but the client never reads, small:
        # the byte count then measures what the client actually pulled.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)
        with file.open("rb") as handle:
            handle.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = handle.read(min(16 * 1024, left))
                    self.wfile.write(chunk)
                    with self.state.lock:
                        record.bytes_sent += len(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client closed it to seek elsewhere

    def _reply_empty(self, record: RequestRecord, status: int, reason: str, size: int | None = None) -> None:
        record.status = status
        self.send_response(status, reason)
        if size is not None:
            self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def serve_files(
    files: dict[str, Path], api_key: str | None = None, *, support_ranges: bool = True
) -> Iterator[tuple[str, ServerState]]:
    """Serve ``files`` (URL path -> file) on 127.0.0.1; yields the base URL and the request log.

    With ``api_key``, requests need the ``ApiKey`` header or an ``apikey`` query value (401
    otherwise), as Stash's media routes do.
    """
    state = ServerState(files=dict(files), api_key=api_key, support_ranges=support_ranges)
    handler = type("Handler", (_Handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="frames-test-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def silent_server() -> Iterator[str]:
    """A TCP listener that accepts connections and never answers (for timeout tests)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_VIDEO_CACHE: dict[tuple, Path] = {}


def cached_video(factory: pytest.TempPathFactory, name: str, *args: object, **kwargs: object) -> Path:
    """:func:`encode_numbered_video` once per test session, shared by every test module."""
    key = (name, args, tuple(sorted(kwargs.items())))
    if key not in _VIDEO_CACHE or not _VIDEO_CACHE[key].exists():
        folder = factory.mktemp("frames-video")
        _VIDEO_CACHE[key] = encode_numbered_video(folder / name, *args, **kwargs)  # type: ignore[arg-type]
    return _VIDEO_CACHE[key]


def make_sprite_pair(video: Path, folder: Path, scene_hash: str) -> tuple[Path, Path]:
    """Stash-named sprite sheet and VTT (``<hash>_sprite.jpg``, ``<hash>_thumbs.vtt``) for ``video``."""
    from stash_sense.media import make_sprite_sheet

    sheet = make_sprite_sheet(video, folder / f"{scene_hash}_sprite.jpg", folder / f"{scene_hash}_thumbs.vtt")
    return sheet.image_path, sheet.vtt_path


def truncate_copy(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src`` to ``dst`` (an interrupted download)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def file_size(path: Path) -> int:
    return os.path.getsize(path)
