"""Seconds to identify a 60-frame scene, from a local file and over HTTP, per stage.

The HTTP case serves the same file from a loopback server with Range support (what Stash's
``/scene/{id}/stream`` does), so the difference between the two is the cost of streaming.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from ..media import VideoFrameSource
from ..recognition import Recognizer
from ..scenes.engine import SceneEngine
from ..scenes.params import SceneParams


class SceneSpeed(BaseModel):
    video: str
    width: int
    height: int
    duration_s: float
    num_frames: int
    runs: int
    seconds_local: float  # median over runs, models already loaded
    seconds_http: float
    seconds_cold: float  # first run in a fresh process: model loading and worker start-up
    stages: dict[str, dict[str, float]]  # "local"/"http" -> stage -> median seconds
    faces: int
    performers: list[str]
    peak_rss_mb: float


@contextlib.contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free loopback port (Range requests supported)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    app = Starlette(routes=[Mount("/", app=StaticFiles(directory=str(folder)))])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _rss_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_scene_speed(video: Path, db_dir: Path, *, runs: int = 3, num_frames: int = 60) -> SceneSpeed:
    engine = SceneEngine(Recognizer.open(db_dir))
    params = SceneParams(num_frames=num_frames)

    def run(spec: str) -> tuple[float, dict[str, float], int, list[str], tuple[int, int, float]]:
        start = time.perf_counter()
        with VideoFrameSource(spec, mode="fast") as source:
            result = engine.identify(source, params)
            shape = (source.width, source.height, source.duration)
        return time.perf_counter() - start, result.timings, result.totals.faces_after_filter, [p.name for p in result.performers], shape

    cold, _, faces, performers, (w, h, dur) = run(str(video))
    local = [run(str(video)) for _ in range(runs)]
    with serve_folder(video.parent) as base:
        http = [run(f"{base}/{video.name}") for _ in range(runs)]

    def stages(rows: list) -> dict[str, float]:
        keys = sorted({k for r in rows for k in r[1]})
        return {k: round(statistics.median(r[1].get(k, 0.0) for r in rows), 4) for k in keys}

    return SceneSpeed(
        video=str(video), width=w, height=h, duration_s=round(dur, 2), num_frames=num_frames, runs=runs,
        seconds_local=round(statistics.median(r[0] for r in local), 3),
        seconds_http=round(statistics.median(r[0] for r in http), 3),
        seconds_cold=round(cold, 3),
        stages={"local": stages(local), "http": stages(http)},
        faces=faces, performers=performers, peak_rss_mb=round(_rss_peak_mb(), 1),
    )
