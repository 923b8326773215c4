"""Encoding a planned scene to an H.264 MP4 with PyAV.

x264 runs single-threaded so the same plan always yields the same bytes, and each scene is
written under a temporary name and renamed when complete, so an interrupted render never
leaves a truncated file that a resumed render would count as done.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from stash_sense.devtools.samplelib.compose import ShotRenderer
from stash_sense.devtools.samplelib.plan import ScenePlan

PARTIAL_SUFFIX = ".partial"


def partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}{PARTIAL_SUFFIX}")


def render_scene(plan: ScenePlan, root: Path) -> Path:
    """Render ``plan`` to ``root / plan.file``; returns the finished file."""
    target = root / plan.file
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(target)
    # Scenes render one per process; OpenCV's own threads would only add scheduling-dependent
    # work splitting, so every scene is composed the same way in or out of a worker pool.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        _encode(plan, root, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        cv2.setNumThreads(threads)
    return target


def yuv_frame(bgr: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame of ``bgr`` whose row padding is filled too.

    x264 reads a little past the visible width when a width is not a multiple of 16 (854 px at
    480p); left uninitialised, those bytes make the output differ from run to run.
    """
    height, width = bgr.shape[:2]
    # OpenCV's I420 conversion is BT.601 limited range, what x264 assumes by default.
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    quarter = height // 4
    planes = (
        i420[:height],
        i420[height : height + quarter].reshape(height // 2, width // 2),
        i420[height + quarter :].reshape(height // 2, width // 2),
    )
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes):
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        visible = data.shape[1]
        rows[:, :visible] = data
        rows[:, visible:] = data[:, -1:]  # repeat the edge, as x264 pads internally
    return frame


def _encode(plan: ScenePlan, root: Path, path: Path) -> None:
    # faststart puts the index first so players (and Stash) can seek over HTTP range requests.
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=plan.fps)
        stream.width = plan.width
        stream.height = plan.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, plan.fps)
        context = stream.codec_context
        context.thread_count = 1  # deterministic output
        context.gop_size = plan.gop
        options = {"crf": str(plan.crf), "preset": plan.preset}
        if plan.x264_params:
            options["x264-params"] = plan.x264_params
        stream.options = options
        for shot in plan.shots:
            renderer = ShotRenderer(shot, root, plan.width, plan.height)
            for index in range(shot.start_frame, shot.end_frame):
                frame = yuv_frame(renderer.frame(index))
                frame.pts = index
                frame.time_base = Fraction(1, plan.fps)
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
